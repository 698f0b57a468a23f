package sqlite

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hooktail/hooktail/aggregator"
)

// TestQueryPlans checks with EXPLAIN QUERY PLAN that every filter the APIs
// index is answered from an index: neither the page nor the count query
// scans entries (or the deliveries) in full.
func TestQueryPlans(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "hooktail.db"), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	since := time.Date(2026, 7, 31, 0, 0, 0, 0, time.UTC)
	entryTests := map[string]aggregator.EntryFilter{
		"hook":        {HookID: "h"},
		"hook+step":   {HookID: "h", Attempt: 1, Since: since, Until: since.Add(time.Minute)},
		"repository":  {Repository: "r"},
		"event":       {EventType: "push"},
		"levels":      {Levels: []string{"ERROR", "WARNING"}},
		"pr":          {PRNumber: 42},
		"since":       {Since: since},
		"window":      {Since: since, Until: since.Add(time.Hour)},
		"service":     {Services: []string{"a"}},
		"search":      {Search: "merge"},
		"search+more": {Search: "merge", Repository: "r", Levels: []string{"INFO"}},
	}
	for name, f := range entryTests {
		t.Run("entries/"+name, func(t *testing.T) {
			where, args := entryWhere(f, false)
			for _, order := range []string{" ORDER BY e.ts DESC, e.id DESC", " ORDER BY e.ts ASC, e.id ASC"} {
				checkPlan(t, s, "SELECT "+entryColumns+entryFrom+where+order+" LIMIT 100", args, "e")
			}
			if f.Search != "" && f.Repository != "" {
				// The walk of a search with other filters walks their index.
				where, args := entryWhere(f, true)
				checkPlan(t, s, "SELECT "+entryColumns+entryFrom+where+" ORDER BY e.ts DESC, e.id DESC LIMIT 100", args, "e")
			}
			checkPlan(t, s, "SELECT count(*) FROM entries e"+where, args, "e")
		})
	}
	yes := true
	deliveryTests := map[string]aggregator.DeliveryFilter{
		"none":       {},
		"service":    {Services: []string{"a"}},
		"repository": {Repository: "r"},
		"events":     {EventTypes: []string{"push", "check_run"}},
		"states":     {States: []aggregator.State{aggregator.StateFailed}},
		"timeout":    {States: []aggregator.State{aggregator.StateTimeout}},
		"errors":     {HasErrors: &yes},
		"pr":         {PRNumber: 42},
		"window":     {Since: since, Until: since.Add(time.Hour)},
		"search":     {Search: "merge"},
	}
	for name, f := range deliveryTests {
		t.Run("deliveries/"+name, func(t *testing.T) {
			where, args := deliveryWhere(f, (15 * time.Minute).Microseconds())
			checkPlan(t, s, "SELECT count(*) FROM deliveries d"+where, args, "e")
			switch name {
			case "none":
				return // every latest attempt: the page walks deliveries_latest_received
			case "errors", "search":
				// Alone, the set of deliveries with errors (or with
				// matching entries) is tested along a walk of an index
				// of the latest attempts (their rows, with the fold, are
				// far larger to read by id).
				checkPlanCovered(t, s, "SELECT count(*) FROM deliveries d"+where, args, "d")
				return
			}
			checkPlan(t, s, "SELECT d.fold FROM deliveries d"+where+" ORDER BY d.received_at DESC, d.hook_id DESC LIMIT 100", args, "d")
			checkPlan(t, s, "SELECT count(*) FROM deliveries d"+where, args, "d")
		})
	}
}

// checkPlanCovered fails when the plan of query scans table alias other
// than through a covering index.
func checkPlanCovered(t *testing.T, s *Store, query string, args []any, alias string) {
	t.Helper()
	for _, line := range explain(t, s, query, args) {
		if strings.HasPrefix(line, "SCAN "+alias) && !strings.HasPrefix(line, "SCAN "+alias+" USING COVERING INDEX ") {
			t.Errorf("query scans %s:\n%s\nplan line: %s", alias, query, line)
		}
	}
}

// checkPlan fails when the plan of query scans table alias in full (a
// SCAN of it, with or without a covering index: either reads every row).
func checkPlan(t *testing.T, s *Store, query string, args []any, alias string) {
	t.Helper()
	plan := explain(t, s, query, args)
	for _, line := range plan {
		if line == "SCAN "+alias || strings.HasPrefix(line, "SCAN "+alias+" ") {
			t.Errorf("query scans %s:\n%s\nplan:\n  %s", alias, query, strings.Join(plan, "\n  "))
			return
		}
	}
}

// explain returns the detail lines of the query plan of query.
func explain(t *testing.T, s *Store, query string, args []any) []string {
	t.Helper()
	rows, err := s.rdb.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %q: %v", query, err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := closeRows(rows); err != nil {
		t.Fatal(err)
	}
	return plan
}
