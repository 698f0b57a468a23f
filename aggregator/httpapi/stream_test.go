package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/httpapi"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

// streamWait bounds every wait for an event; reaching it fails the test
// (it is a deadline, not a delay).
const streamWait = 10 * time.Second

var streamLevels = []string{"INFO", "WARNING", "WARN", "ERROR", "DEBUG"}

// streamEntry is the fixture entry with ID id; its fields cycle so that
// every filter selects a known subset.
func streamEntry(id int64) aggregator.Entry {
	i := int(id)
	return aggregator.Entry{
		ID: id, Source: []string{"webhook-server", "other"}[i%2], File: "/logs/webhook-server.log", Offset: id * 100,
		Timestamp: time.Date(2026, 7, 31, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Level:     streamLevels[i%len(streamLevels)],
		Message:   fmt.Sprintf("%s line %d", []string{"Merged PR", "git fetch origin", "Processing webhook"}[i%3], i),
		HookID:    fmt.Sprintf("h%d", i%4), Step: []string{"clone", "assign", ""}[i%3],
		PRNumber: int64(100 + i%2), Repository: "repo", EventType: "pull_request", Attempt: 1,
	}
}

func streamEntries(from, to int64) []aggregator.Entry {
	var out []aggregator.Entry
	for id := from; id <= to; id++ {
		out = append(out, streamEntry(id))
	}
	return out
}

func streamStore(n int64) *memStore {
	return &memStore{entries: streamEntries(1, n)}
}

// streamServer serves api over HTTP on 127.0.0.1; cleanup ends the open
// streams first, then the server.
func streamServer(t *testing.T, store aggregator.Store, mod func(*httpapi.Options)) (*httpapi.Server, *httptest.Server) {
	t.Helper()
	api, _ := testServer(t, store, func(o *httpapi.Options) {
		// Only the store's signal wakes a stream, unless a test says so.
		o.StreamPoll = time.Hour
		if mod != nil {
			mod(o)
		}
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	t.Cleanup(api.CloseStreams)
	return api, srv
}

// sseEvent is one dispatched block of an event stream.
type sseEvent struct {
	ID, Event, Data, Retry, Comment string
}

// sseClient reads one event stream.
type sseClient struct {
	t      *testing.T
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

// openStream GETs target from srv and starts reading its events.
func openStream(t *testing.T, srv *httptest.Server, target string, header http.Header) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", target, err)
	}
	c := &sseClient{t: t, resp: resp, events: make(chan sseEvent, 4096), cancel: cancel}
	t.Cleanup(c.close)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: status %d body %s", target, resp.StatusCode, body)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("GET %s: %s=%q, want %q", target, k, got, want)
		}
	}
	go c.read()
	return c
}

// read parses the stream into events until it ends.
func (c *sseClient) read() {
	defer close(c.events)
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ev sseEvent
	var any bool
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if any {
				c.events <- ev
			}
			ev, any = sseEvent{}, false
			continue
		}
		any = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			ev.Comment = value
		case "id":
			ev.ID = value
		case "event":
			ev.Event = value
		case "data":
			ev.Data = value
		case "retry":
			ev.Retry = value
		}
	}
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next event that is not a comment (unless comments),
// failing the test when none comes before the deadline or the stream ends.
func (c *sseClient) next(comments bool) sseEvent {
	c.t.Helper()
	deadline := time.NewTimer(streamWait)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				c.t.Fatal("the stream ended")
			}
			if ev.Comment != "" && !comments {
				continue
			}
			return ev
		case <-deadline.C:
			c.t.Fatalf("no event within %v", streamWait)
		}
	}
}

