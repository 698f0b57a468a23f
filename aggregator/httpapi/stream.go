package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooktail/hooktail/aggregator"
)

// Defaults of the Options of /logs/api/stream.
const (
	// DefaultStreamHeartbeat is the default Options.StreamHeartbeat: well
	// under the idle timeouts of common proxies (60 s).
	DefaultStreamHeartbeat = 15 * time.Second
	// DefaultStreamPoll is the default Options.StreamPoll.
	DefaultStreamPoll = time.Second
	// DefaultMaxStreams is the default Options.MaxStreams. Each stream
	// holds a goroutine, a 32 KiB buffer and a query a second.
	DefaultMaxStreams = 512
)

const (
	contentTypeEventStream = "text/event-stream"
	// streamPage is the number of entries one store call of a stream
	// reads at most.
	streamPage = 500
	// maxBacklog bounds the backlog parameter.
	maxBacklog = 1000
	// streamRetry is the reconnection delay the stream asks EventSource
	// clients for.
	streamRetry = "retry: 1000\n\n"
	// lastEventIDParam is the Last-Event-ID header as FastAPI names a
	// header parameter in its errors.
	lastEventIDParam = "last-event-id"
)

// errStreamsClosed ends a stream's catch-up once CloseStreams was called.
var errStreamsClosed = errors.New("streams closed: shutting down")

// errAccessChanged ends a stream admitted under access rules that a reload
// has replaced.
var errAccessChanged = errors.New("access rules changed: the client must reconnect")

// streamSet holds what the open streams share: their timing and the
// signal that ends them.
type streamSet struct {
	heartbeat time.Duration
	poll      time.Duration
	closing   chan struct{}
	once      sync.Once
	// open counts the streams being served (hooktail_http_streams_open),
	// at most maxOpen.
	open    atomic.Int64
	maxOpen int64
	// accessChanged wakes the streams when keys, networks or proxies
	// change: a stream was admitted under the old rules, so it ends, and
	// its client reconnects under the new ones.
	accessChanged aggregator.Broadcast
}

func newStreamSet(heartbeat, poll time.Duration, maxOpen int) *streamSet {
	if maxOpen <= 0 {
		maxOpen = DefaultMaxStreams
	}
	if heartbeat <= 0 {
		heartbeat = DefaultStreamHeartbeat
	}
	if poll <= 0 {
		poll = DefaultStreamPoll
	}
	return &streamSet{heartbeat: heartbeat, poll: poll, maxOpen: int64(maxOpen), closing: make(chan struct{})}
}

// CloseStreams ends every open /logs/api/stream answer, and makes those
// opened from now on end after their catch-up. A stream never ends on its
// own, and http.Server.Shutdown waits for every handler: register this
// with http.Server.RegisterOnShutdown. Clients reconnect (to another
// instance, or to this one restarted) from the last entry they got.
// Safe to call more than once and concurrently.
func (s *Server) CloseStreams() {
	s.streams.once.Do(func() { close(s.streams.closing) })
}

