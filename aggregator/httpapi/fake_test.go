package httpapi_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
)

// funcStore is a Store whose methods are func fields; a nil func fails the
// call so an unexpected store call shows up as a 500.
type funcStore struct {
	EntriesFunc  func(ctx context.Context, q aggregator.EntryQuery) (aggregator.EntryPage, error)
	DeliveryFunc func(ctx context.Context, hookID string) (*aggregator.Delivery, error)
	// DeliveriesFunc and ServicesFunc answer the calls of the same names.
	DeliveriesFunc func(ctx context.Context, q aggregator.DeliveryQuery) (aggregator.DeliveryPage, error)
	ServicesFunc   func(ctx context.Context) ([]string, error)
	// TailFunc and LastIDFunc answer the calls of the same names;
	// Changed never fires.
	TailFunc   func(ctx context.Context, q aggregator.TailQuery) (aggregator.TailPage, error)
	LastIDFunc func(ctx context.Context) (int64, error)
}

func (s *funcStore) Tail(ctx context.Context, q aggregator.TailQuery) (aggregator.TailPage, error) {
	if s.TailFunc == nil {
		return aggregator.TailPage{}, errors.New("fake: unexpected Tail call")
	}
	return s.TailFunc(ctx, q)
}

func (s *funcStore) LastID(ctx context.Context) (int64, error) {
	if s.LastIDFunc == nil {
		return 0, errors.New("fake: unexpected LastID call")
	}
	return s.LastIDFunc(ctx)
}

func (s *funcStore) Changed() <-chan struct{} { return nil }
func (s *funcStore) Filled() <-chan struct{}  { return nil }

func (s *funcStore) Deliveries(ctx context.Context, q aggregator.DeliveryQuery) (aggregator.DeliveryPage, error) {
	if s.DeliveriesFunc == nil {
		return aggregator.DeliveryPage{}, errors.New("fake: unexpected Deliveries call")
	}
	return s.DeliveriesFunc(ctx, q)
}

func (s *funcStore) Services(ctx context.Context) ([]string, error) {
	if s.ServicesFunc == nil {
		return nil, errors.New("fake: unexpected Services call")
	}
	return s.ServicesFunc(ctx)
}

var _ aggregator.Store = (*funcStore)(nil)

func (s *funcStore) Ingest(context.Context, *aggregator.Batch) (aggregator.IngestResult, error) {
	return aggregator.IngestResult{}, errors.New("fake: ingest not implemented")
}

func (s *funcStore) Entries(ctx context.Context, q aggregator.EntryQuery) (aggregator.EntryPage, error) {
	if s.EntriesFunc == nil {
		return aggregator.EntryPage{}, errors.New("fake: unexpected Entries call")
	}
	return s.EntriesFunc(ctx, q)
}

func (s *funcStore) Delivery(ctx context.Context, hookID string) (*aggregator.Delivery, error) {
	if s.DeliveryFunc == nil {
		return nil, errors.New("fake: unexpected Delivery call")
	}
	return s.DeliveryFunc(ctx, hookID)
}

func (s *funcStore) Close() error { return nil }

// memStore answers Entries from a slice with the Store contract's filter
// semantics, and Delivery from a map. It rejects queries a real store would
// never be asked (bad limits), so handler bugs surface as 500s.
type memStore struct {
	mu         sync.Mutex
	entries    []aggregator.Entry
	deliveries map[string]*aggregator.Delivery
	queries    []aggregator.EntryQuery
	// dqueries records every Deliveries query.
	dqueries []aggregator.DeliveryQuery
	// tqueries records every Tail query.
	tqueries []aggregator.TailQuery
	// changed is signalled by add and fill, filled by fill.
	changed aggregator.Broadcast
	filled  aggregator.Broadcast
}

// add stores entries (their IDs set by the caller, above every stored
// one) as a committed Ingest would, and signals Changed.
func (s *memStore) add(entries ...aggregator.Entry) {
	s.mu.Lock()
	s.entries = append(s.entries, entries...)
	s.mu.Unlock()
	s.changed.Notify()
}

// Tail answers with the TailQuery semantics over the entries by ID.
func (s *memStore) Tail(_ context.Context, q aggregator.TailQuery) (aggregator.TailPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tqueries = append(s.tqueries, q)
	if q.Limit < 1 || q.Limit > 1000 {
		return aggregator.TailPage{}, fmt.Errorf("mem: bad tail limit=%d", q.Limit)
	}
	var top int64
	var out []aggregator.Entry
	for _, e := range s.entries {
		top = max(top, e.ID)
		if e.ID > q.AfterID && matches(&q.Filter, &e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b aggregator.Entry) int { return cmp.Compare(a.ID, b.ID) })
	page := aggregator.TailPage{LastID: top}
	switch {
	case q.Newest:
		page.Entries = out[max(0, len(out)-q.Limit):]
	case len(out) > q.Limit:
		page.Entries = out[:q.Limit]
		page.LastID, page.More = out[q.Limit-1].ID, true
	default:
		page.Entries = out
	}
	return page, nil
}

// LastID is the largest ID of the entries.
func (s *memStore) LastID(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var top int64
	for _, e := range s.entries {
		top = max(top, e.ID)
	}
	return top, nil
}

// Changed is closed by the next add.
func (s *memStore) Changed() <-chan struct{} { return s.changed.Wait() }
func (s *memStore) Filled() <-chan struct{}  { return s.filled.Wait() }

