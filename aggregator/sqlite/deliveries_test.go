package sqlite_test

import (
	"cmp"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

// deliveryFixture stores deliveries of two sources: completed, failed, a
// redelivery whose attempts arrive out of order, one unfinished run past
// the delivery timeout and one still within it.
func deliveryFixture(t *testing.T) *sqlite.Store {
	t.Helper()
	now := func() time.Time { return start.Add(48 * time.Hour) }
	s := openStore(t, "", sqlite.Options{DeliveryTimeout: 15 * time.Minute, Now: now})
	a := newGen("webhook-server", start)
	b := newGen("other-server", start.Add(time.Second))
	b.text.fp, b.json.fp = 0xbeef01, 0xbeef02

	ingest(t, s, a.entries(1200))
	ingest(t, s, b.entries(600))

	// A redelivery: the second attempt and the first one's entries
	// first, its completion last, so that attempts are renumbered.
	first := a.delivery(nil, true)
	a.n--
	a.t = a.t.Add(time.Minute)
	second := a.delivery(nil, false)
	var completion, rest []aggregator.Entry
	for _, e := range first {
		if e.Completion != nil {
			completion = append(completion, e)
		} else {
			rest = append(rest, e)
		}
	}
	ingest(t, s, second)
	ingest(t, s, rest)
	ingest(t, s, completion)

	// Unfinished runs: one that times out, one that does not.
	stuck := slices.DeleteFunc(a.delivery(nil, false), func(e aggregator.Entry) bool { return e.Completion != nil })
	ingest(t, s, stuck)
	a.t = a.t.Add(20 * time.Minute)
	ingest(t, s, a.entries(400))
	running := slices.DeleteFunc(a.delivery(nil, false), func(e aggregator.Entry) bool { return e.Completion != nil })
	ingest(t, s, running)
	if err := sqlite.CheckSearchIndex(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeliveries(t *testing.T) {
	s := deliveryFixture(t)
	entries := allEntries(t, s)
	var all []aggregator.Delivery
	for _, id := range hookIDs(entries) {
		d := mustDelivery(t, s, id)
		d.Attempts = nil
		all = append(all, *d)
	}
	slices.SortFunc(all, func(x, y aggregator.Delivery) int {
		return -cmp.Or(x.ReceivedAt.Compare(y.ReceivedAt), cmp.Compare(x.HookID, y.HookID))
	})
	states := map[aggregator.State]int{}
	for _, d := range all {
		states[d.State]++
	}
	for _, st := range []aggregator.State{aggregator.StateCompleted, aggregator.StateFailed, aggregator.StateTimeout, aggregator.StateProcessing} {
		if states[st] == 0 {
			t.Fatalf("fixture has no %s delivery (%v)", st, states)
		}
	}
	if !slices.ContainsFunc(all, func(d aggregator.Delivery) bool { return d.Attempt == 2 }) {
		t.Fatal("fixture has no second attempt")
	}

	yes, no := true, false
	mid := all[len(all)/2].ReceivedAt
	tests := map[string]aggregator.DeliveryFilter{
		"none":         {},
		"service":      {Services: []string{"other-server"}},
		"services":     {Services: []string{"other-server", "webhook-server", "x"}},
		"no services":  {Services: []string{}},
		"repository":   {Repository: "pytest-jira"},
		"events":       {EventTypes: []string{"check_run", "push"}},
		"completed":    {States: []aggregator.State{aggregator.StateCompleted}},
		"failed":       {States: []aggregator.State{aggregator.StateFailed}},
		"timeout":      {States: []aggregator.State{aggregator.StateTimeout}},
		"processing":   {States: []aggregator.State{aggregator.StateProcessing}},
		"unfinished":   {States: []aggregator.State{aggregator.StatePending, aggregator.StateProcessing, aggregator.StateTimeout}},
		"errors":       {HasErrors: &yes},
		"no errors":    {HasErrors: &no},
		"pr":           {PRNumber: 105},
		"since":        {Since: mid},
		"until":        {Until: mid},
		"window":       {Since: all[len(all)-10].ReceivedAt, Until: all[5].ReceivedAt},
		"search":       {Search: "couldn remote"},
		"search none":  {Search: "no such text"},
		"combined":     {Services: []string{"webhook-server"}, HasErrors: &no, EventTypes: []string{"pull_request"}, Search: `"fetch origin"`},
		"search state": {States: []aggregator.State{aggregator.StateFailed}, Search: "RuntimeError"},
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			var want []aggregator.Delivery
			for _, d := range all {
				if deliveryMatches(f, d, entries) {
					want = append(want, d)
				}
			}
			if name != "search none" && name != "no services" && len(want) == 0 {
				t.Fatal("filter matches nothing; the test data is wrong")
			}
			var got []aggregator.Delivery
			for offset := 0; ; offset += 7 {
				page, err := s.Deliveries(t.Context(), aggregator.DeliveryQuery{Filter: f, Limit: 7, Offset: offset})
				if err != nil {
					t.Fatal(err)
				}
				if page.Total != int64(len(want)) {
					t.Fatalf("offset %d: total=%d, want %d", offset, page.Total, len(want))
				}
				got = append(got, page.Deliveries...)
				if len(page.Deliveries) < 7 {
					break
				}
			}
			if diff := gocmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("(-want +got):\n%.3000s", diff)
			}
		})
	}
}

