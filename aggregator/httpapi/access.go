package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/hooktail/hooktail/aggregator"
)

// detailForbidden is the 403 body of routes restricted to trusted networks.
const detailForbidden = "Access denied: this endpoint is restricted to trusted networks"

// Role is what an API key may do (SPEC §5.5).
type Role string

// The roles of an API key.
const (
	// RoleOwner reads and exports.
	RoleOwner Role = "owner"
	// RoleViewer only reads.
	RoleViewer Role = "viewer"
)

// AllEndpoints in APIKey.Endpoints lets a key see every endpoint.
const AllEndpoints = "*"

// APIKey is one api_key block: a bearer token, known by its SHA-256
// digest only, with its role and the endpoints (source names) it may see.
type APIKey struct {
	// Name identifies the key in logs; never sent to clients.
	Name string
	// TokenSHA256 is the SHA-256 digest of the token.
	TokenSHA256 [sha256.Size]byte
	// Role is RoleOwner or RoleViewer.
	Role Role
	// Endpoints are the source names the key may see; AllEndpoints is all.
	Endpoints []string
}

// Principal is who a request is served for: an API key, or, when no keys
// are configured, a client on a trusted network (which may see and do
// everything). Handlers get it with PrincipalFrom.
type Principal struct {
	name      string
	owner     bool
	all       bool
	endpoints []string
}

// Name is the API key's name, or "" for a trusted-network client without
// a key.
func (p Principal) Name() string { return p.name }

// Owner reports whether the principal may export (SPEC §5.4).
func (p Principal) Owner() bool { return p.owner }

// CanSee reports whether the principal may see the entries and deliveries
// of the source (endpoint) named service.
func (p Principal) CanSee(service string) bool {
	return p.all || slices.Contains(p.endpoints, service)
}

// Services returns the source names the principal may see, sorted, and
// all=true when it may see every source (the list is then nil).
func (p Principal) Services() (services []string, all bool) {
	if p.all {
		return nil, true
	}
	return slices.Clone(p.endpoints), false
}

// scope is the Services value of a store filter for p, and none=true when
// p may see nothing at all (a filter cannot say that: nil means all).
func (p Principal) scope() (services []string, none bool) {
	if p.all {
		return nil, false
	}
	return p.endpoints, len(p.endpoints) == 0
}

type principalKey struct{}

// PrincipalFrom returns the principal the access check admitted the request
// for; false for a request that went through no access check (health
// probes, or a handler called outside this package's router).
func PrincipalFrom(r *http.Request) (Principal, bool) {
	p, ok := r.Context().Value(principalKey{}).(Principal)
	return p, ok
}

// withPrincipal returns r carrying p.
func withPrincipal(r *http.Request, p Principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// networkPrincipal is the principal of a trusted-network client when no
// API keys are configured.
var networkPrincipal = Principal{owner: true, all: true}

// accessPolicy decides who a request comes from (SPEC §5.5).
type accessPolicy struct {
	networks []netip.Prefix
	proxies  []netip.Prefix
	keys     []APIKey
}

func newAccessPolicy(networks, proxies []netip.Prefix, keys []APIKey) (accessPolicy, error) {
	if err := validPrefixes(networks); err != nil {
		return accessPolicy{}, fmt.Errorf("trusted networks: %w", err)
	}
	if err := validPrefixes(proxies); err != nil {
		return accessPolicy{}, fmt.Errorf("trusted proxies: %w", err)
	}
	keys, err := validKeys(keys)
	if err != nil {
		return accessPolicy{}, err
	}
	return accessPolicy{networks: slices.Clone(networks), proxies: slices.Clone(proxies), keys: keys}, nil
}

func validPrefixes(in []netip.Prefix) error {
	for _, p := range in {
		if !p.IsValid() {
			return fmt.Errorf("invalid prefix %q", p.String())
		}
	}
	return nil
}

// validKeys checks and copies keys: a known role, no duplicate digest.
func validKeys(in []APIKey) ([]APIKey, error) {
	out := make([]APIKey, 0, len(in))
	seen := map[[sha256.Size]byte]string{}
	for _, k := range in {
		if k.Role != RoleOwner && k.Role != RoleViewer {
			return nil, fmt.Errorf("api key %q: invalid role %q", k.Name, k.Role)
		}
		if prev, dup := seen[k.TokenSHA256]; dup {
			return nil, fmt.Errorf("api key %q: same token as api key %q", k.Name, prev)
		}
		seen[k.TokenSHA256] = k.Name
		k.Endpoints = slices.Clone(k.Endpoints)
		out = append(out, k)
	}
	return out, nil
}

// family is a route family: it decides the shape of error bodies.
type family int

const (
	// familyViewer is the webhook-server log viewer: {"detail": …}.
	familyViewer family = iota
	// familyLogs is the generic /logs API: {"status":"error","message":…}.
	familyLogs
	// familyAPI is /api/*: {"error": …}.
	familyAPI
)

// Error messages of the access check, per family.
const (
	detailUnauthorized  = "Not authenticated: a valid API key is required (Authorization: Bearer <token>)"
	logsUnauthorized    = "Authentication required. Please provide a valid API key or token."
	logsForbidden       = "You do not have permission to access API logs."
	apiUnauthorized     = "Missing or invalid Authorization header"
	apiForbiddenNetwork = "Access denied: this endpoint is restricted to trusted networks"
	apiForbiddenOwner   = "Forbidden: exports need an owner API key"
	detailForbiddenKeys = "Access denied: this endpoint is restricted to trusted networks and needs a valid API key"
)

// writeError writes msg in the family's error shape.
func writeError(w http.ResponseWriter, fam family, status int, msg string) {
	switch fam {
	case familyLogs:
		writeJSON(w, status, logsError{Status: "error", Message: msg})
	case familyAPI:
		writeJSON(w, status, apiError{Error: msg})
	default:
		writeDetail(w, status, msg)
	}
}

// logsError is the generic logs API's error envelope (seed 003).
type logsError struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// apiError is the deliveries and exports APIs' error body (seed 002).
type apiError struct {
	Error string `json:"error"`
}

// guard describes the access rule of a route.
type guard struct {
	fam family
	// alwaysTrusted requires a trusted network even with API keys
	// (step-logs).
	alwaysTrusted bool
	// owner requires an owner key when keys are configured (exports).
	owner bool
}

// protect wraps h with the route's access rule (SPEC §5.5). Without API
// keys only trusted networks pass; with keys a valid bearer token is
// needed whatever the network. The admitted principal is put in the
// request's context (PrincipalFrom). Nothing about the request, not even
// its validation, is answered before the check passes.
func (s *Server) protect(g guard, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pol := s.access.Load()
		if len(pol.keys) == 0 {
			if !pol.trusted(r) {
				writeError(w, g.fam, http.StatusForbidden, forbiddenMessage(g.fam, false))
				return
			}
			h(w, withPrincipal(r, networkPrincipal))
			return
		}
		if g.alwaysTrusted && !pol.trusted(r) {
			writeError(w, g.fam, http.StatusForbidden, forbiddenMessage(g.fam, true))
			return
		}
		key, ok := pol.authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hooktail"`)
			writeError(w, g.fam, http.StatusUnauthorized, unauthorizedMessage(g.fam))
			return
		}
		if g.owner && key.Role != RoleOwner {
			writeError(w, g.fam, http.StatusForbidden, apiForbiddenOwner)
			return
		}
		h(w, withPrincipal(r, principalOf(key)))
	}
}