// start reads the retry block and the catch-up up to the ready event,
// returning the entries' IDs and the ready event's last_id.
func (c *sseClient) start() (ids []int64, lastID int64) {
	c.t.Helper()
	if ev := c.next(false); ev.Retry != "1000" || ev.Event != "" || ev.Data != "" {
		c.t.Fatalf("first event %+v, want retry: 1000 alone", ev)
	}
	for {
		ev := c.next(false)
		switch ev.Event {
		case "entry":
			ids = append(ids, c.entryID(ev))
		case "ready":
			var ready struct {
				LastID *int64 `json:"last_id"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &ready); err != nil || ready.LastID == nil || ev.ID != "" {
				c.t.Fatalf("ready event %+v: %v", ev, err)
			}
			return ids, *ready.LastID
		default:
			c.t.Fatalf("unexpected event %+v", ev)
		}
	}
}

// entryID checks an entry event and returns its entry's ID: the event ID
// and the JSON id agree.
func (c *sseClient) entryID(ev sseEvent) int64 {
	c.t.Helper()
	var e struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
		c.t.Fatalf("entry event %+v: %v", ev, err)
	}
	if ev.Event != "entry" || ev.ID != strconv.FormatInt(e.ID, 10) {
		c.t.Fatalf("entry event %+v: id %d", ev, e.ID)
	}
	return e.ID
}

// entries reads n entry events and returns their IDs.
func (c *sseClient) entries(n int) []int64 {
	c.t.Helper()
	var ids []int64
	for len(ids) < n {
		ev := c.next(false)
		if ev.Event != "entry" {
			c.t.Fatalf("unexpected event %+v after %v", ev, ids)
		}
		ids = append(ids, c.entryID(ev))
	}
	return ids
}

// ended waits for the stream to end.
func (c *sseClient) ended() {
	c.t.Helper()
	deadline := time.NewTimer(streamWait)
	defer deadline.Stop()
	for {
		select {
		case _, ok := <-c.events:
			if !ok {
				return
			}
		case <-deadline.C:
			c.t.Fatalf("the stream did not end within %v", streamWait)
		}
	}
}

func idRange(from, to int64) []int64 {
	var ids []int64
	for id := from; id <= to; id++ {
		ids = append(ids, id)
	}
	return ids
}

// idsWhere are the IDs of streamEntry(1..n) that keep accepts.
func idsWhere(n int64, keep func(aggregator.Entry) bool) []int64 {
	var ids []int64
	for _, e := range streamEntries(1, n) {
		if keep(e) {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// checkLive adds 30 entries from id from, then entries up to the first
// one keep accepts (the marker), and checks that the stream sends exactly
// the accepted ones: in order, the marker last, so nothing else came
// before it. A filter that accepts none of them is left to the catch-up.
func checkLive(t *testing.T, store *memStore, c *sseClient, from int64, keep func(aggregator.Entry) bool) {
	t.Helper()
	marker := int64(0)
	for id := from + 30; id < from+200 && marker == 0; id++ {
		if keep(streamEntry(id)) {
			marker = id
		}
	}
	if marker == 0 {
		return
	}
	store.add(streamEntries(from, from+29)...)
	store.add(streamEntries(from+30, marker)...)
	var want []int64
	for _, id := range idsWhere(marker, keep) {
		if id >= from {
			want = append(want, id)
		}
	}
	checkIDs(t, "live", c.entries(len(want)), want)
}

func checkIDs(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: ids %v, want %v", what, got, want)
	}
}

// TestStreamCatchUpThenLive resumes after an id: the entries past it,
// oldest first, the ready event, then entries as they are added (woken by
// the store's signal only: the poll interval is an hour). Each entry's data
// is exactly its item of /logs/api/entries.
func TestStreamCatchUpThenLive(t *testing.T) {
	store := streamStore(20)
	api, srv := streamServer(t, store, nil)
	c := openStream(t, srv, "/logs/api/stream?after=5", nil)

	if c.next(false).Retry != "1000" {
		t.Fatal("first event is not retry")
	}
	page := decode(t, get(api, "/logs/api/entries?limit=10000")).(map[string]any)
	items := map[string]string{}
	for _, it := range page["entries"].([]any) {
		b, _ := json.Marshal(it)
		items[fmt.Sprint(it.(map[string]any)["id"])] = string(b)
	}
	for id := int64(6); id <= 20; id++ {
		ev := c.next(false)
		if c.entryID(ev) != id {
			t.Fatalf("event %+v, want entry %d", ev, id)
		}
		var v any
		if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		if want := items[strconv.FormatInt(id, 10)]; string(b) != want {
			t.Fatalf("entry %d data\n%s\nwant the /logs/api/entries item\n%s", id, b, want)
		}
	}
	if ev := c.next(false); ev.Event != "ready" || ev.Data != `{"last_id":20,"heartbeat_ms":15000}` {
		t.Fatalf("event %+v, want ready with last_id 20", ev)
	}

	store.add(streamEntry(21), streamEntry(22))
	checkIDs(t, "live", c.entries(2), []int64{21, 22})
	store.add(streamEntry(23))
	checkIDs(t, "live", c.entries(1), []int64{23})
}

// TestStreamResumePoint covers the resume points: Last-Event-ID before
// after, after past the newest entry, no resume point (newest, nothing
// old), and a backlog with a filter.
func TestStreamResumePoint(t *testing.T) {
	tests := map[string]struct {
		target   string
		header   string
		wantIDs  []int64
		wantLast int64
	}{
		"after":                       {"/logs/api/stream?after=17", "", []int64{18, 19, 20}, 20},
		"after zero":                  {"/logs/api/stream?after=0&hook_id=h1", "", []int64{1, 5, 9, 13, 17}, 20},
		"Last-Event-ID before after":  {"/logs/api/stream?after=3", "15", idRange(16, 20), 20},
		"Last-Event-ID alone":         {"/logs/api/stream", "19", []int64{20}, 20},
		"Last-Event-ID empty":         {"/logs/api/stream?after=18", "", []int64{19, 20}, 20},
		"after past the newest":       {"/logs/api/stream?after=900", "", nil, 20},
		"after beyond int64":          {"/logs/api/stream?after=99999999999999999999", "", nil, 20},
		"Last-Event-ID past newest":   {"/logs/api/stream?after=2", "1000", nil, 20},
		"newest":                      {"/logs/api/stream", "", nil, 20},
		"backlog zero":                {"/logs/api/stream?backlog=0", "", nil, 20},
		"backlog":                     {"/logs/api/stream?backlog=3", "", []int64{18, 19, 20}, 20},
		"backlog with filter":         {"/logs/api/stream?backlog=2&level=ERROR", "", []int64{13, 18}, 20},
		"backlog over the matches":    {"/logs/api/stream?backlog=1000&step=clone", "", idsWhere(20, func(e aggregator.Entry) bool { return e.Step == "clone" }), 20},
		"backlog ignored with after":  {"/logs/api/stream?backlog=5&after=19", "", []int64{20}, 20},
		"backlog ignored with header": {"/logs/api/stream?backlog=5", "19", []int64{20}, 20},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			store := streamStore(20)
			_, srv := streamServer(t, store, nil)
			var h http.Header
			if tc.header != "" || strings.Contains(name, "empty") {
				h = http.Header{"Last-Event-Id": {tc.header}}
			}
			c := openStream(t, srv, tc.target, h)
			ids, last := c.start()
			checkIDs(t, "catch-up", ids, tc.wantIDs)
			if last != tc.wantLast {
				t.Fatalf("ready last_id=%d, want %d", last, tc.wantLast)
			}
		})
	}
}

// TestStreamFilters checks every filter on the catch-up and on live
// entries, with the level aliases and the key's endpoints.
func TestStreamFilters(t *testing.T) {
	tests := map[string]struct {
		query string
		keep  func(aggregator.Entry) bool
	}{
		"level WARN is WARNING too": {"level=WARN", func(e aggregator.Entry) bool { return e.Level == "WARN" || e.Level == "WARNING" }},
		"level WARNING":             {"level=WARNING", func(e aggregator.Entry) bool { return e.Level == "WARN" || e.Level == "WARNING" }},
		"level ERROR":               {"level=ERROR", func(e aggregator.Entry) bool { return e.Level == "ERROR" }},
		"search":                    {"search=" + url.QueryEscape("fetch origin"), func(e aggregator.Entry) bool { return strings.Contains(e.Message, "fetch origin") }},
		"step":                      {"step=assign", func(e aggregator.Entry) bool { return e.Step == "assign" }},
		"hook_id":                   {"hook_id=h2", func(e aggregator.Entry) bool { return e.HookID == "h2" }},
		"pr_number":                 {"pr_number=101", func(e aggregator.Entry) bool { return e.PRNumber == 101 }},
		"pr_number zero":            {"pr_number=0", func(aggregator.Entry) bool { return false }},
		"repository and event":      {"repository=repo&event_type=pull_request", func(aggregator.Entry) bool { return true }},
		"github_user":               {"github_user=nobody", func(aggregator.Entry) bool { return false }},
		"combined":                  {"hook_id=h1&level=INFO&step=assign", func(e aggregator.Entry) bool { return e.HookID == "h1" && e.Level == "INFO" && e.Step == "assign" }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			store := streamStore(30)
			_, srv := streamServer(t, store, nil)
			c := openStream(t, srv, "/logs/api/stream?after=0&"+tc.query, nil)
			ids, last := c.start()
			checkIDs(t, "catch-up", ids, idsWhere(30, tc.keep))
			if last != 30 {
				t.Fatalf("ready last_id=%d, want 30", last)
			}
			checkLive(t, store, c, 31, tc.keep)
		})
	}
}

// TestStreamResumeAcrossDisconnect reads while entries are added, drops
// the connection mid-way, resumes with Last-Event-ID, and checks that the
// two streams together carry every entry once, in order.
func TestStreamResumeAcrossDisconnect(t *testing.T) {
	const total = 400
	store := streamStore(10)
	_, srv := streamServer(t, store, nil)
	c := openStream(t, srv, "/logs/api/stream?after=0", nil)
	ids, _ := c.start()

	var wg sync.WaitGroup
	wg.Go(func() {
		for id := int64(11); id <= total; id += 7 {
			store.add(streamEntries(id, min(id+6, total))...)
		}
	})
	ids = append(ids, c.entries(100-len(ids))...)
	c.close()

	h := http.Header{"Last-Event-Id": {strconv.FormatInt(ids[len(ids)-1], 10)}}
	c2 := openStream(t, srv, "/logs/api/stream?after=0", h)
	more, last := c2.start()
	ids = append(ids, more...)
	if last < ids[len(ids)-1] {
		t.Fatalf("ready last_id=%d before the last entry sent %d", last, ids[len(ids)-1])
	}
	ids = append(ids, c2.entries(total-len(ids))...)
	wg.Wait()
	checkIDs(t, "both streams", ids, idRange(1, total))
}

// TestStreamPollFallback checks that a stream finds new entries without
// the store's signal, by polling.
func TestStreamPollFallback(t *testing.T) {
	store := streamStore(3)
	_, srv := streamServer(t, silentStore{store}, func(o *httpapi.Options) { o.StreamPoll = 5 * time.Millisecond })
	c := openStream(t, srv, "/logs/api/stream", nil)
	if ids, last := c.start(); len(ids) != 0 || last != 3 {
		t.Fatalf("catch-up %v last_id %d, want none, 3", ids, last)
	}
	store.add(streamEntry(4))
	checkIDs(t, "polled", c.entries(1), []int64{4})
}

// silentStore never signals a change.
type silentStore struct{ *memStore }

func (silentStore) Changed() <-chan struct{} { return nil }
func (silentStore) Filled() <-chan struct{}  { return nil }

// TestStreamHeartbeat checks the ping comment of an idle stream.
func TestStreamHeartbeat(t *testing.T) {
	_, srv := streamServer(t, streamStore(3), func(o *httpapi.Options) { o.StreamHeartbeat = 5 * time.Millisecond })
	c := openStream(t, srv, "/logs/api/stream", nil)
	c.start()
	for range 2 {
		if ev := c.next(true); ev.Comment != "ping" || ev.Event != "" || ev.Data != "" {
			t.Fatalf("event %+v, want a ping comment", ev)
		}
	}
}

// TestStreamBadParams checks the 422 answers, in FastAPI's shape, before
// any stream starts.
func TestStreamBadParams(t *testing.T) {
	tests := map[string]struct {
		target, header string
		loc            string
		typ            string
	}{
		"after negative":      {"/logs/api/stream?after=-1", "", "query after", "greater_than_equal"},
		"after not a number":  {"/logs/api/stream?after=x", "", "query after", "int_parsing"},
		"after empty":         {"/logs/api/stream?after=", "", "query after", "int_parsing"},
		"backlog over":        {"/logs/api/stream?backlog=1001", "", "query backlog", "less_than_equal"},
		"backlog negative":    {"/logs/api/stream?backlog=-1", "", "query backlog", "greater_than_equal"},
		"pr_number":           {"/logs/api/stream?pr_number=abc", "", "query pr_number", "int_parsing"},
		"Last-Event-ID":       {"/logs/api/stream", "abc", "header last-event-id", "int_parsing"},
		"Last-Event-ID below": {"/logs/api/stream?after=1", "-5", "header last-event-id", "greater_than_equal"},
	}
	api, _ := testServer(t, streamStore(3), nil)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := get(api, tc.target, func(r *http.Request) {
				if tc.header != "" {
					r.Header.Set("Last-Event-ID", tc.header)
				}
			})
			if w.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d body %s, want 422", w.Code, w.Body)
			}
			var body struct {
				Detail []struct {
					Loc  []string `json:"loc"`
					Type string   `json:"type"`
				} `json:"detail"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Detail) != 1 {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if d := body.Detail[0]; strings.Join(d.Loc, " ") != tc.loc || d.Type != tc.typ {
				t.Fatalf("detail %+v, want loc %q type %q", d, tc.loc, tc.typ)
			}
		})
	}
}