// handleStream serves GET /logs/api/stream: a live tail of the entries
// that match the filters, as server-sent events, oldest ID first. It
// resumes after the Last-Event-ID header, else after the after parameter;
// without either it starts at the newest entry, after a backlog of the
// last backlog matching entries. See openapi.json for the wire format.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	q := newQueryParams(r)
	pr := q.integer("pr_number", intRule{})
	after := q.integer("after", offsetRule())
	backlog := q.integer("backlog", intRule{max: maxBacklog, hasMin: true, hasMax: true})
	resume := q.headerInteger(r, lastEventIDParam, offsetRule())
	if len(q.errs) > 0 {
		writeValidation(w, q.errs)
		return
	}
	filter, none := viewerFilter(r, q, pr)
	filter.Step = q.str("step")

	if r.Method == http.MethodHead {
		setStreamHeaders(w)
		w.WriteHeader(http.StatusOK)
		return
	}
	// The slot is taken before any query: requests over the limit cost
	// nothing.
	if n := s.streams.open.Add(1); n > s.streams.maxOpen {
		s.streams.open.Add(-1)
		w.Header().Set("Retry-After", "5")
		writeDetail(w, http.StatusServiceUnavailable,
			fmt.Sprintf("Too many live tails are open (%d): try again later", s.streams.maxOpen))
		return
	}
	defer s.streams.open.Add(-1)
	ctx := r.Context()
	revoked := s.streams.accessChanged.Wait()
	top, err := s.store.LastID(ctx)
	if err != nil {
		s.storeError(w, r, "last id", err)
		return
	}
	last := top
	// A resume point past the newest entry (the database was replaced)
	// is the newest entry.
	var backlogPage []aggregator.Entry
	switch {
	case resume.set:
		last = min(last, resume.value)
	case after.set:
		last = min(last, after.value)
	case backlog.value > 0 && !none:
		page, err := s.store.Tail(ctx, aggregator.TailQuery{Filter: filter, Limit: toInt(backlog.value), Newest: true})
		if err != nil {
			s.storeError(w, r, "tail backlog", err)
			return
		}
		backlogPage, last = page.Entries, page.LastID
	}

	// A stream of one delivery also follows the entries that join it
	// late (lateFills).
	var fills *lateFills
	if filter.HookID != "" && !none {
		// A resuming client may lack fills made while it was away: the
		// first catch-up looks for them whatever the signal says.
		fills = &lateFills{sent: make(map[int64]struct{}), filled: s.store.Filled(), check: resume.set || after.set}
		if !fills.check {
			// The stream starts now (after its backlog): what the
			// delivery holds already is not late.
			if err := s.knownFills(ctx, filter, last, fills); err != nil {
				s.storeError(w, r, "late fills", err)
				return
			}
		}
	}

	setStreamHeaders(w)
	rc := http.NewResponseController(w)
	// No server-wide write timeout may cut a stream.
	_ = rc.SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	// A burst that takes two heartbeats to write has a client that stopped
	// reading.
	sw := newSSEWriter(w, rc, 2*s.streams.heartbeat)
	sw.raw(streamRetry)
	send := func(e *aggregator.Entry) {
		sw.entry(e)
		if fills != nil {
			fills.sent[e.ID] = struct{}{}
		}
	}
	for i := range backlogPage {
		send(&backlogPage[i])
	}
	if none {
		// Nothing can match: every matching entry up to the newest was
		// sent.
		last = top
	}
	if err := sw.flush(); err != nil {
		s.streamEnded(r, err)
		return
	}

	// catchUp sends every matching entry past last and returns the
	// channel of the next change, taken before the last read.
	catchUp := func() (<-chan struct{}, error) {
		for {
			changed := s.store.Changed()
			if none {
				return changed, sw.flush()
			}
			page, err := s.store.Tail(ctx, aggregator.TailQuery{Filter: filter, AfterID: last, Limit: streamPage})
			if err != nil {
				s.logStoreError(r, "tail", err)
				return nil, err
			}
			for i := range page.Entries {
				send(&page.Entries[i])
			}
			last = page.LastID
			if err := sw.flush(); err != nil {
				return changed, err
			}
			if !page.More {
				if fills != nil && fills.due() {
					if err := s.sendLateFills(ctx, sw, filter, last, fills); err != nil {
						s.logStoreError(r, "late fills", err)
						return nil, err
					}
				}
				return changed, nil
			}
			select {
			case <-s.streams.closing:
				return nil, errStreamsClosed
			case <-revoked:
				return nil, errAccessChanged
			default:
			}
		}
	}
	changed, err := catchUp()
	if err != nil {
		s.streamEnded(r, err)
		return
	}
	sw.raw(fmt.Sprintf("event: ready\ndata: {\"last_id\":%d,\"heartbeat_ms\":%d}\n\n", last, s.streams.heartbeat.Milliseconds()))
	if err := sw.flush(); err != nil {
		s.streamEnded(r, err)
		return
	}

	heartbeat := time.NewTicker(s.streams.heartbeat)
	defer heartbeat.Stop()
	poll := time.NewTicker(s.streams.poll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.streams.closing:
			return
		case <-revoked:
			s.streamEnded(r, errAccessChanged)
			return
		case <-heartbeat.C:
			sw.raw(": ping\n\n")
			if err := sw.flush(); err != nil {
				s.streamEnded(r, err)
				return
			}
			continue
		case <-changed:
		case <-poll.C:
		}
		if changed, err = catchUp(); err != nil {
			s.streamEnded(r, err)
			return
		}
	}
}

