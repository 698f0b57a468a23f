package aggregator_test

import (
	"net/netip"
	"testing"

	"github.com/hooktail/hooktail/aggregator"
)

func TestTrusted(t *testing.T) {
	nets := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("::ffff:192.168.0.0/112"), // 192.168.0.0/16, v4-mapped
		netip.MustParsePrefix("172.16.5.9/12"),          // not masked
		{},                                              // invalid: contains nothing
	}
	tests := map[string]struct {
		addr string
		want bool
	}{
		"in v4 network":          {"10.1.2.3", true},
		"outside":                {"11.0.0.1", false},
		"v4-mapped in network":   {"::ffff:10.1.2.3", true},
		"v4-mapped outside":      {"::ffff:8.8.8.8", false},
		"v6 loopback":            {"::1", true},
		"v6 with zone":           {"fe80::1%eth0", true},
		"v4 in a v4-mapped net":  {"192.168.7.7", true},
		"unmasked prefix":        {"172.31.0.1", true},
		"v6 outside":             {"2001:db8::1", false},
		"v4 loopback not listed": {"127.0.0.1", false},
	}
	for name, tc := range tests {
		if got := aggregator.Trusted(netip.MustParseAddr(tc.addr), nets); got != tc.want {
			t.Errorf("%s: Trusted(%s) = %v, want %v", name, tc.addr, got, tc.want)
		}
	}
	if aggregator.Trusted(netip.Addr{}, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}) {
		t.Error("Trusted(invalid address) = true")
	}
	if aggregator.Trusted(netip.MustParseAddr("10.0.0.1"), nil) {
		t.Error("Trusted(no networks) = true")
	}
}
