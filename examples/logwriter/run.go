package logwriter

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

func timeOf(usec int64) time.Time      { return time.UnixMicro(usec).UTC() }
func timeDur(usec int64) time.Duration { return time.Duration(usec) * time.Microsecond }

// deliveryHeap orders in-flight deliveries by their next record's time,
// then by sequence number, so that interleaving is deterministic.
type deliveryHeap []*delivery

func (h deliveryHeap) Len() int { return len(h) }
func (h deliveryHeap) Less(i, j int) bool {
	a, b := h[i].recs[h[i].next].at, h[j].recs[h[j].next].at
	if a != b {
		return a < b
	}
	return h[i].seq < h[j].seq
}
func (h deliveryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deliveryHeap) Push(x any)   { *h = append(*h, x.(*delivery)) }
func (h *deliveryHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	*h = old[:len(old)-1]
	return d
}

// generator interleaves delivery scripts into one record stream.
type generator struct {
	o       Options
	r       *rand.Rand
	active  deliveryHeap
	sticky  *delivery // a delivery whose next record is glued to the last one
	started int
	lastSim int64 // simulated time of the last record handed out
}

func newGenerator(o Options) *generator {
	seed := uint64(o.Seed)
	g := &generator{o: o, r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	t0 := o.Clock().UnixMicro()
	g.lastSim = t0
	for i := 0; i < o.Concurrency && g.more(); i++ {
		g.startDelivery(t0 + int64(i)*g.r.Int64N(1500*ms))
	}
	return g
}

func (g *generator) more() bool { return g.o.Deliveries == 0 || g.started < g.o.Deliveries }

func (g *generator) startDelivery(at int64) {
	if g.r.IntN(8) == 0 { // now and then a whole second: isoformat drops the fraction
		at = (at/sec + 1) * sec
	}
	d := newDelivery(g.r, int64(g.started), g.o.FailureRate)
	g.started++
	d.script(g.r, at, g.o.Legacy)
	heap.Push(&g.active, d)
}

// next hands out the next record in time order and its delivery; done is
// true when the delivery has no records left. ok is false at the end.
func (g *generator) next() (rec *record, d *delivery, done, ok bool) {
	if g.sticky != nil {
		d, g.sticky = g.sticky, nil
	} else {
		if len(g.active) == 0 {
			return nil, nil, false, false
		}
		d = heap.Pop(&g.active).(*delivery)
	}
	rec = &d.recs[d.next]
	d.next++
	if rec.at > g.lastSim {
		g.lastSim = rec.at
	}
	switch {
	case d.next == len(d.recs):
		done = true
		if g.more() {
			g.startDelivery(g.lastSim + 50*ms + g.r.Int64N(3*sec))
		}
	case d.recs[d.next].glue:
		g.sticky = d
	default:
		heap.Push(&g.active, d)
	}
	return rec, d, done, true
}

// deliveryTally accumulates a delivery's manifest line.
type deliveryTally struct {
	records     int
	first, last string
}

// Run writes webhook-server logs into opts.Dir until opts.Deliveries are
// written or ctx is cancelled, in which case it returns ctx.Err() (wrapped)
// with the stats so far; the file is always flushed and closed.
func Run(ctx context.Context, opts Options) (Stats, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Stats{}, err
	}
	batch := o.BatchBytes
	if o.Rate > 0 {
		batch = 0
	}
	rf, err := openRotatingFile(o.Dir, o.File, o.MaxBytes, o.Backups, o.Rotation, batch)
	if err != nil {
		return Stats{}, err
	}
	w := &runner{o: o, rf: rf, g: newGenerator(o), tallies: map[*delivery]*deliveryTally{}, logger: o.File}
	if o.JSONL != JSONLOff {
		w.jl = newJSONLFile(o.Dir, batch, o.Seed)
	}
	err = w.loop(ctx)
	if cerr := rf.close(); cerr != nil && err == nil {
		err = cerr
	}
	if w.jl != nil {
		if cerr := w.jl.close(); cerr != nil && err == nil {
			err = cerr
		}
		w.st.JSONLEntries, w.st.JSONLSummaries, w.st.JSONLFiles = w.jl.entries, w.jl.summaries, w.jl.files
	}
	if ferr := w.flushManifest(); ferr != nil && err == nil {
		err = ferr
	}
	w.st.Bytes, w.st.Writes, w.st.Rotations = rf.bytes, rf.writes, rf.rotations
	return w.st, err
}

