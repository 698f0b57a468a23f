package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Aggregator defaults (SPEC §3).
const (
	DefaultAggregatorDataDir = "/var/lib/hooktail"
	DefaultHTTPListen        = "127.0.0.1:7401"
	DefaultGRPCListen        = "127.0.0.1:7400"
	DefaultRetention         = 720 * time.Hour
	DefaultDeliveryTimeout   = 15 * time.Minute
	DefaultExportTTL         = 24 * time.Hour
)

// DefaultTrustedNetworks returns the default trusted_networks (SPEC §3):
// loopback, private and link-local ranges. Each call returns a new slice.
func DefaultTrustedNetworks() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("fe80::/10"),
	}
}

// Aggregator is the configuration of hooktail-aggregator, with defaults
// applied.
type Aggregator struct {
	// DataDir holds the SQLite database and export files; absolute.
	DataDir string
	// Listen is the listen block, or its defaults when absent.
	Listen Listen
	// IngestTokens are the accepted ingest bearer tokens; empty strings are
	// dropped with a warning. None: ingest only from TrustedNetworks.
	IngestTokens []string
	// Retention is how long entries are kept; zero keeps them forever.
	Retention time.Duration
	// MaxDBBytes caps the database size; zero means no cap.
	MaxDBBytes int64
	// DeliveryTimeout turns a delivery without completion into timeout (> 0).
	DeliveryTimeout time.Duration
	// ExportTTL is how long export files are kept (> 0).
	ExportTTL time.Duration
	// TrustedNetworks are masked prefixes; DefaultTrustedNetworks when
	// unset. A bare address is a single-host prefix.
	TrustedNetworks []netip.Prefix
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// APIKeys are the api_key blocks in declaration order.
	APIKeys []APIKey
	// Files are the configuration files read, in load order.
	Files []string
}

// Listen is the aggregator's listen block.
type Listen struct {
	// HTTP is the host:port of the HTTP APIs.
	HTTP string
	// GRPC is the host:port of the ingest service.
	GRPC string
	// TLS is nil when the tls block is absent; it applies to both.
	TLS       *ServerTLS
	DeclRange hcl.Range
	// HTTPRange and GRPCRange are the arguments' ranges, else DeclRange.
	HTTPRange hcl.Range
	GRPCRange hcl.Range
}

// ServerTLS is the tls block of the listen block; file paths are absolute.
type ServerTLS struct {
	CertFile  string
	KeyFile   string
	DeclRange hcl.Range
}

// Role is what an API key may do.
type Role string

// The values of role.
const (
	RoleOwner  Role = "owner"  // read and export
	RoleViewer Role = "viewer" // read only
)

// APIKey is one api_key "NAME" block.
type APIKey struct {
	// Name is the block label.
	Name string
	// Token is the clear token when token was set, "" when token_sha256
	// was used.
	Token string
	// TokenSHA256 is the SHA-256 of the token: computed from Token, or
	// decoded from token_sha256. Compare presented tokens by their digest.
	TokenSHA256 [sha256.Size]byte
	// Role is RoleViewer unless set.
	Role Role
	// Endpoints are the source names this key may see; "*" is all.
	Endpoints []string
	DeclRange hcl.Range
}

func aggregatorLayout() layout {
	return layout{
		schema: &hcl.BodySchema{
			Attributes: []hcl.AttributeSchema{
				{Name: "data_dir"}, {Name: "ingest_tokens"}, {Name: "retention"},
				{Name: "max_db_bytes"}, {Name: "delivery_timeout"}, {Name: "export_ttl"},
				{Name: "trusted_networks"}, {Name: "trusted_proxies"},
			},
			Blocks: []hcl.BlockHeaderSchema{
				{Type: "listen"},
				{Type: "api_key", LabelNames: []string{"name"}},
			},
		},
		singletons: []string{"listen"},
	}
}

// LoadAggregator loads the aggregator configuration at path: an .hcl file,
// or a directory whose *.hcl files are merged in name order. An empty file
// is valid (every default applies). It returns every diagnostic found; the
// Aggregator is nil when any of them is an error.
func (l *Loader) LoadAggregator(path string) (*Aggregator, hcl.Diagnostics) {
	m, diags := l.load(path, aggregatorLayout())
	if m == nil {
		return nil, diags
	}
	d := newDecoder(l.lookupEnv())
	a := &Aggregator{
		DataDir:         DefaultAggregatorDataDir,
		Retention:       DefaultRetention,
		DeliveryTimeout: DefaultDeliveryTimeout,
		ExportTTL:       DefaultExportTTL,
		TrustedNetworks: DefaultTrustedNetworks(),
		Files:           m.files,
	}
	attrs := m.attrs
	if d.nonEmptyStr(attrs, "data_dir", &a.DataDir) == set {
		a.DataDir = resolveAt(attrs["data_dir"].Range, a.DataDir)
	}
	a.Listen = d.listen(firstBlock(m.blocks, "listen"))

	tokens, _ := d.strList(attrs, "ingest_tokens")
	for _, it := range tokens {
		if it.Value == "" {
			d.warnf(it.Range, "Empty ingest token ignored",
				"An empty ingest token accepts nothing; it is ignored.")
			continue
		}
		a.IngestTokens = append(a.IngestTokens, it.Value)
	}
	d.duration(attrs, "retention", false, &a.Retention)
	d.integer(attrs, "max_db_bytes", 0, &a.MaxDBBytes)
	d.duration(attrs, "delivery_timeout", true, &a.DeliveryTimeout)
	d.duration(attrs, "export_ttl", true, &a.ExportTTL)
	if nets, st := d.prefixes(attrs, "trusted_networks"); st == set {
		a.TrustedNetworks = nets
	}
	a.TrustedProxies, _ = d.prefixes(attrs, "trusted_proxies")

	digests := map[[sha256.Size]byte]*hcl.Block{}
	for _, b := range uniqueLabelled(m.blocks, "api_key") {
		k, ok := d.apiKey(b)
		if !ok {
			continue
		}
		if prev, dup := digests[k.TokenSHA256]; dup {
			d.errorf(b.DefRange, "Duplicate API key token",
				"api_key %q has the same token as the api_key declared at %s.", k.Name, posString(prev.DefRange))
			continue
		}
		digests[k.TokenSHA256] = b
		a.APIKeys = append(a.APIKeys, k)
	}

	diags = append(diags, d.diags...)
	sortDiagnostics(diags, m.files)
	if diags.HasErrors() {
		return nil, diags
	}
	return a, diags
}

