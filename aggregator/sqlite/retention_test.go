package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

// clock is an injected clock, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.Set(t)
	return c
}

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// logBuffer is an io.Writer safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// retainOpts are store options for retention tests: an injected clock and
// no background pass (the test calls Retain).
func retainOpts(c *clock, r sqlite.Retention) sqlite.Options {
	return sqlite.Options{Now: c.Now, Retention: r, RetentionInterval: -1, DeliveryTimeout: 15 * time.Minute}
}

func retain(t *testing.T, s *sqlite.Store) sqlite.RetentionResult {
	t.Helper()
	res, err := s.Retain(t.Context())
	if err != nil {
		t.Fatalf("Retain() = %v", err)
	}
	return res
}

func entryCount(t *testing.T, s *sqlite.Store, f aggregator.EntryFilter) int64 {
	t.Helper()
	page, err := s.Entries(t.Context(), aggregator.EntryQuery{Filter: f, Limit: 1})
	if err != nil {
		t.Fatalf("Entries(%+v): %v", f, err)
	}
	return page.Total
}

func hasDelivery(t *testing.T, s *sqlite.Store, hookID string) bool {
	t.Helper()
	_, err := s.Delivery(t.Context(), hookID)
	if errors.Is(err, aggregator.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("Delivery(%q): %v", hookID, err)
	}
	return true
}

// summary counts what a generated batch stores.
type summary struct {
	entries, summaries, hooks int64
	hookIDs                   []string
}

func summarize(entries []aggregator.Entry) summary {
	var s summary
	for _, e := range entries {
		if e.Summary {
			s.summaries++
		} else {
			s.entries++
		}
	}
	s.hookIDs = hookIDs(entries)
	s.hooks = int64(len(s.hookIDs))
	return s
}

// TestRetentionMaxAge checks which age retention gives each entry and
// delivery: the event time when it dates the entry, else the receive time.
func TestRetentionMaxAge(t *testing.T) {
	now := newClock(start)
	var logs logBuffer
	opts := retainOpts(now, sqlite.Retention{MaxAge: 24 * time.Hour})
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s := openStore(t, "", opts)

	g := newGen("webhook-server", start.Add(-48*time.Hour))
	old := g.entries(400)
	g.t = start.Add(-time.Hour)
	recent := g.entries(400)
	// Event times that cannot date an entry: unknown, before 1970, and
	// more than MaxFutureSkew ahead of the receive time.
	var undated []aggregator.Entry
	for _, ts := range []time.Time{{}, time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), start.Add(100 * 24 * time.Hour)} {
		e := g.entry(&g.text, "INFO", "", "undated "+ts.String())
		e.Timestamp = ts
		undated = append(undated, e)
	}
	ingest(t, s, slices.Concat(old, recent, undated))
	o, r := summarize(old), summarize(recent)

	res := retain(t, s)
	want := sqlite.RetentionResult{Entries: o.entries, Summaries: o.summaries, Deliveries: o.hooks, Hooks: o.hooks}
	if diff := gocmp.Diff(want, res); diff != "" {
		t.Errorf("first pass deleted (-want +got):\n%s", diff)
	}
	if got, want := entryCount(t, s, aggregator.EntryFilter{}), r.entries+int64(len(undated)); got != want {
		t.Errorf("%d entries left, want %d", got, want)
	}
	for _, id := range o.hookIDs {
		if hasDelivery(t, s, id) {
			t.Fatalf("delivery %s of 48 h ago survived a 24 h retention", id)
		}
	}
	for _, id := range r.hookIDs {
		if !hasDelivery(t, s, id) {
			t.Fatalf("delivery %s of 1 h ago deleted by a 24 h retention", id)
		}
	}
	// Nothing more to delete at the same time, and nothing logged.
	if res := retain(t, s); res.Total() != 0 {
		t.Errorf("second pass deleted %+v, want nothing", res)
	}
	if n := strings.Count(logs.String(), `level=INFO msg="retention pass"`); n != 1 {
		t.Errorf("%d Info logs of retention passes, want 1 (for the pass that deleted); logs:\n%s", n, logs.String())
	}

	// A day after they were received, the undated entries go too, as does
	// everything else, and the files nothing refers to any more.
	now.Set(start.Add(24*time.Hour + time.Second))
	res = retain(t, s)
	want = sqlite.RetentionResult{Entries: r.entries + int64(len(undated)), Summaries: r.summaries,
		Deliveries: r.hooks, Hooks: r.hooks, Files: 2}
	if diff := gocmp.Diff(want, res); diff != "" {
		t.Errorf("last pass deleted (-want +got):\n%s", diff)
	}
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(sqlite.Stats{Sources: 1, SizeBytes: st.SizeBytes}, st); diff != "" {
		t.Errorf("stats after everything expired (-want +got):\n%s", diff)
	}

	// The same files ingest again: their forgotten rows are created anew.
	g.t = now.Now()
	more := g.entries(100)
	if res := ingest(t, s, more); res.Stored != len(more) {
		t.Fatalf("ingest after the files expired: %+v, want %d stored", res, len(more))
	}
	u, err := s.Usage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	total := u.Retention.Deleted.Total()
	if got, want := total, o.entries+o.summaries+2*o.hooks+res.Total(); got != want {
		t.Errorf("Usage().Retention.Deleted.Total() = %d, want %d", got, want)
	}
	if u.Retention.Passes != 3 || u.Retention.Failures != 0 {
		t.Errorf("Usage().Retention = %+v, want 3 passes, none failed", u.Retention)
	}
}