// runner is Run's state.
type runner struct {
	o  Options
	rf *rotatingFile
	jl *jsonlFile // nil with JSONLOff
	g  *generator
	st Stats
	js pyJSON // the JSONL line being built

	logger  string // upstream renames the logger to GithubWebhook at the first webhook
	lastOut int64  // µs of the last timestamp written; timestamps strictly increase

	// DuplicateFilter state: the last record's (level, msg) and how many
	// identical records were dropped since.
	started  bool
	dupLevel level
	dupMsg   []byte
	dupCount int

	buf     []byte // the record being written
	msg     []byte // its full message
	suffix  []byte // its DuplicateFilter suffix
	mbuf    []byte
	pending []observed
	tallies map[*delivery]*deliveryTally
}

func (w *runner) loop(ctx context.Context) error {
	var (
		start = time.Now()
		n     int64
		timer *time.Timer
	)
	for {
		if w.o.Rate > 0 || n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("logwriter: %w", err)
			}
		}
		rec, d, done, ok := w.g.next()
		if !ok {
			return nil
		}
		w.msg = w.appendFullMessage(w.msg[:0], d, rec)
		if w.started && rec.level == w.dupLevel && bytes.Equal(w.msg, w.dupMsg) {
			w.dupCount++
			w.st.Duplicates++
			d.stamp(d.next-1, w.lastOut)
			continue
		}
		w.suffix = w.suffix[:0]
		if w.dupCount > 1 {
			w.suffix = append(w.suffix, " --- [DuplicateFilter: Last log `"...)
			w.suffix = append(w.suffix, w.dupMsg...)
			w.suffix = append(w.suffix, "` repeated "...)
			w.suffix = strconv.AppendInt(w.suffix, int64(w.dupCount), 10)
			w.suffix = append(w.suffix, " times]"...)
		}
		w.started, w.dupLevel, w.dupMsg, w.dupCount = true, rec.level, append(w.dupMsg[:0], w.msg...), 0

		if w.o.Rate > 0 {
			n++
			due := start.Add(time.Duration(n) * time.Second / time.Duration(w.o.Rate))
			if wait := time.Until(due); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
					defer timer.Stop()
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("logwriter: %w", ctx.Err())
				case <-timer.C:
				}
			}
		} else {
			n++
		}
		if err := w.emit(d, rec); err != nil {
			return err
		}
		if done {
			if err := w.finish(d); err != nil {
				return err
			}
		}
	}
}

// appendFullMessage appends record.msg as upstream's logger sees it:
// prefix, legacy markers and text.
func (w *runner) appendFullMessage(dst []byte, d *delivery, rec *record) []byte {
	if p := d.prefix(rec); p != "" {
		dst = append(dst, p...)
		dst = append(dst, ": "...)
	}
	sep := false
	for _, kv := range [...][2]string{{"task_id", rec.taskID}, {"task_type", rec.taskType}, {"task_status", rec.taskStatus}} {
		if kv[1] != "" {
			if sep {
				dst = append(dst, ' ')
			}
			dst = append(dst, '[')
			dst = append(dst, kv[0]...)
			dst = append(dst, '=')
			dst = append(dst, sanitize(kv[1])...)
			dst = append(dst, ']')
			sep = true
		}
	}
	if sep {
		dst = append(dst, ' ')
	}
	return append(dst, rec.msg...)
}