// TestStreamAccess checks the viewer family's access rule and that a key
// sees only its endpoints, on the catch-up and live.
func TestStreamAccess(t *testing.T) {
	t.Run("no keys, untrusted", func(t *testing.T) {
		api, _ := testServer(t, streamStore(3), func(o *httpapi.Options) {
			o.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		})
		w := get(api, "/logs/api/stream")
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), `"detail"`) {
			t.Fatalf("status %d body %s, want 403 detail", w.Code, w.Body)
		}
	})
	t.Run("keys, no token", func(t *testing.T) {
		api, _ := testServer(t, streamStore(3), func(o *httpapi.Options) { o.APIKeys = authKeys() })
		w := get(api, "/logs/api/stream?after=x")
		if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" || !strings.Contains(w.Body.String(), `"detail"`) {
			t.Fatalf("status %d body %s, want 401 detail (and no validation first)", w.Code, w.Body)
		}
	})
	keyed := func(o *httpapi.Options) {
		o.APIKeys = append(authKeys(), apiKeyOf("none", "none-secret", httpapi.RoleViewer))
	}
	tests := map[string]struct {
		token string
		keep  func(aggregator.Entry) bool
	}{
		"owner sees all":         {ownerToken, func(aggregator.Entry) bool { return true }},
		"viewer of one endpoint": {viewerToken, func(e aggregator.Entry) bool { return e.Source == "webhook-server" }},
		"viewer of the other":    {otherToken, func(e aggregator.Entry) bool { return e.Source == "other" }},
		"key without endpoints":  {"none-secret", func(aggregator.Entry) bool { return false }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			store := streamStore(10)
			_, srv := streamServer(t, store, keyed)
			c := openStream(t, srv, "/logs/api/stream?after=0", http.Header{"Authorization": {"Bearer " + tc.token}})
			ids, last := c.start()
			checkIDs(t, "catch-up", ids, idsWhere(10, tc.keep))
			if last != 10 {
				t.Fatalf("ready last_id=%d, want 10", last)
			}
			checkLive(t, store, c, 11, tc.keep)
		})
	}
}