// TestRetentionDeliveryOutlivesEntries checks that a delivery that is
// still active keeps its derived facts while its old entries expire, and
// goes with the rest once it is idle for the retention.
func TestRetentionDeliveryOutlivesEntries(t *testing.T) {
	now := newClock(start)
	s := openStore(t, "", retainOpts(now, sqlite.Retention{MaxAge: 24 * time.Hour}))
	g := newGen("webhook-server", start.Add(-48*time.Hour))
	first := g.delivery(nil, false)
	hook := first[0].HookID
	ingest(t, s, first)
	// GitHub redelivers the same delivery 47 h later: a second attempt.
	g.t = start.Add(-time.Hour)
	again := g.entry(&g.text, "INFO", hook, "Processing webhook")
	ingest(t, s, []aggregator.Entry{again})
	if d := mustDelivery(t, s, hook); len(d.Attempts) != 2 {
		t.Fatalf("%d attempts before retention, want 2", len(d.Attempts))
	}

	res := retain(t, s)
	if res.Entries != summarize(first).entries || res.Hooks != 0 || res.Deliveries != 0 {
		t.Errorf("deleted %+v, want the first attempt's %d entries and no delivery", res, summarize(first).entries)
	}
	d := mustDelivery(t, s, hook)
	if len(d.Attempts) != 2 {
		t.Errorf("%d attempts after the old entries expired, want 2", len(d.Attempts))
	}
	if got := entryCount(t, s, aggregator.EntryFilter{HookID: hook}); got != 1 {
		t.Errorf("%d entries of the hook left, want the redelivery's 1", got)
	}

	now.Set(start.Add(23 * time.Hour))
	if res := retain(t, s); res.Total() != 0 {
		t.Errorf("deleted %+v within a day of the redelivery, want nothing", res)
	}
	now.Set(start.Add(24 * time.Hour))
	res = retain(t, s)
	if want := (sqlite.RetentionResult{Entries: 1, Deliveries: 2, Hooks: 1, Summaries: summarize(first).summaries, Files: 1}); res != want {
		t.Errorf("deleted %+v a day after the redelivery, want %+v", res, want)
	}
	if hasDelivery(t, s, hook) {
		t.Error("delivery survived a day of inactivity")
	}
}