// emit formats and writes one record and its manifest line.
func (w *runner) emit(d *delivery, rec *record) error {
	at := rec.at
	if w.o.Rate > 0 {
		// Live: stamped at write time, as Python stamps record.created.
		at = w.o.Clock().UnixMicro()
	}
	if at <= w.lastOut {
		at = w.lastOut + 1
	}
	w.lastOut = at
	d.stamp(d.next-1, at)
	if rec.withPR {
		d.prSeen = true
	}
	if w.logger == w.o.File && rec.shape != shapeRequest && rec.shape != shapeBackground {
		w.logger = "GithubWebhook"
	}

	t := timeOf(at)
	if w.o.Legacy {
		t = t.In(w.o.Location)
	}
	b := appendISO(w.buf[:0], t, w.o.Legacy)
	tsLen := len(b)
	b = append(b, ' ')
	b = append(b, w.logger...)
	b = append(b, ' ')
	b = append(b, levelColours[rec.level]...)
	b = append(b, levelNames[rec.level]...)
	b = append(b, ansiReset...)
	b = append(b, ' ')
	b = append(b, w.msg...)
	b = append(b, w.suffix...)
	b = append(b, ansiReset...)
	if rec.tb != "" {
		b = append(b, '\n')
		b = append(b, rec.tb...)
	}
	b = append(b, '\n')
	w.buf = b

	off, gen, err := w.rf.write(b)
	if err != nil {
		return err
	}
	w.st.Records++
	ts := string(b[:tsLen])
	var jsonl string
	if w.o.JSONL == JSONLCurrent {
		if jsonl, err = w.jl.logEntry(at, w.logEntryLine(d, rec, b[:tsLen])); err != nil {
			return err
		}
	}
	tl := w.tallies[d]
	if tl == nil {
		tl = &deliveryTally{first: ts}
		w.tallies[d] = tl
	}
	tl.records++
	tl.last = ts
	if !w.manifested() {
		return nil
	}
	m := ManifestRecord{
		Kind: "record", File: w.o.File, Generation: gen, Offset: off, Length: int64(len(b)),
		Timestamp: ts, UTC: timeOf(at).Format("2006-01-02T15:04:05.000000Z"),
		Level: levelNames[rec.level], LoggerName: w.logger,
		TaskID: rec.taskID, TaskType: rec.taskType, TaskStatus: rec.taskStatus,
		Message: stripANSI(rec.msg), Summary: rec.summary, JSONL: jsonl,
	}
	if jsonl != "" && rec.shape != shapeRequest {
		m.JSONLHookID = d.hookID
		if d.prSeen {
			m.JSONLPRNumber = d.pr
		}
	}
	if rec.tb != "" {
		m.Message += "\n" + rec.tb
	}
	m.Step = rec.taskType
	if m.Step == "" {
		m.Step = rec.taskID
	}
	if rec.tokens > 0 {
		v := rec.tokens
		m.TokenSpend = &v
	}
	if rec.shape != shapeNone {
		m.HookID, m.EventType = d.hookID, d.event
	}
	switch rec.shape {
	case shapeBackground:
		m.Repository = d.repo.name
	case shapeHandler:
		m.Repository, m.GithubUser = d.repo.name, d.apiUser
		if rec.withPR {
			m.PRNumber = d.pr
		}
	}
	return w.observe(&m, nil)
}

// finish accounts for a finished delivery and writes its manifest line.
func (w *runner) finish(d *delivery) error {
	w.st.Deliveries++
	if d.failed {
		w.st.Failed++
	}
	tl := w.tallies[d]
	delete(w.tallies, d)
	var jsonl string
	if w.jl != nil && d.ctx != nil {
		var err error
		if jsonl, err = w.jl.summary(d.out[len(d.recs)-1], w.summaryLine(d)); err != nil {
			return err
		}
	}
	if !w.manifested() || tl == nil {
		return nil
	}
	md := &ManifestDelivery{
		Kind: "delivery", HookID: d.hookID, EventType: d.event, Repository: d.repo.name, PRNumber: d.pr,
		GithubUser: d.apiUser, Legacy: w.o.Legacy, Failed: d.failed, FailingStep: d.failStep, HasErrors: d.errors,
		Records: tl.records, FirstTimestamp: tl.first, LastTimestamp: tl.last, JSONL: jsonl,
	}
	if c := d.ctx; c != nil {
		md.Status = d.status()
		md.Steps = make([]ManifestStep, 0, len(c.steps))
		for i := range c.steps {
			st := &c.steps[i]
			step := ManifestStep{Name: st.name, Status: st.status, Timestamp: string(appendISO(nil, timeOf(d.stepTime(st)), false))}
			if st.status != "started" {
				v := st.durMS
				step.DurationMS = &v
			}
			if st.err != nil {
				step.ErrorType = st.err.typ
			}
			md.Steps = append(md.Steps, step)
		}
	}
	return w.observe(nil, md)
}

