package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hooktail/hooktail/aggregator"
)

// tailStore opens a store holding tailFixture's entries, ingested in
// three batches.
func tailStore(t *testing.T) (*Store, []aggregator.Entry) {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "tail.db"), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	all := tailFixture(60)
	for _, part := range [][]aggregator.Entry{all[:20], all[20:45], all[45:]} {
		if _, err := s.Ingest(t.Context(), &aggregator.Batch{AgentID: "a1", Entries: part}); err != nil {
			t.Fatalf("Ingest: %v", err)
		}
	}
	return s, all
}

// tailFixture returns n entries over two sources whose timestamps do not
// follow their order (so ID order and time order differ).
func tailFixture(n int) []aggregator.Entry {
	base := time.Date(2026, 7, 31, 10, 0, 0, 0, time.UTC)
	levels := []string{"INFO", "WARNING", "WARN", "ERROR", "DEBUG"}
	msgs := []string{"Merged PR 42 into main", "git fetch origin +refs/pull/42/head", "Processing webhook", "merge conflict in README"}
	out := make([]aggregator.Entry, n)
	for i := range out {
		src := []string{"webhook-server", "other"}[i%2]
		out[i] = aggregator.Entry{
			Source: src, Fingerprint: uint64(0xfeed0000 + i%2), File: "/logs/" + src + ".log", Offset: int64(i * 100),
			Timestamp: base.Add(time.Duration((i*37)%n) * time.Second), Level: levels[i%len(levels)],
			Message: msgs[i%len(msgs)], HookID: fmt.Sprintf("h%d", i%5), Repository: []string{"repo-a", "repo-b", "repo-c"}[i%3],
			EventType: []string{"pull_request", "check_run"}[i%2], GithubUser: []string{"alice", "bot"}[min(i/30, 1)],
			PRNumber: int64(100 + i%4), Step: []string{"clone", "", "assign"}[i%3],
		}
	}
	return out
}