// TestStreamHead answers HEAD with the stream's headers and no body, at
// once.
func TestStreamHead(t *testing.T) {
	api, _ := testServer(t, streamStore(3), nil)
	r := httptest.NewRequest(http.MethodHead, "/logs/api/stream?after=1", nil)
	r.RemoteAddr = "127.0.0.1:1"
	w := httptest.NewRecorder()
	api.ServeHTTP(w, r)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/event-stream" || w.Body.Len() != 0 {
		t.Fatalf("HEAD: status %d Content-Type %q body %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

// TestStreamEnds checks that a stream's handler returns when its client
// goes away, and that http.Server.Shutdown ends open streams at once
// through CloseStreams, well before its deadline.
func TestStreamEnds(t *testing.T) {
	t.Run("client gone", func(t *testing.T) {
		api, _ := testServer(t, streamStore(3), func(o *httpapi.Options) { o.StreamPoll = time.Hour })
		done := make(chan struct{}, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			api.ServeHTTP(w, r)
			done <- struct{}{}
		}))
		t.Cleanup(srv.Close)
		c := openStream(t, srv, "/logs/api/stream", nil)
		c.start()
		c.close()
		select {
		case <-done:
		case <-time.After(streamWait):
			t.Fatal("the handler did not return after the client went away")
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		api, _ := testServer(t, streamStore(3), func(o *httpapi.Options) { o.StreamPoll = time.Hour })
		srv := httptest.NewUnstartedServer(api)
		srv.Config.RegisterOnShutdown(api.CloseStreams)
		srv.Start()
		t.Cleanup(srv.Close)
		c1 := openStream(t, srv, "/logs/api/stream", nil)
		c2 := openStream(t, srv, "/logs/api/stream?after=0", nil)
		c1.start()
		c2.start()
		ctx, cancel := context.WithTimeout(t.Context(), streamWait)
		defer cancel()
		if err := srv.Config.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v (the streams kept it waiting)", err)
		}
		c1.ended()
		c2.ended()
	})
	t.Run("opened after CloseStreams", func(t *testing.T) {
		api, srv := streamServer(t, streamStore(3), nil)
		api.CloseStreams()
		api.CloseStreams() // idempotent
		c := openStream(t, srv, "/logs/api/stream?after=0", nil)
		ids, last := c.start()
		checkIDs(t, "catch-up", ids, []int64{1, 2, 3})
		if last != 3 {
			t.Fatalf("ready last_id=%d, want 3", last)
		}
		c.ended()
	})
}