// manifested reports whether anyone wants the manifest.
func (w *runner) manifested() bool {
	return w.o.Manifest != nil || w.o.OnRecord != nil || w.o.OnDelivery != nil
}

// observed is a manifest line waiting for its record to be in the file.
type observed struct {
	rec *ManifestRecord
	del *ManifestDelivery
}

// observe buffers one manifest line (rec or del): its JSON for Manifest
// and the value for OnRecord or OnDelivery. They are handed on only after
// the records they describe are in the file: per record when Rate > 0,
// otherwise in 64 KiB (or 1024-line) chunks and at the end.
func (w *runner) observe(rec *ManifestRecord, del *ManifestDelivery) error {
	if w.o.Manifest != nil {
		var v any = rec
		if del != nil {
			v = del
		}
		var jb bytes.Buffer
		enc := json.NewEncoder(&jb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("encode manifest line: %w", err)
		}
		w.mbuf = append(w.mbuf, jb.Bytes()...)
	}
	if (rec != nil && w.o.OnRecord != nil) || (del != nil && w.o.OnDelivery != nil) {
		w.pending = append(w.pending, observed{rec, del})
	}
	if w.o.Rate > 0 || len(w.mbuf) >= 64<<10 || len(w.pending) >= 1024 {
		if err := w.rf.flush(); err != nil {
			return err
		}
		if w.jl != nil {
			if err := w.jl.flush(); err != nil {
				return err
			}
		}
		return w.flushManifest()
	}
	return nil
}