// deliveryMatches is the reference meaning of a DeliveryFilter.
func deliveryMatches(f aggregator.DeliveryFilter, d aggregator.Delivery, entries []aggregator.Entry) bool {
	switch {
	case f.Services != nil && !slices.Contains(f.Services, d.Service),
		f.Repository != "" && d.Repository != f.Repository,
		len(f.EventTypes) > 0 && !slices.Contains(f.EventTypes, d.EventType),
		len(f.States) > 0 && !slices.Contains(f.States, d.State),
		f.HasErrors != nil && d.HasErrors != *f.HasErrors,
		f.PRNumber != 0 && d.PRNumber != f.PRNumber,
		!f.Since.IsZero() && d.ReceivedAt.Before(f.Since),
		!f.Until.IsZero() && !d.ReceivedAt.Before(f.Until):
		return false
	}
	if f.Search == "" {
		return true
	}
	return slices.ContainsFunc(entries, func(e aggregator.Entry) bool {
		return e.HookID == d.HookID && e.Attempt == d.Attempt && searchMatches(f.Search, e.Message)
	})
}

func TestDeliveriesPaging(t *testing.T) {
	s := deliveryFixture(t)
	full, err := s.Deliveries(t.Context(), aggregator.DeliveryQuery{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		limit, offset int
		want          int
	}{
		{"default limit", 0, 0, min(sqlite.DefaultLimit, len(full.Deliveries))},
		{"negative offset", 3, -5, 3},
		{"last page", 10, len(full.Deliveries) - 4, 4},
		{"past the end", 10, len(full.Deliveries), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := s.Deliveries(t.Context(), aggregator.DeliveryQuery{Limit: tt.limit, Offset: tt.offset})
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != full.Total || len(page.Deliveries) != tt.want {
				t.Fatalf("total=%d len=%d, want total=%d len=%d", page.Total, len(page.Deliveries), full.Total, tt.want)
			}
			if len(page.Deliveries) > 0 {
				off := max(tt.offset, 0)
				if diff := gocmp.Diff(full.Deliveries[off:off+tt.want], page.Deliveries); diff != "" {
					t.Fatalf("(-want +got):\n%.2000s", diff)
				}
			}
		})
	}
	for _, d := range full.Deliveries {
		if len(d.Steps) == 0 && d.State == aggregator.StateCompleted {
			t.Fatalf("completed delivery %s without steps", d.HookID)
		}
	}
}

func TestServices(t *testing.T) {
	tests := []struct {
		name    string
		sources []string
		want    []string
	}{
		{"empty", nil, []string{}},
		{"one", []string{"webhook-server"}, []string{"webhook-server"}},
		{"sorted", []string{"webhook-server", "other-server", "Zeta", "alpha"}, []string{"Zeta", "alpha", "other-server", "webhook-server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, "", sqlite.Options{})
			for i, src := range tt.sources {
				g := newGen(src, start)
				g.text.fp, g.json.fp = uint64(100+2*i), uint64(101+2*i)
				ingest(t, s, g.entries(50))
			}
			got, err := s.Services(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := gocmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}
