package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/hooktail/hooktail/aggregator"
)

// detailForbidden is the 403 body of routes restricted to trusted networks.
const detailForbidden = "Access denied: this endpoint is restricted to trusted networks"

// accessPolicy decides whether a request comes from a trusted network
// (SPEC §5.5).
type accessPolicy struct {
	networks []netip.Prefix
	proxies  []netip.Prefix
}

func newAccessPolicy(networks, proxies []netip.Prefix) (accessPolicy, error) {
	if err := validPrefixes(networks); err != nil {
		return accessPolicy{}, fmt.Errorf("trusted networks: %w", err)
	}
	if err := validPrefixes(proxies); err != nil {
		return accessPolicy{}, fmt.Errorf("trusted proxies: %w", err)
	}
	return accessPolicy{networks: slices.Clone(networks), proxies: slices.Clone(proxies)}, nil
}

func validPrefixes(in []netip.Prefix) error {
	for _, p := range in {
		if !p.IsValid() {
			return fmt.Errorf("invalid prefix %q", p.String())
		}
	}
	return nil
}

// trustedOnly answers 403 (upstream's {"detail": …}) to a request from
// outside the trusted networks, before h sees it, so that nothing about
// the request (not even its validation) is answered to an outsider.
func (s *Server) trustedOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.access.Load().trusted(r) {
			writeDetail(w, http.StatusForbidden, detailForbidden)
			return
		}
		h(w, r)
	}
}

// trusted reports whether the request's client address is in a trusted
// network. An address that cannot be determined is not trusted.
func (a accessPolicy) trusted(r *http.Request) bool {
	addr, ok := a.clientAddr(r)
	return ok && aggregator.Trusted(addr, a.networks)
}

// clientAddr is the peer's address, or, when the peer is a trusted proxy,
// the X-Forwarded-For hop just before the first trusted proxy (the first
// hop from the right that is not a trusted proxy; the leftmost hop if all
// are). An unparseable hop on that walk makes the address unknown.
func (a accessPolicy) clientAddr(r *http.Request) (netip.Addr, bool) {
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
