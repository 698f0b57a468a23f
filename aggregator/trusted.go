package aggregator

import "net/netip"

// Trusted reports whether addr lies in one of nets (SPEC §5.5: the check
// behind trusted_networks, for the HTTP APIs and gRPC ingest alike). The
// address's zone is ignored and an IPv4-mapped IPv6 address counts as its
// IPv4 address, as does an IPv4-mapped prefix (::ffff:10.0.0.0/104 is
// 10.0.0.0/8). An invalid address is in no network; an invalid prefix
// contains nothing.
func Trusted(addr netip.Addr, nets []netip.Prefix) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.WithZone("").Unmap()
	for _, p := range nets {
		if pa := p.Addr(); pa.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(pa.Unmap(), p.Bits()-96)
		}
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