// flushManifest hands the buffered manifest lines on; the records they
// describe must be in the file.
func (w *runner) flushManifest() error {
	for _, p := range w.pending {
		if p.rec != nil {
			w.o.OnRecord(*p.rec)
		} else {
			w.o.OnDelivery(*p.del)
		}
	}
	clear(w.pending)
	w.pending = w.pending[:0]
	if len(w.mbuf) == 0 || w.o.Manifest == nil {
		return nil
	}
	_, err := w.o.Manifest.Write(w.mbuf)
	w.mbuf = w.mbuf[:0]
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// stamp records the time record i of d was (or, dropped, would have been)
// written at.
func (d *delivery) stamp(i int, at int64) {
	if d.out == nil {
		d.out = make([]int64, len(d.recs))
	}
	d.out[i] = at
}

// stepTime is when a step started, in written time: the time of the record
// written just before it, plus the simulated time between the two (zero
// when the step starts right after a record, as all of them do). With Rate
// 0 it is the simulated time; with Rate > 0 it stays among the records
// around it, stamped by Clock.
func (d *delivery) stepTime(st *stepState) int64 {
	i := st.startIdx
	return d.out[i] + (st.start - d.recs[i].at)
}

// status is upstream's summary status of a finished 4.1.0 delivery.
func (d *delivery) status() string {
	switch {
	case d.failed:
		return "failed"
	case d.ctx.partial:
		return "partial"
	}
	return "success"
}

// logEntryLine is JsonLogHandler's line for the record just written: the
// timestamp string of the text line, the message as getMessage() returns
// it (prefix and DuplicateFilter suffix included) without ANSI, the
// traceback as exc_info, and the WebhookContext's fields for every record
// but the request handler's, which runs before the context exists.
func (w *runner) logEntryLine(d *delivery, rec *record, ts []byte) []byte {
	j := &w.js
	j.b, j.first = j.b[:0], j.first[:0]
	j.open()
	j.key("type")
	j.str("log_entry")
	j.key("timestamp")
	j.str(string(ts))
	j.key("level")
	j.str(levelNames[rec.level])
	j.key("logger_name")
	j.str(w.logger)
	j.key("message")
	j.str(stripANSI(string(w.msg) + string(w.suffix)))
	if rec.tb != "" {
		// "".join(traceback.format_exception(...)) ends with a newline.
		j.key("exc_info")
		j.str(rec.tb + "\n")
	}
	if rec.shape != shapeRequest {
		j.key("hook_id")
		j.str(d.hookID)
		j.key("event_type")
		j.str(d.event)
		j.key("repository")
		j.str(d.repo.name)
		j.key("pr_number")
		if d.prSeen {
			j.intOrNull(d.pr)
		} else {
			j.null()
		}
		// api_user stays "" in the context until processing ends.
		j.key("api_user")
		j.str("")
	}
	j.close()
	j.b = append(j.b, '\n')
	return j.b
}

// summaryLine is StructuredLogWriter's line for a finished 4.1.0 delivery:
// WebhookContext.to_dict() of its time (see JSONLMode). What only this line
// shows (sender, PR author, a title the script did not log) is drawn from
// a random stream of its own, so the text does not depend on the JSONL.
func (w *runner) summaryLine(d *delivery) []byte {
	c := d.ctx
	current := w.o.JSONL == JSONLCurrent
	side := rand.New(rand.NewPCG(uint64(w.o.Seed)^0x73756d6d617279, uint64(d.seq)))
	sender, author, title, action := pick(side, senders[:]), pick(side, senders[:]), pick(side, prTitles[:]), pick(side, prActions[:])
	if c.prTitle != "" {
		title = c.prTitle
	}
	switch {
	case c.action != "":
		action = c.action
	case d.event != "pull_request":
		action = "" // push events have none
	}
	started, completed := d.out[c.bgIdx], d.out[len(d.recs)-1]

	j := &w.js
	j.b, j.first = j.b[:0], j.first[:0]
	j.open()
	j.key("hook_id")
	j.str(d.hookID)
	if current {
		j.key("level")
		j.str("COMPLETED")
		j.key("status")
		j.str(d.status())
	}
	j.key("event_type")
	j.str(d.event)
	// The payload's action is known from the start, also to a pull_request
	// delivery that failed before its handler logged it.
	j.key("action")
	j.strOrNull(action)
	j.key("sender")
	j.str(sender)
	j.key("repository")
	j.str(d.repo.name)
	j.key("repository_full_name")
	j.str(d.repo.org + "/" + d.repo.name)
	j.key("pr")
	if d.pr > 0 {
		j.open()
		j.key("number")
		j.int(int64(d.pr))
		j.key("title")
		j.str(title)
		j.key("author")
		j.str(author)
		j.close()
	} else {
		j.null()
	}
	j.key("api_user")
	j.str(d.apiUser)
	j.key("timing")
	j.open()
	j.key("started_at")
	j.iso(started)
	j.key("completed_at")
	j.iso(completed)
	j.key("duration_ms")
	j.int((completed - started) / ms)
	j.close()
	j.key("workflow_steps")
	j.open()
	for i := range c.steps {
		st := &c.steps[i]
		j.key(st.name)
		j.open()
		j.key("timestamp")
		j.iso(d.stepTime(st))
		j.key("status")
		j.str(st.status)
		j.key("error")
		appendStepError(j, st.err)
		for _, x := range st.startData {
			j.key(x.key)
			j.value(x.val)
		}
		if st.status != "started" {
			j.key("duration_ms")
			j.int(st.durMS)
		}
		for _, x := range st.endData {
			j.key(x.key)
			j.value(x.val)
		}
		j.close()
	}
	j.close()
	j.key("token_spend")
	j.intOrNull(c.tokens)
	j.key("initial_rate_limit")
	j.int(int64(c.initialRate))
	j.key("final_rate_limit")
	if c.tokens > 0 {
		j.int(int64(c.initialRate - c.tokens))
	} else {
		j.null()
	}
	j.key("success")
	j.bool(!d.failed)
	j.key("error")
	appendStepError(j, c.err)
	if current {
		j.key("summary")
		j.str(c.summary)
		j.key("type")
		j.str("webhook_summary")
	}
	j.close()
	j.b = append(j.b, '\n')
	return j.b
}

// appendStepError appends fail_step's error dict, or null.
func appendStepError(j *pyJSON, e *stepError) {
	if e == nil {
		j.null()
		return
	}
	j.open()
	j.key("type")
	j.str(e.typ)
	j.key("message")
	j.str(e.message)
	j.key("traceback")
	j.str(e.traceback)
	j.close()
}
