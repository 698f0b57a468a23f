package sqlite_test

import (
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

// jsonCopyOf is the JSONL copy of a text record: another file, the same
// dedupe key and written timestamp, more fields.
func jsonCopyOf(g *gen, text aggregator.Entry, hook string) aggregator.Entry {
	c := text
	c.Fingerprint, c.File, c.Offset = g.json.fp, g.json.path, g.json.offset
	g.json.offset += 500
	c.HookID, c.ExcInfo = hook, "Traceback (json)"
	return c
}

func TestCopyInSameBatch(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	g := newGen("webhook-server", start)
	run := g.delivery(nil, false)
	hook := run[0].HookID
	text := g.entry(&g.text, "ERROR", "", "API rate limit low")
	// Odd bytes in the written timestamp must survive the dedupe probe.
	text.TimestampRaw = "2026-07-31 \"10:15\" \xff\\"
	text.DedupeKey = 7
	batch := append(run, text, jsonCopyOf(g, text, hook), text)
	res := ingest(t, s, batch)
	if want := (aggregator.IngestResult{Stored: len(run) + 1, Duplicates: 2}); res != want {
		t.Fatalf("ingest %+v, want %+v", res, want)
	}
	page, err := s.Entries(t.Context(), aggregator.EntryQuery{Filter: aggregator.EntryFilter{Search: "rate limit low"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 {
		t.Fatalf("%d entries, want 1", len(page.Entries))
	}
	if e := page.Entries[0]; e.HookID != hook || e.ExcInfo != "Traceback (json)" || e.TimestampRaw != text.TimestampRaw {
		t.Errorf("merged entry %+v: want hook, exc_info and raw timestamp", e)
	}
}

// TestProbeFallbacks re-sends records from both ends of a long stored run,
// so that the range probes see many other entries and look the records up
// one by one instead.
func TestProbeFallbacks(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	g := newGen("webhook-server", start)
	var stored []aggregator.Entry
	for _, e := range g.entries(300) {
		if !e.Summary {
			stored = append(stored, e)
		}
	}
	ingest(t, s, stored)
	before := allEntries(t, s)
	first, last := stored[0], stored[len(stored)-1]
	hook := stored[len(stored)/2].HookID
	fresh := g.entries(40)
	batch := append([]aggregator.Entry{first, jsonCopyOf(g, first, hook), jsonCopyOf(g, last, hook), last}, fresh...)
	res := ingest(t, s, batch)
	if want := (aggregator.IngestResult{Stored: len(fresh), Duplicates: 4}); res != want {
		t.Fatalf("ingest %+v, want %+v", res, want)
	}
	after := allEntries(t, s)
	if len(after) != len(before)+len(fresh)-countSummaries(fresh) {
		t.Fatalf("%d entries, want %d", len(after), len(before)+len(fresh)-countSummaries(fresh))
	}
	for i, e := range before {
		want := e
		if e.Offset == first.Offset || e.Offset == last.Offset {
			if want.HookID == "" {
				want.HookID = hook
			}
			want.ExcInfo = "Traceback (json)"
		}
		got := after[i]
		got.Attempt, want.Attempt = 0, 0
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("entry %d (-want +got):\n%s", i, diff)
		}
	}
}

func countSummaries(entries []aggregator.Entry) int {
	_, n := countStored(entries)
	return n
}

// TestDuplicatesInsideOneBatch checks that a batch holding the same record
// twice (an agent re-reading within one batch) stores it once and is not
// refused: a refused batch would be retried forever.
func TestDuplicatesInsideOneBatch(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	entries := newGen("webhook-server", start).entries(100)
	batch := append(slices.Clone(entries), entries[10:40]...)
	res := ingest(t, s, batch)
	if res.Stored != len(entries) || res.Duplicates != 30 {
		t.Fatalf("ingest = %+v, want %d stored and 30 duplicates", res, len(entries))
	}
	if got := len(allEntries(t, s)); got != len(entries)-countSummaries(entries) {
		t.Errorf("%d entries stored, want %d", got, len(entries)-countSummaries(entries))
	}
}