// TestStreamStoreErrors: a store failure before the stream starts is a
// 500 in the family's shape; during the stream it ends the stream.
func TestStreamStoreErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	t.Run("before", func(t *testing.T) {
		api, logs := testServer(t, &funcStore{LastIDFunc: func(context.Context) (int64, error) { return 0, boom }}, nil)
		w := get(api, "/logs/api/stream")
		if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "fire") {
			t.Fatalf("status %d body %s, want 500 without the error", w.Code, w.Body)
		}
		if !strings.Contains(logs.String(), "disk on fire") {
			t.Errorf("the error is not logged: %s", logs)
		}
	})
	t.Run("during", func(t *testing.T) {
		store := &funcStore{
			LastIDFunc: func(context.Context) (int64, error) { return 5, nil },
			TailFunc: func(context.Context, aggregator.TailQuery) (aggregator.TailPage, error) {
				return aggregator.TailPage{}, boom
			},
		}
		_, srv := streamServer(t, store, nil)
		c := openStream(t, srv, "/logs/api/stream?after=1", nil)
		if ev := c.next(false); ev.Retry != "1000" {
			t.Fatalf("first event %+v", ev)
		}
		c.ended()
	})
}

// TestStreamPages checks that a long catch-up is read in pages, each
// continuing after the previous one's LastID.
func TestStreamPages(t *testing.T) {
	store := streamStore(3000)
	_, srv := streamServer(t, store, nil)
	c := openStream(t, srv, "/logs/api/stream?after=0&level=INFO", nil)
	ids, last := c.start()
	checkIDs(t, "catch-up", ids, idsWhere(3000, func(e aggregator.Entry) bool { return e.Level == "INFO" }))
	if last != 3000 {
		t.Fatalf("ready last_id=%d, want 3000", last)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	var after []int64
	for _, q := range store.tqueries {
		if q.Limit > 500 || q.Newest || !slices.Equal(q.Filter.Levels, []string{"INFO"}) {
			t.Errorf("tail query %+v", q)
		}
		after = append(after, q.AfterID)
	}
	if len(after) < 2 || after[0] != 0 {
		t.Errorf("tail queries after %v, want pages from 0", after)
	}
}

// FuzzStream sends arbitrary parameters and Last-Event-ID headers to the
// stream on a request whose client is already gone: the answer is never
// a 500, errors are {"detail": …}, and a stream starts with retry.
func FuzzStream(f *testing.F) {
	for _, s := range []struct{ query, header string }{
		{"after=3&backlog=2", ""}, {"backlog=1000&level=WARN", "7"}, {"after=-1", "x"}, {"pr_number=%ff", " 4.0 "},
		{"after=99999999999999999999&search=%22a", "-0"}, {"backlog=1.5", "1e3"}, {"step=&hook_id=h1", ""},
	} {
		f.Add(s.query, s.header)
	}
	api, _ := testServer(f, streamStore(50), func(o *httpapi.Options) {
		o.Logger = slog.New(slog.DiscardHandler)
	})
	f.Fuzz(func(t *testing.T, query, header string) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
		r.URL = &url.URL{Path: "/logs/api/stream", RawQuery: query}
		r.RemoteAddr = "127.0.0.1:1"
		if header != "" && !strings.ContainsAny(header, "\r\n") {
			r.Header.Set("Last-Event-ID", header)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		switch {
		case w.Code >= 500:
			t.Fatalf("?%q Last-Event-ID %q: status %d body %s", query, header, w.Code, w.Body)
		case w.Code == http.StatusOK:
			if w.Header().Get("Content-Type") != "text/event-stream" || !strings.HasPrefix(w.Body.String(), "retry: 1000\n\n") {
				t.Fatalf("?%q: 200 with %q %q", query, w.Header().Get("Content-Type"), w.Body)
			}
		default:
			var m map[string]json.RawMessage
			if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || len(m) != 1 || m["detail"] == nil {
				t.Fatalf("?%q: status %d body %s, want {\"detail\": …}", query, w.Code, w.Body)
			}
		}
	})
}

// TestStreamSQLite runs a filtered tail over the SQLite store while
// batches are ingested concurrently, drops the connection mid-way and
// resumes with Last-Event-ID: the two streams carry every matching entry
// exactly once, in ID order, woken by the store's own signal.
func TestStreamSQLite(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hooktail.db"),
		sqlite.Options{Logger: slog.New(slog.DiscardHandler), RetentionInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	const batches, perBatch = 40, 25
	batch := func(n int) *aggregator.Batch {
		b := &aggregator.Batch{AgentID: "a1"}
		for i := range perBatch {
			e := streamEntry(int64(n*perBatch + i + 1))
			e.ID, e.Attempt, e.TimestampRaw = 0, 0, e.Timestamp.Format(time.RFC3339Nano)
			b.Entries = append(b.Entries, e)
		}
		return b
	}
	ingest := func(n int) {
		if _, err := store.Ingest(context.Background(), batch(n)); err != nil {
			t.Errorf("Ingest: %v", err)
		}
	}
	ingest(0)
	_, srv := streamServer(t, store, nil)
	// Entries 1, 2, … in ingest order get IDs 1, 2, …: the filter keeps
	// those whose message has "fetch origin" (i%3 == 1) at WARN or
	// WARNING.
	keep := func(e aggregator.Entry) bool {
		return strings.Contains(e.Message, "fetch origin") && (e.Level == "WARN" || e.Level == "WARNING")
	}
	want := idsWhere(batches*perBatch, keep)
	target := "/logs/api/stream?after=0&level=WARN&search=" + url.QueryEscape(`"fetch origin"`)
	c := openStream(t, srv, target, nil)
	ids, _ := c.start()
	checkIDs(t, "first batch", ids, idsWhere(perBatch, keep))

	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 1; n < batches; n++ {
			ingest(n)
		}
	})
	ids = append(ids, c.entries(len(want)/2-len(ids))...)
	c.close()
	c2 := openStream(t, srv, target, http.Header{"Last-Event-Id": {strconv.FormatInt(ids[len(ids)-1], 10)}})
	more, _ := c2.start()
	ids = append(ids, more...)
	ids = append(ids, c2.entries(len(want)-len(ids))...)
	wg.Wait()
	checkIDs(t, "both streams", ids, want)
}