// trustedOnly admits trusted networks only, whatever the keys (/metrics).
func (s *Server) trustedOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.access.Load().trusted(r) {
			writeDetail(w, http.StatusForbidden, detailForbidden)
			return
		}
		h(w, r)
	}
}

func forbiddenMessage(fam family, withKeys bool) string {
	switch fam {
	case familyLogs:
		return logsForbidden
	case familyAPI:
		return apiForbiddenNetwork
	}
	if withKeys {
		return detailForbiddenKeys
	}
	return detailForbidden
}

func unauthorizedMessage(fam family) string {
	switch fam {
	case familyLogs:
		return logsUnauthorized
	case familyAPI:
		return apiUnauthorized
	}
	return detailUnauthorized
}

func principalOf(k *APIKey) Principal {
	p := Principal{name: k.Name, owner: k.Role == RoleOwner}
	if slices.Contains(k.Endpoints, AllEndpoints) {
		p.all = true
		return p
	}
	p.endpoints = slices.Clone(k.Endpoints)
	slices.Sort(p.endpoints)
	p.endpoints = slices.Compact(p.endpoints)
	return p
}

// errNoBearer is a missing or malformed Authorization header.
var errNoBearer = errors.New("no bearer token")

// bearerToken extracts the token of "Authorization: Bearer <token>" (the
// scheme is case-insensitive).
func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errNoBearer
	}
	if tok = strings.TrimSpace(tok); tok == "" {
		return "", errNoBearer
	}
	return tok, nil
}

// authenticate finds the key of the request's bearer token. The presented
// token is hashed and compared with every key's digest in constant time;
// all keys are compared, so the time does not tell which one matched.
func (a *accessPolicy) authenticate(r *http.Request) (*APIKey, bool) {
	tok, err := bearerToken(r)
	if err != nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(tok))
	var found *APIKey
	for i := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], a.keys[i].TokenSHA256[:]) == 1 {
			found = &a.keys[i]
		}
	}
	return found, found != nil
}

// trusted reports whether the request's client address is in a trusted
// network. An address that cannot be determined is not trusted.
func (a *accessPolicy) trusted(r *http.Request) bool {
	addr, ok := a.clientAddr(r)
	return ok && aggregator.Trusted(addr, a.networks)
}

// clientAddr is the peer's address, or, when the peer is a trusted proxy,
// the X-Forwarded-For hop just before the first trusted proxy (the first
// hop from the right that is not a trusted proxy; the leftmost hop if all
// are). An unparseable hop on that walk makes the address unknown.
func (a *accessPolicy) clientAddr(r *http.Request) (netip.Addr, bool) {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !aggregator.Trusted(peer, a.proxies) {
		return peer, true
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for h := range strings.SplitSeq(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	if len(hops) == 0 {
		return peer, true
	}
	var addr netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		if addr, ok = parseHost(hops[i]); !ok {
			return netip.Addr{}, false
		}
		if !aggregator.Trusted(addr, a.proxies) {
			return addr, true
		}
	}
	return addr, true
}

// parseHost parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port", dropping any
// zone and unmapping IPv4-mapped IPv6.
func parseHost(s string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		switch {
		case err2 == nil:
			addr = ap.Addr()
		case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
			if addr, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return netip.Addr{}, false
			}
		default:
			return netip.Addr{}, false
		}
	}
	return addr.WithZone("").Unmap(), true
}