// maxLateFills bounds the entries of one delivery that lateFills reads.
const maxLateFills = 10000

// lateFills follows, for a stream of one delivery (a hook_id filter), the
// entries that join the delivery after the stream passed their id: a text
// line stored without a hook_id gets it when its JSONL copy arrives (SPEC
// §4), and keeps its id. Such an entry is sent as a fill event: after
// entries with larger ids, and without an id line, so that it does not
// move a client's Last-Event-ID back. The delivery is read again only
// after the store says an entry was completed (Store.Filled), or once
// after a resume.
type lateFills struct {
	// sent holds the ids of the delivery's entries the stream has sent.
	sent map[int64]struct{}
	// filled is the store's signal, taken before the last read.
	filled <-chan struct{}
	// check forces the next look.
	check bool
}

// due reports whether the delivery must be read again for fills, and if
// so takes the store's next signal (before the read).
func (f *lateFills) due() bool {
	select {
	case <-f.filled:
		f.check = true
	default:
	}
	if !f.check {
		return false
	}
	f.check = false
	return true
}

// deliveryEntries reads the delivery's first maxLateFills entries.
func (s *Server) deliveryEntries(ctx context.Context, filter aggregator.EntryFilter) (aggregator.EntryPage, error) {
	return s.store.Entries(ctx, aggregator.EntryQuery{Filter: filter, Limit: maxLateFills, Order: aggregator.OldestFirst})
}

// knownFills marks the delivery's entries up to last as sent.
func (s *Server) knownFills(ctx context.Context, filter aggregator.EntryFilter, last int64, f *lateFills) error {
	page, err := s.deliveryEntries(ctx, filter)
	if err != nil {
		return err
	}
	for i := range page.Entries {
		if page.Entries[i].ID <= last {
			f.sent[page.Entries[i].ID] = struct{}{}
		}
	}
	return nil
}

// sendLateFills sends as fill events the entries of the delivery (its
// first maxLateFills) with ids up to last that the stream has not sent.
func (s *Server) sendLateFills(ctx context.Context, sw *sseWriter, filter aggregator.EntryFilter, last int64, f *lateFills) error {
	f.filled = s.store.Filled()
	page, err := s.deliveryEntries(ctx, filter)
	if err != nil {
		return err
	}
	sent := make(map[int64]struct{}, len(page.Entries))
	for id := range f.sent {
		if id > last {
			sent[id] = struct{}{}
		}
	}
	for i := range page.Entries {
		e := &page.Entries[i]
		if e.ID > last {
			continue // stored after the last read: the next catch-up sends it
		}
		if _, was := f.sent[e.ID]; !was {
			sw.fill(e)
		}
		sent[e.ID] = struct{}{}
	}
	f.sent = sent
	return sw.flush()
}

// streamEnded logs why a stream ended early, at Debug: the client went
// away, or a store error already logged.
func (s *Server) streamEnded(r *http.Request, err error) {
	s.log.DebugContext(r.Context(), "stream ended", logKeyPath, r.URL.Path, logKeyError, err)
}