// TestStreamMetrics checks that open streams are counted, and that a
// stream's length never lands in the request duration histogram (it would
// make every percentile of the route meaningless); its errors still do.
func TestStreamMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	api, srv := streamServer(t, streamStore(3), nil)
	reg.MustRegister(api)
	gauge := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "hooktail_http_streams_open" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no hooktail_http_streams_open")
		return 0
	}
	if g := gauge(); g != 0 {
		t.Fatalf("streams open before any: %v", g)
	}
	c := openStream(t, srv, "/logs/api/stream?backlog=2", nil)
	c.start()
	if g := gauge(); g != 1 {
		t.Errorf("streams open with one client: %v, want 1", g)
	}
	resp, err := srv.Client().Get(srv.URL + "/logs/api/stream?backlog=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.close()
	deadline := time.Now().Add(streamWait)
	for gauge() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("streams open after the client left: %v, want 0", gauge())
		}
		time.Sleep(time.Millisecond) // poll: the handler returns after the client left
	}
	got := histogramCounts(t, reg, "hooktail_http_request_duration_seconds")
	if n := got["code=200,route=/logs/api/stream"]; n != 0 {
		t.Errorf("a stream's duration was observed %d times", n)
	}
	if n := got["code=422,route=/logs/api/stream"]; n != 1 {
		t.Errorf("a bad stream request was observed %d times, want 1 (all: %v)", n, got)
	}
}