// TestRetentionMaxBytes checks the size cap: past MaxBytes the oldest
// entries and deliveries go until the database uses at most 90% of it, and
// not one more pass runs while it stays under MaxBytes.
func TestRetentionMaxBytes(t *testing.T) {
	now := newClock(start)
	s := openStore(t, "", retainOpts(now, sqlite.Retention{}))
	g := newGen("webhook-server", start)
	var all []aggregator.Entry
	for range 6 {
		batch := g.entries(2000)
		ingest(t, s, batch)
		all = append(all, batch...)
	}
	before, err := s.Usage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	maxBytes := before.UsedBytes / 2
	s.SetRetention(sqlite.Retention{MaxBytes: maxBytes})
	res := retain(t, s)
	after, err := s.Usage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if target := maxBytes * 9 / 10; after.UsedBytes > target {
		t.Errorf("used %d bytes after the pass, want at most %d (90%% of %d)", after.UsedBytes, target, maxBytes)
	}
	if after.UsedBytes < maxBytes/2 {
		t.Errorf("used %d bytes after the pass: deleted far more than needed for %d", after.UsedBytes, maxBytes)
	}
	if after.SizeBytes != before.SizeBytes {
		t.Errorf("database size %d after the pass, want %d: freed pages stay for reuse", after.SizeBytes, before.SizeBytes)
	}
	// What is left is the newest entries, and the deliveries of the
	// entries deleted are gone.
	left := allEntries(t, s)
	if len(left) == 0 || res.Entries == 0 {
		t.Fatalf("%d entries left, %d deleted: want some of each", len(left), res.Entries)
	}
	var stored []aggregator.Entry
	for _, e := range all {
		if !e.Summary {
			stored = append(stored, e)
		}
	}
	if got, want := int64(len(left))+res.Entries, int64(len(stored)); got != want {
		t.Fatalf("%d left + %d deleted = %d, want the %d stored", len(left), res.Entries, got, want)
	}
	oldestLeft := left[0].Timestamp
	if want := stored[res.Entries].Timestamp; !oldestLeft.Equal(want) {
		t.Errorf("oldest entry left is of %v, want %v: the oldest go first", oldestLeft, want)
	}
	for _, id := range hookIDs(stored[:res.Entries]) {
		if entryCount(t, s, aggregator.EntryFilter{HookID: id}) == 0 && hasDelivery(t, s, id) {
			t.Errorf("delivery %s kept without any of its entries", id)
		}
	}
	// Under MaxBytes (but over the 90% mark) nothing runs.
	s.SetRetention(sqlite.Retention{MaxBytes: after.UsedBytes + 1})
	if res := retain(t, s); res.Total() != 0 {
		t.Errorf("pass under max_db_bytes deleted %+v, want nothing", res)
	}
}

// TestRetentionBackgroundPass checks the background pass: ingest over
// MaxBytes starts one at once, without waiting for the interval, and so
// does SetRetention.
func TestRetentionBackgroundPass(t *testing.T) {
	now := newClock(start)
	s := openStore(t, "", sqlite.Options{Now: now.Now, RetentionInterval: time.Hour})
	g := newGen("webhook-server", start)
	ingest(t, s, g.entries(3000))
	u, err := s.Usage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	limit := u.UsedBytes - 1
	s.SetRetention(sqlite.Retention{MaxBytes: limit})
	waitUsage(t, s, "the pass SetRetention starts", func(u sqlite.Usage) bool {
		return u.UsedBytes <= limit*9/10 && u.Retention.Deleted.Entries > 0
	})
	deleted := func() int64 {
		u, err := s.Usage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return u.Retention.Deleted.Entries
	}()
	for range 10 {
		ingest(t, s, g.entries(1000))
	}
	waitUsage(t, s, "the pass ingest over max_db_bytes starts", func(u sqlite.Usage) bool {
		return u.UsedBytes <= limit && u.Retention.Deleted.Entries > deleted
	})
	now.Add(time.Hour)
	s.SetRetention(sqlite.Retention{MaxAge: time.Minute})
	waitUsage(t, s, "a pass deleting every entry", func(u sqlite.Usage) bool {
		return u.Retention.Deleted.Files == 2
	})
	if got := entryCount(t, s, aggregator.EntryFilter{}); got != 0 {
		t.Errorf("%d entries left, want none", got)
	}
}

func waitUsage(t *testing.T, s *sqlite.Store, what string, ok func(sqlite.Usage) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, err := s.Usage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ok(u) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: usage %+v", what, u)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRetentionSteadyState ingests in rounds with a sliding clock and a
// one-hour retention: once the window is full, the pages that retention
// frees are reused, and the database file stops growing.
func TestRetentionSteadyState(t *testing.T) {
	const (
		round = 10 * time.Minute
		// Three retention windows: the search index's segments reach
		// their steady shape (merges free the deleted entries' words)
		// one window after the tables do.
		warmup  = 18
		rounds  = 36
		perTick = 1000
	)
	path := filepath.Join(t.TempDir(), "hooktail.db")
	now := newClock(start)
	s := openStore(t, path, retainOpts(now, sqlite.Retention{MaxAge: time.Hour}))
	g := newGen("webhook-server", start)
	var sizes []int64
	for i := range rounds {
		g.t = start.Add(time.Duration(i) * round)
		for range perTick / 1000 {
			ingest(t, s, g.entries(1000))
		}
		now.Set(g.t)
		retain(t, s)
		u, err := s.Usage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, u.SizeBytes)
	}
	if err := sqlite.CheckSearchIndex(t.Context(), s); err != nil {
		t.Error(err)
	}
	warm := slices.Max(sizes[:warmup])
	later := slices.Max(sizes[warmup:])
	t.Logf("database size per round (KiB): %v", kib(sizes))
	// A little slack for pages that index splits leave half used.
	if limit := warm + warm/20; later > limit {
		t.Errorf("database grew to %d bytes after warm-up, want at most %d (the warm-up's %d + 5%%)", later, limit, warm)
	}
	// And the file itself, once the WAL is checkpointed into it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if limit := warm + warm/20; fi.Size() > limit {
		t.Errorf("database file is %d bytes after Close, want at most %d", fi.Size(), limit)
	}
}