// wantTail is the oracle: the IDs Entries finds for f, past after,
// ascending.
func wantTail(t *testing.T, s *Store, f aggregator.EntryFilter, after int64) []int64 {
	t.Helper()
	page, err := s.Entries(t.Context(), aggregator.EntryQuery{Filter: f, Limit: 1 << 20, Order: aggregator.OldestFirst})
	if err != nil {
		t.Fatalf("Entries: %v", err)
	}
	var ids []int64
	for _, e := range page.Entries {
		if e.ID > after {
			ids = append(ids, e.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func tailIDs(entries []aggregator.Entry) []int64 {
	ids := make([]int64, len(entries))
	for i := range entries {
		ids[i] = entries[i].ID
	}
	return ids
}

var tailFilters = map[string]aggregator.EntryFilter{
	"all":           {},
	"hook":          {HookID: "h3"},
	"levels":        {Levels: []string{"WARNING", "WARN"}},
	"repo and user": {Repository: "repo-b", GithubUser: "bot"},
	"event and pr":  {EventType: "check_run", PRNumber: 101},
	"step":          {Step: "assign"},
	"search":        {Search: "merge"},
	"phrase":        {Search: `"fetch origin"`, Levels: []string{"WARNING", "WARN", "ERROR"}},
	"no word":       {Search: "--"},
	"service":       {Services: []string{"other"}},
	"no service":    {Services: []string{}},
	"nothing":       {HookID: "nope"},
}

// TestTail pages through every filter from several points, with several
// page sizes and scan windows, and checks that the pages add up to exactly
// what Entries finds past the point, in ID order, with no repeat.
func TestTail(t *testing.T) {
	s, all := tailStore(t)
	top := int64(len(all))
	if got, err := s.LastID(t.Context()); err != nil || got != top {
		t.Fatalf("LastID()=%d, %v; want %d", got, err, top)
	}
	for name, f := range tailFilters {
		for _, after := range []int64{-1, 0, 7, 31, top, top + 10} {
			for _, limit := range []int{0, 1, 7} {
				for _, window := range []int64{3, tailWindow} {
					t.Run(fmt.Sprintf("%s/after=%d/limit=%d/window=%d", name, after, limit, window), func(t *testing.T) {
						var got []int64
						cur := after
						for i := 0; ; i++ {
							if i > 200 {
								t.Fatal("Tail never stops saying More")
							}
							page, err := s.tail(t.Context(), aggregator.TailQuery{Filter: f, AfterID: cur, Limit: limit}, window)
							if err != nil {
								t.Fatalf("Tail: %v", err)
							}
							if limit > 0 && len(page.Entries) > limit {
								t.Fatalf("page of %d entries, limit %d", len(page.Entries), limit)
							}
							for _, e := range page.Entries {
								if e.ID <= cur || e.ID > page.LastID {
									t.Fatalf("entry %d outside (%d, %d]", e.ID, cur, page.LastID)
								}
							}
							got = append(got, tailIDs(page.Entries)...)
							cur = page.LastID
							if !page.More {
								break
							}
						}
						if want := wantTail(t, s, f, after); !slices.Equal(got, want) {
							t.Errorf("ids %v, want %v", got, want)
						}
						if cur != top {
							t.Errorf("last LastID=%d, want the largest id %d", cur, top)
						}
					})
				}
			}
		}
	}
}

// TestTailNewest checks the backlog form: the Limit newest matching
// entries past AfterID, ascending.
func TestTailNewest(t *testing.T) {
	s, all := tailStore(t)
	for name, f := range tailFilters {
		for _, after := range []int64{0, 40} {
			for _, limit := range []int{1, 5, 1000} {
				page, err := s.Tail(t.Context(), aggregator.TailQuery{Filter: f, AfterID: after, Limit: limit, Newest: true})
				if err != nil {
					t.Fatalf("Tail: %v", err)
				}
				want := wantTail(t, s, f, after)
				want = want[max(0, len(want)-limit):]
				if got := tailIDs(page.Entries); !slices.Equal(got, want) || page.More || page.LastID != int64(len(all)) {
					t.Errorf("%s after=%d limit=%d: ids %v LastID %d More %v, want %v, %d, false",
						name, after, limit, got, page.LastID, page.More, want, len(all))
				}
			}
		}
	}
}

// TestTailEntries checks that a tailed entry is the stored entry, as
// Entries reads it.
func TestTailEntries(t *testing.T) {
	s, _ := tailStore(t)
	page, err := s.Tail(t.Context(), aggregator.TailQuery{AfterID: 10, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Entries(t.Context(), aggregator.EntryQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(want.Entries, func(e aggregator.Entry) bool { return e.ID == 11 })
	if len(page.Entries) != 3 || i < 0 {
		t.Fatalf("Tail after 10: %v; Entries has id 11 at %d", tailIDs(page.Entries), i)
	}
	if got, want := fmt.Sprintf("%+v", page.Entries[0]), fmt.Sprintf("%+v", want.Entries[i]); got != want {
		t.Fatalf("Tail entry\n%s\nwant\n%s", got, want)
	}
}

// TestTailChanged checks the change signal: closed by a commit that stores
// or fills an entry, not by one that stores nothing.
func TestTailChanged(t *testing.T) {
	s, all := tailStore(t)
	ingest := func(entries ...aggregator.Entry) {
		t.Helper()
		if _, err := s.Ingest(t.Context(), &aggregator.Batch{AgentID: "a1", Entries: entries}); err != nil {
			t.Fatalf("Ingest: %v", err)
		}
	}
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	ch := s.Changed()
	ingest(all[3]) // a duplicate
	if closed(ch) {
		t.Fatal("Changed closed by a batch that stored nothing")
	}
	more := tailFixture(61)[60]
	ingest(more)
	if !closed(ch) {
		t.Fatal("Changed not closed by a batch that stored an entry")
	}
	next := s.Changed()
	if closed(next) {
		t.Fatal("Changed returned a closed channel before any new commit")
	}

	// A copy of a record in another file fills the stored entry's empty
	// fields: a change without a new entry.
	rec := aggregator.Entry{Source: "webhook-server", Fingerprint: 0xabc, File: "/logs/a.log", Offset: 0,
		TimestampRaw: "2026-07-31T10:00:00", Level: "INFO", Message: "copied", DedupeKey: 77}
	ingest(rec)
	ch = s.Changed()
	cp := rec
	cp.Fingerprint, cp.File, cp.HookID = 0xabd, "/logs/a.json", "h-copy"
	ingest(cp)
	if !closed(ch) {
		t.Fatal("Changed not closed by a batch that filled a stored entry")
	}
}

// TestTailWentBack checks that LastID follows the largest ID down when the
// newest entries are deleted, so a tail then sees the IDs SQLite gives
// again.
func TestTailWentBack(t *testing.T) {
	s, all := tailStore(t)
	if _, err := s.wdb.ExecContext(context.Background(), "DELETE FROM entries WHERE id > 50"); err != nil {
		t.Fatal(err)
	}
	page, err := s.Tail(t.Context(), aggregator.TailQuery{AfterID: int64(len(all))})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 0 || page.LastID != 50 || page.More {
		t.Fatalf("page %v LastID %d More %v, want none, 50, false", tailIDs(page.Entries), page.LastID, page.More)
	}
}

// TestTailPlan checks that an ascending page walks the primary key from
// AfterID whatever the filter, and never an index on a filter column (which
// would read every matching entry ever stored at each wake-up).
func TestTailPlan(t *testing.T) {
	s, _ := tailStore(t)
	if _, err := s.wdb.ExecContext(t.Context(), "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	for name, f := range tailFilters {
		query, args, ok := tailSQL(aggregator.TailQuery{Filter: f, Limit: 500}, 10, 60)
		if !ok {
			continue
		}
		plan := explain(t, s, query, args)
		var walk bool
		for _, line := range plan {
			if strings.HasPrefix(line, "SEARCH e USING INTEGER PRIMARY KEY") {
				walk = true
			}
			if strings.HasPrefix(line, "SEARCH e USING INDEX") || line == "SCAN e" || strings.HasPrefix(line, "SCAN e ") {
				walk = false
				break
			}
		}
		if !walk {
			t.Errorf("%s: plan does not walk the primary key of e:\n  %s", name, strings.Join(plan, "\n  "))
		}
	}
}

// BenchmarkTailLive measures the query a live stream runs at each wake-up:
// the entries past the newest but 25, with a filter, at 200k entries.
func BenchmarkTailLive(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "tail.db"), Options{Logger: slog.New(slog.DiscardHandler), RetentionInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n, batch = 200_000, 2000
	all := tailFixture(n)
	for i := 0; i < n; i += batch {
		if _, err := s.Ingest(b.Context(), &aggregator.Batch{AgentID: "a1", Entries: all[i : i+batch]}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.wdb.ExecContext(b.Context(), "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"all", "levels", "hook", "search"} {
		f := tailFilters[name]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Tail(b.Context(), aggregator.TailQuery{Filter: f, AfterID: n - 25}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
