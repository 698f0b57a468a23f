package sqlite_test

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

var start = time.Date(2026, 7, 31, 10, 15, 2, 101877000, time.UTC)

func mustDelivery(t *testing.T, s *sqlite.Store, hookID string) *aggregator.Delivery {
	t.Helper()
	d, err := s.Delivery(t.Context(), hookID)
	if err != nil {
		t.Fatalf("Delivery(%q): %v", hookID, err)
	}
	return d
}

func allEntries(t testing.TB, s *sqlite.Store) []aggregator.Entry {
	t.Helper()
	page, err := s.Entries(t.Context(), aggregator.EntryQuery{Limit: 1 << 30, Order: aggregator.OldestFirst})
	if err != nil {
		t.Fatalf("Entries: %v", err)
	}
	return page.Entries
}

func hookIDs(entries []aggregator.Entry) []string {
	var ids []string
	for _, e := range entries {
		if e.HookID != "" && !slices.Contains(ids, e.HookID) {
			ids = append(ids, e.HookID)
		}
	}
	return ids
}

func countStored(entries []aggregator.Entry) (stored, summaries int) {
	for _, e := range entries {
		if e.Summary {
			summaries++
		} else {
			stored++
		}
	}
	return stored, summaries
}

func TestIngestIsIdempotent(t *testing.T) {
	s := openStore(t, "", sqlite.Options{DeliveryTimeout: 15 * time.Minute})
	entries := newGen("webhook-server", start).entries(500)
	res := ingest(t, s, entries)
	if diff := gocmp.Diff(aggregator.IngestResult{Stored: len(entries)}, res); diff != "" {
		t.Fatalf("first ingest (-want +got):\n%s", diff)
	}
	before := map[string]*aggregator.Delivery{}
	for _, id := range hookIDs(entries) {
		before[id] = mustDelivery(t, s, id)
	}
	stored := allEntries(t, s)

	// The same batch again, then in two halves in reverse.
	if diff := gocmp.Diff(aggregator.IngestResult{Duplicates: len(entries)}, ingest(t, s, entries)); diff != "" {
		t.Fatalf("re-ingest (-want +got):\n%s", diff)
	}
	ingest(t, s, entries[len(entries)/2:])
	ingest(t, s, entries[:len(entries)/2])
	for id, want := range before {
		if diff := gocmp.Diff(want, mustDelivery(t, s, id)); diff != "" {
			t.Errorf("delivery %s changed by duplicates (-want +got):\n%s", id, diff)
		}
	}
	if diff := gocmp.Diff(stored, allEntries(t, s)); diff != "" {
		t.Errorf("entries changed by duplicates (-want +got):\n%s", diff)
	}
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantEntries, wantSummaries := countStored(entries)
	if st.Entries != int64(wantEntries) || st.Summaries != int64(wantSummaries) {
		t.Errorf("stats entries=%d summaries=%d, want %d %d", st.Entries, st.Summaries, wantEntries, wantSummaries)
	}
}

func TestEntriesRoundTrip(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	g := newGen("webhook-server", start)
	in := g.entries(100)
	// Odd input must round-trip as given.
	odd := g.entry(&g.text, "ERROR", "odd", "nul\x00byte, invalid \xff\xfe utf-8, "+strings.Repeat("long ", 300_000))
	odd.ParseError, odd.Truncated = true, true
	odd.Details = []byte(`{"k":[1,2,"x"]}`)
	odd.TokenSpend = new(int64)
	odd.DedupeKey = 1<<63 + 5
	odd.Fingerprint = 1<<64 - 1
	odd.Step, odd.TaskID, odd.TaskType, odd.TaskStatus, odd.ExcInfo = "s", "tid", "s", "failed", "Traceback …"
	in = append(in, odd)
	ingest(t, s, in)

	var want []aggregator.Entry
	for _, e := range in {
		if !e.Summary {
			want = append(want, e)
		}
	}
	got := allEntries(t, s)
	// The generator's times are strictly increasing: file order is time order.
	slices.SortStableFunc(want, func(a, b aggregator.Entry) int { return a.Timestamp.Compare(b.Timestamp) })
	opts := []gocmp.Option{
		cmpopts.IgnoreFields(aggregator.Entry{}, "ID", "Attempt"),
		cmpopts.EquateEmpty(),
		gocmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
	}
	if diff := gocmp.Diff(want, got, opts...); diff != "" {
		t.Fatalf("round trip (-want +got):\n%.3000s", diff)
	}
	for _, e := range got {
		if want := cmp.Compare(e.HookID, "") != 0; (e.Attempt > 0) != want {
			t.Errorf("entry %d hook %q attempt %d", e.ID, e.HookID, e.Attempt)
		}
	}
}