// TestStreamEndsWhenAccessChanges checks that a reload of keys or networks
// ends the streams admitted under the old rules: a revoked key must not
// keep reading. The client reconnects under the new rules.
func TestStreamEndsWhenAccessChanges(t *testing.T) {
	tests := map[string]func(api *httpapi.Server) error{
		"keys": func(api *httpapi.Server) error {
			return api.SetAPIKeys([]httpapi.APIKey{apiKeyOf("new", "new-secret", httpapi.RoleOwner)})
		},
		"networks": func(api *httpapi.Server) error { return api.SetAccess(nil, nil) },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			api, srv := streamServer(t, streamStore(3), func(o *httpapi.Options) { o.APIKeys = authKeys() })
			auth := http.Header{"Authorization": {"Bearer " + ownerToken}}
			c := openStream(t, srv, "/logs/api/stream?after=0", auth)
			c.start()
			if err := change(api); err != nil {
				t.Fatal(err)
			}
			c.ended()
			if name == "keys" {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/logs/api/stream", nil)
				req.Header = auth
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("reconnect with the revoked key: status %d, want 401", resp.StatusCode)
				}
			}
		})
	}
}

// TestStreamClientStopsReading checks that a client that stops reading
// cannot hold its handler forever: a burst that cannot be written within
// two heartbeats ends the stream.
func TestStreamClientStopsReading(t *testing.T) {
	store := &memStore{}
	big := strings.Repeat("x", 8<<10)
	for id := int64(1); id <= 4000; id++ { // 32 MiB: more than the socket buffers hold
		e := streamEntry(id)
		e.Message = big
		store.entries = append(store.entries, e)
	}
	reg := prometheus.NewPedanticRegistry()
	api, srv := streamServer(t, store, func(o *httpapi.Options) { o.StreamHeartbeat = 100 * time.Millisecond })
	reg.MustRegister(api)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET /logs/api/stream?after=0 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing. The handler opens, blocks writing, and
	// must end.
	open := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "hooktail_http_streams_open" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	deadline := time.Now().Add(streamWait)
	for seen := false; ; {
		n := open()
		seen = seen || n == 1
		if seen && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams open: %v (seen open: %v); want the stuck stream ended", n, seen)
		}
		time.Sleep(5 * time.Millisecond) // poll
	}
}