func kib(sizes []int64) []int64 {
	out := make([]int64, len(sizes))
	for i, s := range sizes {
		out[i] = s >> 10
	}
	return out
}

// TestMigrateV1 opens a database of schema version 1 with entries and
// hooks that the event time cannot date, and checks that they count as
// received at the upgrade instead of being deleted at once.
func TestMigrateV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hooktail.db")
	schema, err := os.ReadFile(filepath.Join("migrations", "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	old := start.Add(-400 * 24 * time.Hour).UnixMicro()
	for _, q := range []string{
		string(schema),
		"PRAGMA user_version = 1",
		"INSERT INTO sources (id, name) VALUES (1, 's')",
		"INSERT INTO files (id, source_id, fingerprint, path) VALUES (1, 1, 1, '/x.log')",
		`INSERT INTO entries (file_id, byte_offset, source_id, ts, message, hook_id) VALUES
			(1, 0, 1, ?1, 'old', 'h-old'), (1, 1, 1, 0, 'undated', 'h-undated'), (1, 2, 1, ?1, 'old too', 'h-undated')`,
		`INSERT INTO hooks (hook_id, timeline, max_ts, attempts) VALUES ('h-old', '{}', ?1, 1), ('h-undated', '{}', ?1, 1)`,
	} {
		if _, err := db.Exec(q, old); err != nil {
			db.Close()
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	db.Close()

	now := newClock(time.Now())
	s := openStore(t, path, retainOpts(now, sqlite.Retention{MaxAge: 24 * time.Hour}))
	// The migration indexed the stored messages for search.
	if n := entryCount(t, s, aggregator.EntryFilter{Search: "old"}); n != 2 {
		t.Errorf("search \"old\" after the upgrade finds %d entries, want 2", n)
	}
	res := retain(t, s)
	if want := (sqlite.RetentionResult{Entries: 2, Hooks: 1}); res != want {
		t.Errorf("deleted %+v, want %+v: the old entries and hook, not the undated ones", res, want)
	}
	// Deleted entries left the search index too.
	if n := entryCount(t, s, aggregator.EntryFilter{Search: "old"}); n != 0 {
		t.Errorf("search \"old\" after retention finds %d entries, want 0", n)
	}
	left := allEntries(t, s)
	if len(left) != 1 || left[0].Message != "undated" {
		t.Fatalf("entries left %+v, want the undated one", left)
	}
	now.Add(24*time.Hour + time.Minute)
	if res := retain(t, s); res.Entries != 1 || res.Hooks != 1 {
		t.Errorf("a day after the upgrade deleted %+v, want the undated entry and its hook", res)
	}
}

// BenchmarkRetention measures deletion throughput: each iteration ingests
// 20 000 entries (untimed) of which a retention pass then deletes every one,
// with their deliveries.
func BenchmarkRetention(b *testing.B) {
	now := newClock(start)
	s := openStore(b, "", sqlite.Options{Now: now.Now, Retention: sqlite.Retention{MaxAge: time.Hour}, RetentionInterval: -1})
	g := newGen("webhook-server", start)
	ctx := context.Background()
	var deleted int64
	for b.Loop() {
		b.StopTimer()
		for range 20 {
			ingest(b, s, g.entries(1000))
		}
		now.Set(g.t.Add(time.Hour + time.Second))
		b.StartTimer()
		res, err := s.Retain(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if res.Entries < 20000 {
			b.Fatalf("deleted %+v, want every entry", res)
		}
		deleted += res.Entries
	}
	b.ReportMetric(float64(deleted)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkIngestDuringRetention measures what a large retention pass costs
// ingest: 64 batches of 1000 entries stored while a pass deletes 200 000
// entries, reporting the mean, p99 and slowest batch latency (compare with
// BenchmarkIngest).
func BenchmarkIngestDuringRetention(b *testing.B) {
	now := newClock(start)
	s := openStore(b, "", sqlite.Options{Now: now.Now, Retention: sqlite.Retention{MaxAge: time.Hour}, RetentionInterval: -1})
	g := newGen("webhook-server", start)
	ctx := context.Background()
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		for range 200 {
			ingest(b, s, g.entries(1000))
		}
		g.t = g.t.Add(2 * time.Hour)
		now.Set(g.t)
		batches := make([][]aggregator.Entry, 0, 64)
		for range cap(batches) {
			batches = append(batches, g.entries(1000))
		}
		b.StartTimer()
		done := make(chan error, 1)
		go func() {
			_, err := s.Retain(ctx)
			done <- err
		}()
		for _, batch := range batches {
			t0 := time.Now()
			ingest(b, s, batch)
			lat = append(lat, time.Since(t0))
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(sum.Microseconds())/float64(len(lat))/1000, "mean-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// TestEntryIDsNeverReused checks that retention deleting the newest
// entries (an old file read late, aged out by its event time) does not
// give their ids out again, also after a restart: a live tail resuming
// after one of them would skip the entries that took them.
func TestEntryIDsNeverReused(t *testing.T) {
	now := newClock(start)
	path := filepath.Join(t.TempDir(), "hooktail.db")
	opts := retainOpts(now, sqlite.Retention{MaxAge: 24 * time.Hour})
	s := openStore(t, path, opts)

	g := newGen("webhook-server", start.Add(-time.Hour))
	ingest(t, s, g.entries(50))
	g.t = start.Add(-72 * time.Hour) // the backfill: newest ids, oldest times
	ingest(t, s, g.entries(50))
	high, err := s.LastID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res := retain(t, s); res.Entries == 0 {
		t.Fatalf("retention deleted nothing: %+v", res)
	}
	if top, _ := s.LastID(t.Context()); top >= high {
		t.Fatalf("the newest entries were not deleted: largest id %d, was %d", top, high)
	}

	// newIDs ingests new entries and returns their ids.
	newIDs := func(s *sqlite.Store) []int64 {
		t.Helper()
		before, err := s.LastID(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		g.t = start
		ingest(t, s, g.entries(20))
		page, err := s.Tail(t.Context(), aggregator.TailQuery{AfterID: before, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, e := range page.Entries {
			ids = append(ids, e.ID)
		}
		return ids
	}
	ids := newIDs(s)
	if len(ids) == 0 || slices.Min(ids) <= high {
		t.Fatalf("after retention, new ids %v; want all past %d, the largest given out", ids, high)
	}
	if res := retain(t, s); res.Entries != 0 {
		t.Fatalf("second pass deleted %d entries", res.Entries)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Delete the newest entries again, then restart: the largest id given
	// out is kept in the database.
	s = openStore(t, path, opts)
	g.t = start.Add(-72 * time.Hour)
	ingest(t, s, g.entries(30))
	high, _ = s.LastID(t.Context())
	retain(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, path, opts)
	if ids := newIDs(s); slices.Min(ids) <= high {
		t.Fatalf("after a restart, new ids %v; want all past %d", ids, high)
	}
}

// TestEntryIDsNeverReusedByHookDeletion checks retention's hooks phase:
// ingest can commit a backfill between retention's phases, and deleting
// the backfill's deliveries deletes their entries, which hold the newest
// ids.
func TestEntryIDsNeverReusedByHookDeletion(t *testing.T) {
	now := newClock(start)
	s := openStore(t, "", retainOpts(now, sqlite.Retention{MaxAge: 24 * time.Hour}))
	g := newGen("webhook-server", start.Add(-time.Hour))
	ingest(t, s, g.entries(50))
	g.t = start.Add(-72 * time.Hour)
	ingest(t, s, g.entries(50))
	high, err := s.LastID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := sqlite.DeleteOldestHooks(t.Context(), s, start.Add(-24*time.Hour).UnixMicro()); err != nil || n == 0 {
		t.Fatalf("DeleteOldestHooks = %d, %v; want hooks deleted", n, err)
	}
	top, err := s.LastID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if top >= high {
		t.Fatalf("the newest entries were not deleted: largest id %d, was %d", top, high)
	}
	g.t = start
	ingest(t, s, g.entries(20))
	page, err := s.Tail(t.Context(), aggregator.TailQuery{AfterID: top, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) == 0 || page.Entries[0].ID <= high {
		t.Fatalf("after the hooks phase, new entries start at %v; want past %d, the largest given out", page.Entries[:min(1, len(page.Entries))], high)
	}
}