func TestSummariesAreNotEntries(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	entries := newGen("webhook-server", start).entries(200)
	res := ingest(t, s, entries)
	nEntries, nSummaries := countStored(entries)
	if nSummaries == 0 {
		t.Fatal("generator wrote no summaries")
	}
	page, err := s.Entries(t.Context(), aggregator.EntryQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != int64(nEntries) || res.Stored != nEntries+nSummaries {
		t.Errorf("total=%d stored=%d, want %d and %d", page.Total, res.Stored, nEntries, nEntries+nSummaries)
	}
	for _, e := range entries {
		if !e.Summary {
			continue
		}
		d := mustDelivery(t, s, e.HookID)
		if d.Status != e.Completion.Status || d.RepositoryFullName == "" || d.Steps[0].Source != aggregator.StepFromSummaryJSON {
			t.Errorf("delivery %s: status=%q full name=%q steps=%+v: summary not folded", e.HookID, d.Status, d.RepositoryFullName, d.Steps)
		}
	}
}

func TestDeliveryNotFound(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	if _, err := s.Delivery(t.Context(), "nope"); !errors.Is(err, aggregator.ErrNotFound) {
		t.Errorf("err=%v, want ErrNotFound", err)
	}
}

// matches is the reference semantics of an EntryFilter.
func matches(f aggregator.EntryFilter, e aggregator.Entry) bool {
	switch {
	case f.HookID != "" && e.HookID != f.HookID,
		f.Attempt != 0 && e.Attempt != f.Attempt,
		f.Repository != "" && e.Repository != f.Repository,
		f.EventType != "" && e.EventType != f.EventType,
		f.GithubUser != "" && e.GithubUser != f.GithubUser,
		f.Step != "" && e.Step != f.Step,
		f.PRNumber != 0 && e.PRNumber != f.PRNumber,
		len(f.Levels) > 0 && !slices.Contains(f.Levels, e.Level),
		!f.Since.IsZero() && e.Timestamp.Before(f.Since),
		!f.Until.IsZero() && e.Timestamp.After(f.Until),
		f.Search != "" && !searchMatches(f.Search, e.Message),
		f.Services != nil && !slices.Contains(f.Services, e.Source):
		return false
	}
	return true
}

// words splits text into lowercase runs of letters and digits.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) || r == utf8.RuneError
	})
}