// TestStreamLimit checks that the live tails open at once are bounded: one
// more is a 503 in the family's shape, and a place freed is taken again.
func TestStreamLimit(t *testing.T) {
	_, srv := streamServer(t, streamStore(3), func(o *httpapi.Options) { o.MaxStreams = 2 })
	a := openStream(t, srv, "/logs/api/stream", nil)
	a.start()
	b := openStream(t, srv, "/logs/api/stream", nil)
	b.start()
	resp, err := srv.Client().Get(srv.URL + "/logs/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"detail":"Too many live tails`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: status %d, Retry-After %q, body %s; want 503 with a detail", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	a.close()
	deadline := time.Now().Add(streamWait)
	for {
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/logs/api/stream", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		code := resp.StatusCode
		resp.Body.Close()
		cancel()
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a client left: status %d, want a stream", code)
		}
		time.Sleep(5 * time.Millisecond) // poll: the left stream's handler ends asynchronously
	}
}

// TestStreamLateFill checks that a stream of one delivery gets the entries
// that join the delivery after it passed their ids (a text line stored
// without a hook_id gets it from its JSONL copy), once each, as fill events
// without an event ID; after a reconnect it gets the ones it lacks.
func TestStreamLateFill(t *testing.T) {
	store := streamStore(8) // hooks h0..h3 by id%4
	_, srv := streamServer(t, store, nil)
	c := openStream(t, srv, "/logs/api/stream?hook_id=h1&after=0", nil)
	ids, last := c.start()
	checkIDs(t, "catch-up", ids, []int64{1, 5})
	if last != 8 {
		t.Fatalf("ready last_id=%d, want 8", last)
	}
	// Entry 2 (of h2) and 7 (of h3) get hook h1, as a fill of a copy does,
	// then a new entry comes.
	fill := func(ids ...int64) {
		store.mu.Lock()
		for i := range store.entries {
			if slices.Contains(ids, store.entries[i].ID) {
				store.entries[i].HookID = "h1"
			}
		}
		store.mu.Unlock()
		store.filled.Notify()
	}
	fill(2, 7)
	next := streamEntry(9) // h1
	store.add(next)
	var entries, fills []int64
	for len(entries) < 1 || len(fills) < 2 {
		ev := c.next(false)
		switch ev.Event {
		case "entry":
			entries = append(entries, c.entryID(ev))
		case "fill":
			if ev.ID != "" {
				t.Fatalf("fill event with an event ID: %+v", ev)
			}
			var e struct {
				ID     int64  `json:"id"`
				HookID string `json:"hook_id"`
			}
			if err := json.Unmarshal([]byte(ev.Data), &e); err != nil || e.HookID != "h1" {
				t.Fatalf("fill event %+v: %v", ev, err)
			}
			fills = append(fills, e.ID)
		default:
			t.Fatalf("unexpected event %+v", ev)
		}
	}
	checkIDs(t, "entries", entries, []int64{9})
	checkIDs(t, "fills", fills, []int64{2, 7})
	// Nothing more: no fill is sent twice.
	store.add(streamEntry(10)) // h2: wakes the stream, sends nothing
	store.add(streamEntry(13)) // h1
	checkIDs(t, "after the fills", c.entries(1), []int64{13})

	// A reconnect after the last entry sends every entry of the delivery
	// at or below it as a fill (the client drops those it has).
	c.close()
	c2 := openStream(t, srv, "/logs/api/stream?hook_id=h1", http.Header{"Last-Event-ID": {"13"}})
	if ev := c2.next(false); ev.Retry != "1000" {
		t.Fatalf("first event %+v", ev)
	}
	var got []int64
	for {
		ev := c2.next(false)
		if ev.Event == "ready" {
			break
		}
		if ev.Event != "fill" {
			t.Fatalf("unexpected event %+v", ev)
		}
		var e struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e.ID)
	}
	checkIDs(t, "fills after a reconnect", got, []int64{1, 2, 5, 7, 9, 13})
}

// TestStreamLateFillStartsNow checks that a stream of one delivery that
// starts now (no resume point; a backlog at most) sends nothing older as
// fills: only what joins the delivery from then on.
func TestStreamLateFillStartsNow(t *testing.T) {
	for _, target := range []string{"/logs/api/stream?hook_id=h1", "/logs/api/stream?hook_id=h1&backlog=1"} {
		store := streamStore(8)
		_, srv := streamServer(t, store, nil)
		c := openStream(t, srv, target, nil)
		ids, _ := c.start()
		if strings.Contains(target, "backlog") {
			checkIDs(t, target+" backlog", ids, []int64{5})
		}
		store.add(streamEntry(9))
		checkIDs(t, target+" live", c.entries(1), []int64{9})
	}
}

// TestStreamLateFillOnlyWhenFilled checks that a stream of one delivery
// reads the delivery again only after the store says an entry was
// completed, and that a fill is not missed when another of the
// delivery's entries was deleted meanwhile.
func TestStreamLateFillOnlyWhenFilled(t *testing.T) {
	store := streamStore(8)
	_, srv := streamServer(t, store, nil)
	c := openStream(t, srv, "/logs/api/stream?hook_id=h1&after=0", nil)
	c.start()
	queries := func() int {
		store.mu.Lock()
		defer store.mu.Unlock()
		return len(store.queries)
	}
	before := queries()
	store.add(streamEntry(9), streamEntry(10)) // 9 is h1's
	checkIDs(t, "live", c.entries(1), []int64{9})
	store.add(streamEntry(13))
	checkIDs(t, "live", c.entries(1), []int64{13})
	if n := queries() - before; n != 0 {
		t.Errorf("%d reads of the delivery without a fill", n)
	}
	// Entry 1 (h1) is deleted and entry 2 joins h1: the count of the
	// delivery stays the same, the fill must still come.
	store.mu.Lock()
	store.entries = slices.DeleteFunc(store.entries, func(e aggregator.Entry) bool { return e.ID == 1 })
	for i := range store.entries {
		if store.entries[i].ID == 2 {
			store.entries[i].HookID = "h1"
		}
	}
	store.mu.Unlock()
	store.filled.Notify()
	store.add(streamEntry(14)) // h2: only wakes the stream
	ev := c.next(false)
	var e struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(ev.Data), &e); ev.Event != "fill" || err != nil || e.ID != 2 {
		t.Fatalf("event %+v, want the fill of entry 2", ev)
	}
}
