package builtin_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins/builtin"
)

func TestNames(t *testing.T) {
	names := builtin.Names()
	if diff := cmp.Diff([]string{"github-webhook-server", "json", "logfmt", "regex"}, names); diff != "" {
		t.Errorf("Names() (-want +got):\n%s", diff)
	}
	if !slices.IsSorted(names) {
		t.Errorf("Names()=%v is not sorted", names)
	}
}

// TestNew checks that each built-in parser describes itself by the name
// it is registered under, and that New returns a fresh instance per call.
func TestNew(t *testing.T) {
	for _, name := range builtin.Names() {
		p, ok := builtin.New(name)
		if !ok {
			t.Fatalf("New(%q) found nothing", name)
		}
		d, err := p.Describe(t.Context())
		if err != nil {
			t.Fatalf("Describe of %q: %v", name, err)
		}
		if d.Name != name {
			t.Errorf("New(%q) describes itself as %q", name, d.Name)
		}
		if q, _ := builtin.New(name); q == p {
			t.Errorf("New(%q) returned the same instance twice", name)
		}
	}
	if p, ok := builtin.New("nope"); ok || p != nil {
		t.Errorf("New(\"nope\") = %v, %v; want nil, false", p, ok)
	}
}