// searchMatches is the reference meaning of a search (sqlite's search.go):
// every unquoted word and every quoted phrase occurs in the message as
// word prefixes; a search without words matches nothing.
func searchMatches(search, message string) bool {
	msg := words(message)
	var units [][]string
	for i, part := range strings.Split(search, `"`) {
		if i%2 == 1 { // inside quotes
			if w := words(part); len(w) > 0 {
				units = append(units, w)
			}
			continue
		}
		for _, w := range words(part) {
			units = append(units, []string{w})
		}
	}
	if len(units) == 0 {
		return false
	}
	for _, u := range units {
		found := false
		for i := 0; i+len(u) <= len(msg) && !found; i++ {
			found = true
			for j, w := range u {
				if !strings.HasPrefix(msg[i+j], w) {
					found = false
					break
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestEntriesFilters(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	a := newGen("webhook-server", start)
	b := newGen("other-server", start.Add(time.Second))
	b.text.fp, b.json.fp = 0xbeef01, 0xbeef02
	batch := append(a.entries(600), b.entries(300)...)
	// Equal timestamps: ties are broken by id.
	for i := 10; i < 20; i++ {
		batch[i].Timestamp = batch[9].Timestamp
	}
	marked := a.entry(&a.text, "STEP", batch[0].HookID, "[task_status=started] Cloning")
	marked.Step, marked.TaskStatus = "repo_clone", "started"
	batch = append(batch, marked)
	ingest(t, s, batch)
	all := allEntries(t, s) // with ids and attempts

	hook := all[40].HookID
	tests := map[string]aggregator.EntryFilter{
		"none":        {},
		"hook":        {HookID: hook},
		"hook+att":    {HookID: hook, Attempt: 1},
		"attempt 2":   {Attempt: 2},
		"repository":  {Repository: "pytest-jira"},
		"event":       {EventType: "check_run"},
		"user":        {GithubUser: "myakove-bot"},
		"step":        {Step: "repo_clone"},
		"levels":      {Levels: []string{"ERROR", "WARNING"}},
		"pr":          {PRNumber: 105},
		"since":       {Since: all[100].Timestamp},
		"until":       {Until: all[100].Timestamp},
		"window":      {Since: all[100].Timestamp, Until: all[300].Timestamp},
		"search":      {Search: "RUNTIMEERROR: failed"},
		"search none": {Search: "no such text"},
		"search pfx":  {Search: "fetc"},
		"phrase":      {Search: `"remote ref" COULDN`},
		"no words":    {Search: `"*" - (^) ·`},
		"operators":   {Search: `fetch OR "-origin*"`},
		"service":     {Services: []string{"other-server"}},
		"services":    {Services: []string{"other-server", "webhook-server", "x"}},
		"no services": {Services: []string{}},
		"combined":    {Repository: "docsig", Levels: []string{"DEBUG"}, Search: "step 1", Services: []string{"webhook-server"}},
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			var want []aggregator.Entry
			for _, e := range all {
				if matches(f, e) {
					want = append(want, e)
				}
			}
			if name != "search none" && name != "no services" && name != "no words" && name != "attempt 2" && len(want) == 0 {
				t.Fatalf("filter matches nothing; the test data is wrong")
			}
			for _, order := range []aggregator.Order{aggregator.OldestFirst, aggregator.NewestFirst} {
				wantOrdered := slices.Clone(want)
				slices.SortFunc(wantOrdered, func(x, y aggregator.Entry) int {
					c := cmp.Or(x.Timestamp.Compare(y.Timestamp), cmp.Compare(x.ID, y.ID))
					if order == aggregator.NewestFirst {
						return -c
					}
					return c
				})
				var got []aggregator.Entry
				for offset := 0; ; offset += 37 {
					page, err := s.Entries(t.Context(), aggregator.EntryQuery{Filter: f, Limit: 37, Offset: offset, Order: order})
					if err != nil {
						t.Fatal(err)
					}
					if page.Total != int64(len(want)) {
						t.Fatalf("order %d offset %d: total=%d, want %d", order, offset, page.Total, len(want))
					}
					got = append(got, page.Entries...)
					if len(page.Entries) < 37 {
						break
					}
				}
				if diff := gocmp.Diff(wantOrdered, got, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("order %d (-want +got):\n%.2000s", order, diff)
				}
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	// The receive clock only bounds event times from above (MaxFutureSkew).
	now := func() time.Time { return start.Add(time.Hour) }
	s := openStore(t, "", sqlite.Options{DeliveryTimeout: 15 * time.Minute, Now: now})
	g := newGen("webhook-server", start)
	// A run that never completes: drop its summary line.
	run := g.delivery(nil, false)
	run = slices.DeleteFunc(run, func(e aggregator.Entry) bool { return e.Completion != nil })
	ingest(t, s, run)
	hook := run[0].HookID
	if d := mustDelivery(t, s, hook); d.State != aggregator.StateProcessing || d.HasErrors {
		t.Fatalf("state=%s has_errors=%v, want processing", d.State, d.HasErrors)
	}
	last := run[len(run)-1].Timestamp

	// Another source's clock does not matter.
	o := newGen("other-server", last.Add(time.Hour))
	o.text.fp = 0xabc
	ingest(t, s, o.delivery(nil, false))
	if d := mustDelivery(t, s, hook); d.State != aggregator.StateProcessing {
		t.Fatalf("state=%s after another source moved on, want processing", d.State)
	}
	// Just short of the timeout, then at it: event time, not wall clock.
	g.t = last.Add(15*time.Minute - time.Second - 37*time.Millisecond)
	ingest(t, s, []aggregator.Entry{g.entry(&g.text, "INFO", "", "tick")})
	if d := mustDelivery(t, s, hook); d.State != aggregator.StateProcessing {
		t.Fatalf("state=%s before the timeout, want processing", d.State)
	}
	g.t = last.Add(15*time.Minute - 37*time.Millisecond)
	ingest(t, s, []aggregator.Entry{g.entry(&g.text, "INFO", "", "tick")})
	d := mustDelivery(t, s, hook)
	if d.State != aggregator.StateTimeout || !d.HasErrors || d.Attempts[0].State != aggregator.StateTimeout {
		t.Fatalf("state=%s has_errors=%v attempts=%+v, want timeout", d.State, d.HasErrors, d.Attempts)
	}
}

func TestRedeliveryOutOfOrder(t *testing.T) {
	g := newGen("webhook-server", start)
	first := g.delivery(nil, true)
	hook := first[0].HookID
	g.n-- // the same hook_id again: GitHub's redelivery
	g.t = g.t.Add(time.Minute)
	second := g.delivery(nil, false)
	if second[0].HookID != hook {
		t.Fatal("generator did not repeat the hook_id")
	}
	all := append(slices.Clone(first), second...)

	inOrder := openStore(t, "", sqlite.Options{})
	ingest(t, inOrder, all)
	want := mustDelivery(t, inOrder, hook)
	if want.Attempt != 2 || len(want.Attempts) != 2 || want.Attempts[0].State != aggregator.StateFailed ||
		want.State != aggregator.StateCompleted {
		t.Fatalf("delivery=%+v, want attempt 2 completed after a failed attempt 1", want)
	}

	// Second run first, then the first run's completion, then the rest, in
	// batches: boundaries move across stored entries.
	reversed := openStore(t, "", sqlite.Options{})
	var completion []aggregator.Entry
	var rest []aggregator.Entry
	for _, e := range first {
		if e.Completion != nil {
			completion = append(completion, e)
		} else {
			rest = append(rest, e)
		}
	}
	ingest(t, reversed, second)
	ingest(t, reversed, rest)
	if d := mustDelivery(t, reversed, hook); d.Attempt != 1 {
		t.Fatalf("without a completion there is one attempt, got %d", d.Attempt)
	}
	ingest(t, reversed, completion)
	if diff := gocmp.Diff(want, mustDelivery(t, reversed, hook)); diff != "" {
		t.Errorf("out of order (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(allEntries(t, inOrder), allEntries(t, reversed),
		cmpopts.IgnoreFields(aggregator.Entry{}, "ID"),
		cmpopts.SortSlices(func(a, b aggregator.Entry) bool { return a.Offset < b.Offset })); diff != "" {
		t.Errorf("entry attempts (-in order +reversed):\n%s", diff)
	}
	page, err := reversed.Entries(t.Context(), aggregator.EntryQuery{
		Filter: aggregator.EntryFilter{HookID: hook, Attempt: 1}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != int64(len(first)-2) { // minus the two helper lines without hook_id
		t.Errorf("attempt 1 has %d entries, want %d", page.Total, len(first)-2)
	}
}

func TestCopyFillsEmptyFields(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	g := newGen("webhook-server", start)
	run := g.delivery(nil, false)
	hook := run[0].HookID
	// The text copy of a helper line has no hook_id; its JSONL copy has.
	text := g.entry(&g.text, "ERROR", "", "API rate limit low")
	text.DedupeKey = 42
	jsonCopy := text
	jsonCopy.Fingerprint, jsonCopy.File, jsonCopy.Offset = g.json.fp, g.json.path, 999
	jsonCopy.HookID, jsonCopy.ExcInfo, jsonCopy.LoggerName = hook, "Traceback", "other"
	ingest(t, s, run)
	before := mustDelivery(t, s, hook)

	if res := ingest(t, s, []aggregator.Entry{text}); res.Stored != 1 {
		t.Fatalf("text copy: %+v", res)
	}
	if res := ingest(t, s, []aggregator.Entry{jsonCopy, text}); res.Duplicates != 2 {
		t.Fatalf("json copy: %+v, want 2 duplicates", res)
	}
	if res := ingest(t, s, []aggregator.Entry{jsonCopy}); res.Duplicates != 1 {
		t.Fatalf("json copy again: %+v, want a duplicate", res)
	}
	page, err := s.Entries(t.Context(), aggregator.EntryQuery{Filter: aggregator.EntryFilter{Search: "rate limit low"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 {
		t.Fatalf("%d entries, want 1", len(page.Entries))
	}
	e := page.Entries[0]
	if e.HookID != hook || e.ExcInfo != "Traceback" || e.LoggerName != "GithubWebhook" || e.Attempt != 1 {
		t.Errorf("merged entry %+v: want hook and exc_info filled, logger kept", e)
	}
	after := mustDelivery(t, s, hook)
	if after.EntryCount != before.EntryCount+1 || after.ErrorCount != before.ErrorCount+1 {
		t.Errorf("counts %d/%d, want %d/%d", after.EntryCount, after.ErrorCount, before.EntryCount+1, before.ErrorCount+1)
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	entries := newGen("webhook-server", start).entries(300)
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ingest(t, s, entries)
	hook := entries[0].HookID
	want := mustDelivery(t, s, hook)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for range 2 {
		s := openStore(t, path, sqlite.Options{})
		if err := s.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff(want, mustDelivery(t, s, hook)); diff != "" {
			t.Errorf("after reopen (-want +got):\n%s", diff)
		}
		if res := ingest(t, s, entries); res.Stored != 0 {
			t.Errorf("re-ingest after reopen stored %d", res.Stored)
		}
		s.Close()
	}
}

func TestConcurrentReadersDuringWrites(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	g := newGen("webhook-server", start)
	first := g.entries(200)
	ingest(t, s, first)
	hook := first[0].HookID
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				var err error
				if i%2 == 0 {
					var page aggregator.EntryPage
					page, err = s.Entries(ctx, aggregator.EntryQuery{Limit: 50, Filter: aggregator.EntryFilter{Search: "fetch"}})
					if err == nil && int64(len(page.Entries)) > page.Total {
						err = errors.New("page longer than total")
					}
				} else {
					_, err = s.Delivery(ctx, hook)
				}
				if err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		})
	}
	var writers sync.WaitGroup
	for range 2 {
		batches := [][]aggregator.Entry{g.entries(300), g.entries(300), g.entries(300)}
		writers.Go(func() {
			for _, b := range batches {
				if _, err := s.Ingest(ctx, &aggregator.Batch{Entries: b}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	writers.Wait()
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestIngestCanceled(t *testing.T) {
	s := openStore(t, "", sqlite.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	entries := newGen("webhook-server", start).entries(50)
	if _, err := s.Ingest(ctx, &aggregator.Batch{Entries: entries}); err == nil {
		t.Fatal("Ingest with a canceled context succeeded")
	}
	if res := ingest(t, s, entries); res.Stored != len(entries) {
		t.Errorf("after a canceled batch stored %d, want %d", res.Stored, len(entries))
	}
}