func (d *decoder) listen(b *hcl.Block) Listen {
	l := Listen{HTTP: DefaultHTTPListen, GRPC: DefaultGRPCListen}
	if b == nil {
		return l
	}
	l.DeclRange = b.DefRange
	body := d.content(b, &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "http"}, {Name: "grpc"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "tls"}},
	}, "tls")
	attrs := body.Attributes
	l.HTTPRange = rangeOf(attrs, "http", b.DefRange)
	l.GRPCRange = rangeOf(attrs, "grpc", b.DefRange)
	d.address(attrs, "http", &l.HTTP)
	d.address(attrs, "grpc", &l.GRPC)
	if tb := firstBlock(body.Blocks, "tls"); tb != nil {
		t := &ServerTLS{DeclRange: tb.DefRange}
		tattrs := d.content(tb, &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
			{Name: "cert_file", Required: true}, {Name: "key_file", Required: true},
		}}).Attributes
		for name, dst := range map[string]*string{"cert_file": &t.CertFile, "key_file": &t.KeyFile} {
			switch d.nonEmptyStr(tattrs, name, dst) {
			case set:
				*dst = resolveAt(tattrs[name].Range, *dst)
			case unset:
				if attr, ok := tattrs[name]; ok {
					d.errorf(attr.Expr.Range(), "Invalid value", "The argument %q must not be null.", name)
				}
			}
		}
		l.TLS = t
	}
	return l
}

// prefixes decodes a list of CIDR prefixes (or bare addresses).
func (d *decoder) prefixes(attrs hcl.Attributes, name string) ([]netip.Prefix, state) {
	list, st := d.strList(attrs, name)
	if st != set {
		return nil, st
	}
	out := make([]netip.Prefix, 0, len(list))
	for _, it := range list {
		p, err := parsePrefix(it.Value)
		if err != nil {
			d.errorf(it.Range, "Invalid CIDR", "invalid CIDR %q in %s: %v", it.Value, name, err)
			st = invalid
			continue
		}
		out = append(out, p)
	}
	return out, st
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	} else if addr, aerr := netip.ParseAddr(s); aerr == nil {
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	} else {
		return netip.Prefix{}, err
	}
}

func (d *decoder) apiKey(b *hcl.Block) (APIKey, bool) {
	k := APIKey{Name: b.Labels[0], Role: RoleViewer, Endpoints: []string{"*"}, DeclRange: b.DefRange}
	attrs := d.content(b, attrsSchema("token", "token_sha256", "role", "endpoints")).Attributes
	before := len(d.diags)

	var digest string
	tokSt := d.str(attrs, "token", &k.Token)
	sumSt := d.str(attrs, "token_sha256", &digest)
	switch {
	case tokSt == invalid || sumSt == invalid:
	case tokSt == set && sumSt == set:
		d.errorf(attrs["token_sha256"].NameRange, "Conflicting arguments",
			"api_key %q sets both token and token_sha256; set exactly one.", k.Name)
	case tokSt == unset && sumSt == unset:
		d.errorf(b.DefRange, "Missing token",
			"api_key %q needs token or token_sha256.", k.Name)
	case tokSt == set:
		if k.Token == "" {
			d.errorf(attrs["token"].Expr.Range(), "Invalid value",
				"The token of api_key %q must not be empty.", k.Name)
		}
		k.TokenSHA256 = sha256.Sum256([]byte(k.Token))
	default:
		raw, err := hex.DecodeString(digest)
		if err == nil && len(raw) != sha256.Size {
			err = fmt.Errorf("want %d hex digits, got %d", 2*sha256.Size, len(digest))
		}
		if err != nil {
			d.errorf(attrs["token_sha256"].Expr.Range(), "Invalid token_sha256",
				"invalid token_sha256 for api_key %q: %v", k.Name, err)
		} else {
			copy(k.TokenSHA256[:], raw)
		}
	}

	var role string
	if d.str(attrs, "role", &role) == set {
		switch Role(role) {
		case RoleOwner, RoleViewer:
			k.Role = Role(role)
		default:
			d.errorf(attrs["role"].Expr.Range(), "Invalid role",
				`invalid role %q for api_key %q: want "owner" or "viewer"`, role, k.Name)
		}
	}
	if d.strSlice(attrs, "endpoints", &k.Endpoints) == set && len(k.Endpoints) == 0 {
		d.warnf(attrs["endpoints"].Expr.Range(), "API key sees nothing",
			"api_key %q has an empty endpoints list: it is valid but sees no data; use [\"*\"] for every endpoint.", k.Name)
	}
	return k, !d.diags[before:].HasErrors()
}