// Deliveries answers from the deliveries map with the DeliveryFilter
// semantics, newest ReceivedAt first.
func (s *memStore) Deliveries(_ context.Context, q aggregator.DeliveryQuery) (aggregator.DeliveryPage, error) {
	s.mu.Lock()
	s.dqueries = append(s.dqueries, q)
	s.mu.Unlock()
	if q.Limit < 1 || q.Limit > 10000 || q.Offset < 0 {
		return aggregator.DeliveryPage{}, fmt.Errorf("mem: bad page limit=%d offset=%d", q.Limit, q.Offset)
	}
	var out []aggregator.Delivery
	for _, d := range s.deliveries {
		if matchesDelivery(&q.Filter, d) {
			c := *d
			c.Attempts = nil
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b aggregator.Delivery) int {
		return cmp.Or(b.ReceivedAt.Compare(a.ReceivedAt), cmp.Compare(a.HookID, b.HookID))
	})
	total := int64(len(out))
	out = out[min(q.Offset, len(out)):]
	out = out[:min(q.Limit, len(out))]
	return aggregator.DeliveryPage{Deliveries: out, Total: total}, nil
}

func matchesDelivery(f *aggregator.DeliveryFilter, d *aggregator.Delivery) bool {
	switch {
	case f.Services != nil && !slices.Contains(f.Services, d.Service),
		f.Repository != "" && d.Repository != f.Repository && d.RepositoryFullName != f.Repository,
		len(f.EventTypes) > 0 && !slices.Contains(f.EventTypes, d.EventType),
		len(f.States) > 0 && !slices.Contains(f.States, d.State),
		f.HasErrors != nil && d.HasErrors != *f.HasErrors,
		f.PRNumber != 0 && d.PRNumber != f.PRNumber,
		!f.Since.IsZero() && d.ReceivedAt.Before(f.Since),
		!f.Until.IsZero() && !d.ReceivedAt.Before(f.Until),
		f.Search != "":
		return false
	}
	return true
}

// Services lists the sources of the entries and deliveries, sorted.
func (s *memStore) Services(context.Context) ([]string, error) {
	var out []string
	for _, e := range s.entries {
		out = append(out, e.Source)
	}
	for _, d := range s.deliveries {
		out = append(out, d.Service)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(n string) bool { return n == "" }), nil
}

var _ aggregator.Store = (*memStore)(nil)

func (s *memStore) Ingest(context.Context, *aggregator.Batch) (aggregator.IngestResult, error) {
	return aggregator.IngestResult{}, errors.New("mem: ingest not implemented")
}

func (s *memStore) Close() error { return nil }

func (s *memStore) Delivery(_ context.Context, hookID string) (*aggregator.Delivery, error) {
	if d, ok := s.deliveries[hookID]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("mem: delivery %q: %w", hookID, aggregator.ErrNotFound)
}

func (s *memStore) Entries(_ context.Context, q aggregator.EntryQuery) (aggregator.EntryPage, error) {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
	if q.Limit < 1 || q.Limit > 10000 || q.Offset < 0 {
		return aggregator.EntryPage{}, fmt.Errorf("mem: bad page limit=%d offset=%d", q.Limit, q.Offset)
	}
	var out []aggregator.Entry
	s.mu.Lock() // add and the streams' reads run concurrently
	for _, e := range s.entries {
		if matches(&q.Filter, &e) {
			out = append(out, e)
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(out, func(a, b aggregator.Entry) int {
		c := a.Timestamp.Compare(b.Timestamp)
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if q.Order == aggregator.NewestFirst {
			return -c
		}
		return c
	})
	total := int64(len(out))
	out = out[min(q.Offset, len(out)):]
	out = out[:min(q.Limit, len(out))]
	return aggregator.EntryPage{Entries: out, Total: total}, nil
}

func matches(f *aggregator.EntryFilter, e *aggregator.Entry) bool {
	switch {
	case f.HookID != "" && e.HookID != f.HookID,
		f.Attempt != 0 && e.Attempt != f.Attempt,
		f.Repository != "" && e.Repository != f.Repository,
		f.EventType != "" && e.EventType != f.EventType,
		f.GithubUser != "" && e.GithubUser != f.GithubUser,
		f.Step != "" && e.Step != f.Step,
		len(f.Levels) > 0 && !slices.Contains(f.Levels, e.Level),
		f.PRNumber != 0 && e.PRNumber != f.PRNumber,
		!f.Since.IsZero() && (e.Timestamp.IsZero() || e.Timestamp.Before(f.Since)),
		!f.Until.IsZero() && (e.Timestamp.IsZero() || e.Timestamp.After(f.Until)),
		f.Search != "" && !strings.Contains(strings.ToLower(e.Message), strings.ToLower(f.Search)),
		f.Services != nil && !slices.Contains(f.Services, e.Source):
		return false
	}
	return true
}

// testServer builds a Server over store with a logger writing to logs.
func testServer(t testing.TB, store aggregator.Store, mod func(*httpapi.Options)) (*httpapi.Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts := httpapi.Options{
		Store:  store,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := httpapi.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, logs
}

// get performs a GET from a loopback peer unless mod changes the request.
func get(h http.Handler, target string, mod ...func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	for _, m := range mod {
		m(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// decode parses a JSON body keeping numbers exact.
func decode(t testing.TB, w *httptest.ResponseRecorder) any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type=%q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode body %q: %v", w.Body.String(), err)
	}
	return v
}

// jsonOf decodes a JSON literal the same way decode does, for expectations.
func jsonOf(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad expectation %q: %v", s, err)
	}
	return v
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func ptr[T any](v T) *T { return &v }

// sprintf is fmt.Sprintf, for JSON templates.
func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// quote is a JSON string literal of s.
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}