// setStreamHeaders sets the headers of an event stream: no caching, and
// no buffering by a proxy (nginx honours X-Accel-Buffering).
func setStreamHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", contentTypeEventStream)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
}

// headerInteger reads an optional integer header parameter as integer
// reads a query parameter (the last value wins; empty means absent), with
// FastAPI's errors located at ["header", name].
func (q *queryParams) headerInteger(r *http.Request, name string, rule intRule) intParam {
	vs := r.Header.Values(name)
	if len(vs) == 0 || vs[len(vs)-1] == "" {
		return intParam{value: rule.def}
	}
	hq := &queryParams{values: url.Values{name: {vs[len(vs)-1]}}}
	p := hq.integer(name, rule)
	for _, e := range hq.errs {
		e.Loc = []string{"header", name}
		q.errs = append(q.errs, e)
	}
	return p
}

// sseWriter writes server-sent events through a buffer; flush sends what
// is buffered to the client. The first error sticks. Each burst of writes
// (from the first write after a flush to the flush) must be done within
// timeout: a client that stops reading would otherwise hold its handler
// in a write forever, out of reach of CloseStreams.
type sseWriter struct {
	w       *bufio.Writer
	rc      *http.ResponseController
	buf     bytes.Buffer
	enc     *json.Encoder
	err     error
	timeout time.Duration
	armed   bool
}

func newSSEWriter(w http.ResponseWriter, rc *http.ResponseController, timeout time.Duration) *sseWriter {
	sw := &sseWriter{w: bufio.NewWriterSize(w, 32<<10), rc: rc, timeout: timeout}
	sw.enc = json.NewEncoder(&sw.buf)
	sw.enc.SetEscapeHTML(false)
	return sw
}

// arm sets the write deadline of the burst that starts.
func (sw *sseWriter) arm() {
	if !sw.armed {
		sw.armed = true
		if err := sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			sw.err = fmt.Errorf("set stream write deadline: %w", err)
		}
	}
}

// raw writes literal event text.
func (sw *sseWriter) raw(text string) {
	sw.arm()
	if sw.err == nil {
		_, sw.err = sw.w.WriteString(text)
	}
}

// entry writes e as an entry event: its ID as the event ID, and its JSON
// (as one item of /logs/api/entries) on one data line; JSON encoding
// escapes every line break.
func (sw *sseWriter) entry(e *aggregator.Entry) { sw.event(e, true) }

// fill writes e as a fill event: an entry that joined the stream's filter
// after the stream passed its ID. It has no event ID, which would move the
// client's Last-Event-ID back.
func (sw *sseWriter) fill(e *aggregator.Entry) { sw.event(e, false) }

func (sw *sseWriter) event(e *aggregator.Entry, withID bool) {
	sw.arm()
	if sw.err != nil {
		return
	}
	sw.buf.Reset()
	if withID {
		sw.buf.WriteString("id: ")
		sw.buf.Write(strconv.AppendInt(sw.buf.AvailableBuffer(), e.ID, 10))
		sw.buf.WriteString("\nevent: entry\ndata: ")
	} else {
		sw.buf.WriteString("event: fill\ndata: ")
	}
	if err := sw.enc.Encode(newLogEntry(e)); err != nil { // ends with "\n"
		sw.err = fmt.Errorf("encode entry %d: %w", e.ID, err)
		return
	}
	sw.buf.WriteByte('\n')
	_, sw.err = sw.w.Write(sw.buf.Bytes())
}

// flush sends the buffered events to the client and ends the burst.
func (sw *sseWriter) flush() error {
	sw.arm()
	defer func() { sw.armed = false }()
	if sw.err != nil {
		return sw.err
	}
	if err := sw.w.Flush(); err != nil {
		sw.err = fmt.Errorf("write stream: %w", err)
		return sw.err
	}
	if err := sw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		sw.err = fmt.Errorf("flush stream: %w", err)
	}
	return sw.err
}
