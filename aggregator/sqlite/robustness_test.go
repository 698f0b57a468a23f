package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

// TestIngestOutOfRangeTimes is the regression test of a batch that failed
// forever: a time outside years 1..9999 UTC (here year -1, what
// "0000-01-01T00:00:00.5+01:00" is in UTC, and year 10000) made the JSON of
// the delivery (Time.MarshalJSON: year outside of range) and of the
// summary fail to encode. The store now treats such a time as unknown,
// whoever built the batch, and keeps the timestamp as written.
func TestIngestOutOfRangeTimes(t *testing.T) {
	s := openStore(t, "", sqlite.Options{DeliveryTimeout: 15 * time.Minute})
	g := newGen("webhook-server", start)
	run := g.delivery(nil, true)
	hook := run[0].HookID
	yearMinus1 := time.Date(0, 1, 1, 0, 0, 0, 5e8, time.FixedZone("", 3600))
	year10000 := time.Date(10000, 3, 1, 0, 0, 0, 0, time.UTC)
	if yearMinus1.UTC().Year() != -1 {
		t.Fatalf("test setup: %v is not year -1 in UTC", yearMinus1)
	}
	bad := g.entry(&g.text, "ERROR", hook, "odd clock")
	bad.Timestamp, bad.TimestampRaw = yearMinus1, "0000-01-01T00:00:00.5+01:00"
	sum := g.entry(&g.json, "COMPLETED", hook, "")
	sum.Summary, sum.Timestamp = true, year10000
	sum.Completion = &aggregator.Completion{Status: "failed", StartedAt: yearMinus1, CompletedAt: year10000,
		Steps: []aggregator.Step{{Name: "clone", Status: "failed", StartedAt: year10000}}}
	// A marker with an out-of-range time feeds the delivery's step facts.
	marker := g.entry(&g.text, "STEP", hook, "clone started")
	marker.Timestamp, marker.Step, marker.TaskStatus = year10000, "clone", "started"
	batch := append(slices.Clone(run), bad, sum, marker)
	before := slices.Clone(batch)
	sumCompletion := *sum.Completion

	res, err := s.Ingest(t.Context(), &aggregator.Batch{AgentID: "agent-1", Entries: batch})
	if err != nil {
		t.Fatalf("Ingest() = %v, want the batch stored", err)
	}
	if got, want := res.Stored, len(batch); got != want {
		t.Errorf("stored %d, want %d", got, want)
	}
	// The caller's batch is left alone.
	if diff := gocmp.Diff(before, batch); diff != "" {
		t.Errorf("Ingest changed the caller's batch (-before +after):\n%s", diff)
	}
	if diff := gocmp.Diff(sumCompletion, *sum.Completion); diff != "" {
		t.Errorf("Ingest changed the caller's completion (-before +after):\n%s", diff)
	}

	page, err := s.Entries(t.Context(), aggregator.EntryQuery{Filter: aggregator.EntryFilter{Search: "odd clock"}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 {
		t.Fatalf("%d entries, want 1", len(page.Entries))
	}
	if e := page.Entries[0]; !e.Timestamp.IsZero() || e.TimestampRaw != "0000-01-01T00:00:00.5+01:00" {
		t.Errorf("stored timestamp %v raw %q, want unknown and the raw text kept", e.Timestamp, e.TimestampRaw)
	}
	d := mustDelivery(t, s, hook)
	if d.State != aggregator.StateFailed {
		t.Errorf("state = %s, want failed", d.State)
	}
	// More entries of the delivery still ingest (the stored fold decodes).
	ingest(t, s, []aggregator.Entry{g.entry(&g.text, "INFO", hook, "later")})
}

// TestFutureTimesDoNotAdvanceSourceClock checks that an event time more
// than an hour past the receive time does not move the source's newest
// event time, which would put every unfinished delivery in timeout.
func TestFutureTimesDoNotAdvanceSourceClock(t *testing.T) {
	now := start.Add(10 * time.Minute)
	s := openStore(t, "", sqlite.Options{DeliveryTimeout: 15 * time.Minute, Now: func() time.Time { return now }})
	g := newGen("webhook-server", start)
	run := g.delivery(nil, false)
	run = slices.DeleteFunc(run, func(e aggregator.Entry) bool { return e.Completion != nil })
	ingest(t, s, run)
	hook := run[0].HookID
	last := run[len(run)-1].Timestamp

	for name, at := range map[string]time.Time{
		"year 9999":               time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		"a wrong timezone (+14h)": last.Add(14 * time.Hour),
		"just over an hour ahead": now.Add(sqlite.MaxFutureSkew + time.Microsecond),
	} {
		g.t = at
		e := g.entry(&g.text, "INFO", "", "clock says "+name)
		e.Timestamp = at
		ingest(t, s, []aggregator.Entry{e})
		if d := mustDelivery(t, s, hook); d.State != aggregator.StateProcessing {
			t.Fatalf("state = %s after an entry at %s (%v), want processing", d.State, name, at)
		}
	}
	// Within the hour ahead of the receive time, event time rules (SPEC
	// §4): the delivery times out.
	now = last.Add(15*time.Minute - sqlite.MaxFutureSkew)
	g.t = last.Add(15 * time.Minute)
	e := g.entry(&g.text, "INFO", "", "tick")
	e.Timestamp = last.Add(15 * time.Minute)
	ingest(t, s, []aggregator.Entry{e})
	if d := mustDelivery(t, s, hook); d.State != aggregator.StateTimeout {
		t.Fatalf("state = %s, want timeout", d.State)
	}
}

// TestWALTruncatedPastLimit checks that a WAL that readers kept from being
// checkpointed is emptied once it is over the size limit: PASSIVE
// checkpoints alone never let it start over while readers are active.
func TestWALTruncatedPastLimit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hooktail.db")
	const limit = 256 << 10
	s := openStore(t, path, sqlite.Options{WALSizeLimit: limit})
	g := newGen("webhook-server", start)

	// A reader holds a snapshot while a large batch is written, so that
	// the checkpointer's PASSIVE checkpoint cannot copy the batch.
	rdb, err := sql.Open("sqlite3", "file:"+path+"?_query_only=1")
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	rtx, err := rdb.BeginTx(t.Context(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow("SELECT count(*) FROM entries").Scan(&n); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, g.entries(3000))
	if size := walSize(t, path); size <= limit {
		t.Fatalf("WAL is %d bytes after a large batch, want over %d for the test", size, limit)
	}
	rtx.Rollback()

	// One more write wakes the checkpointer, as a live system does.
	ingest(t, s, g.entries(1))
	deadline := time.Now().Add(10 * time.Second)
	for walSize(t, path) > limit {
		if time.Now().After(deadline) {
			t.Fatalf("WAL is %d bytes, still over the limit of %d", walSize(t, path), limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
