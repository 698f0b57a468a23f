package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/hooktail/hooktail/aggregator"
)

// errorJSON is an error with its traceback, in the seed's key order.
type errorJSON struct {
	Message   string `json:"message"`
	Type      string `json:"type"`
	Traceback string `json:"traceback"`
}

func newErrorJSON(e *aggregator.ErrorInfo) *errorJSON {
	if e == nil {
		return nil
	}
	return &errorJSON{Message: e.Message, Type: e.Type, Traceback: e.Traceback}
}

// prJSON is upstream's summary "pr" object.
type prJSON struct {
	Number int64   `json:"number"`
	Title  *string `json:"title"`
	// Author is the PR's author; the store does not keep it yet, so it is
	// always null (never invented from the sender).
	Author *string `json:"author"`
}

// stepItem is one item of workflow-steps' "steps", with upstream's keys.
type stepItem struct {
	Timestamp      *string         `json:"timestamp"`
	StepName       string          `json:"step_name"`
	Message        string          `json:"message"`
	Level          string          `json:"level"`
	Repository     *string         `json:"repository"`
	EventType      *string         `json:"event_type"`
	PRNumber       *int64          `json:"pr_number"`
	TaskID         string          `json:"task_id"`
	TaskType       string          `json:"task_type"`
	TaskStatus     string          `json:"task_status"`
	DurationMS     *int64          `json:"duration_ms"`
	Error          *errorJSON      `json:"error"`
	StepDetails    json.RawMessage `json:"step_details"`
	RelativeTimeMS *int64          `json:"relative_time_ms"`
}

// attemptJSON is one entry of workflow-steps' "attempts".
type attemptJSON struct {
	Attempt     int     `json:"attempt"`
	State       string  `json:"state"`
	ReceivedAt  *string `json:"received_at"`
	CompletedAt *string `json:"completed_at"`
}

// workflowSteps is the workflow-steps answer: upstream's keys, then ours.
type workflowSteps struct {
	HookID          string        `json:"hook_id"`
	StartTime       *string       `json:"start_time"`
	TotalDurationMS *int64        `json:"total_duration_ms"`
	StepCount       int           `json:"step_count"`
	Steps           []stepItem    `json:"steps"`
	TokenSpend      *int64        `json:"token_spend"`
	EventType       *string       `json:"event_type"`
	Action          *string       `json:"action"`
	Repository      *string       `json:"repository"`
	Sender          *string       `json:"sender"`
	PR              *prJSON       `json:"pr"`
	Success         *bool         `json:"success"`
	Error           *errorJSON    `json:"error"`
	State           string        `json:"state"`
	Attempt         int           `json:"attempt"`
	Attempts        []attemptJSON `json:"attempts"`
}

// handleWorkflowSteps serves GET /logs/api/workflow-steps/{hook_id}: the
// latest attempt's steps, oldest first.
func (s *Server) handleWorkflowSteps(w http.ResponseWriter, r *http.Request) {
	hookID := mux.Vars(r)["hook_id"]
	if errs := checkPathParam(nil, "hook_id", hookID); len(errs) > 0 {
		writeValidation(w, errs)
		return
	}
	d, err := s.store.Delivery(r.Context(), hookID)
	if errors.Is(err, aggregator.ErrNotFound) || (err == nil && !visible(r, d.Service)) {
		writeDetail(w, http.StatusNotFound, "No data found for hook ID: "+hookID)
		return
	}
	if err != nil {
		s.storeError(w, r, "delivery", err)
		return
	}
	writeJSON(w, http.StatusOK, newWorkflowSteps(d))
}

func newWorkflowSteps(d *aggregator.Delivery) workflowSteps {
	start := deliveryStart(d)
	var prNumber *int64
	var pr *prJSON
	if d.PRNumber != 0 {
		n := d.PRNumber
		prNumber = &n
		pr = &prJSON{Number: n, Title: strOrNil(d.PRTitle)}
	}
	out := workflowSteps{
		HookID:          d.HookID,
		StartTime:       isoOrNil(start),
		TotalDurationMS: totalDuration(d, start),
		Steps:           []stepItem{},
		TokenSpend:      d.TokenSpend,
		EventType:       strOrNil(d.EventType),
		Action:          strOrNil(d.Action),
		Repository:      strOrNil(d.Repository),
		Sender:          strOrNil(d.Sender),
		PR:              pr,
		Success:         successOf(d.State),
		Error:           newErrorJSON(d.Error),
		State:           string(d.State),
		Attempt:         d.Attempt,
		Attempts:        []attemptJSON{},
	}
	for _, st := range sortedSteps(d.Steps) {
		item := stepItem{
			Timestamp:   isoOrNil(st.StartedAt),
			StepName:    st.Name,
			Message:     stepMessage(&st),
			Level:       stepLevel(st.Status),
			Repository:  out.Repository,
			EventType:   out.EventType,
			PRNumber:    prNumber,
			TaskID:      st.Name,
			TaskType:    st.Name,
			TaskStatus:  st.Status,
			DurationMS:  st.DurationMS,
			Error:       newErrorJSON(st.Error),
			StepDetails: stepDetails(&st),
		}
		if !st.StartedAt.IsZero() && !start.IsZero() {
			ms := st.StartedAt.Sub(start).Milliseconds()
			item.RelativeTimeMS = &ms
		}
		out.Steps = append(out.Steps, item)
	}
	out.StepCount = len(out.Steps)
	for _, a := range d.Attempts {
		out.Attempts = append(out.Attempts, attemptJSON{
			Attempt:     a.Attempt,
			State:       string(a.State),
			ReceivedAt:  isoOrNil(a.ReceivedAt),
			CompletedAt: isoOrNil(a.CompletedAt),
		})
	}
	return out
}

// deliveryStart is when the attempt started: its request, else its first
// entry.
func deliveryStart(d *aggregator.Delivery) time.Time {
	if !d.ReceivedAt.IsZero() {
		return d.ReceivedAt
	}
	return d.FirstEntryAt
}

// totalDuration is the reported duration, else completion minus start.
func totalDuration(d *aggregator.Delivery, start time.Time) *int64 {
	if d.DurationMS != nil {
		return d.DurationMS
	}
	if start.IsZero() || d.CompletedAt.IsZero() {
		return nil
	}
	ms := d.CompletedAt.Sub(start).Milliseconds()
	return &ms
}

// successOf maps a state to upstream's success (SPEC §4 table).
func successOf(st aggregator.State) *bool {
	var v bool
	switch st {
	case aggregator.StateCompleted:
		v = true
	case aggregator.StateFailed, aggregator.StateTimeout:
		v = false
	default:
		return nil
	}
	return &v
}

// sortedSteps orders steps oldest first. Steps nest, so a start time is
// the key; when any step has no known start (text summary steps) the
// attempt's own order is used instead.
func sortedSteps(steps []aggregator.Step) []aggregator.Step {
	out := slices.Clone(steps)
	allTimed := !slices.ContainsFunc(out, func(st aggregator.Step) bool { return st.StartedAt.IsZero() })
	slices.SortStableFunc(out, func(a, b aggregator.Step) int {
		if allTimed {
			if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.Order, b.Order)
	})
	return out
}

// stepMessage is upstream's "<step>: <status> (<ms>ms)" or
// "<step>: failed - <error>".
func stepMessage(st *aggregator.Step) string {
	if st.Status == "failed" && st.Error != nil {
		msg := st.Error.Message
		if msg == "" {
			msg = st.Error.Type
		}
		if msg != "" {
			return st.Name + ": failed - " + msg
		}
	}
	if st.DurationMS != nil {
		return st.Name + ": " + st.Status + " (" + strconv.FormatInt(*st.DurationMS, 10) + "ms)"
	}
	return st.Name + ": " + st.Status
}

// stepLevel is ERROR for a failed step, DEBUG for a started one, INFO else.
func stepLevel(status string) string {
	switch status {
	case "failed":
		return "ERROR"
	case "started":
		return "DEBUG"
	default:
		return "INFO"
	}
}

// stepDetails rebuilds upstream's raw step dict: timestamp, status, error,
// the step's extra fields (sorted by key) and duration_ms when known.
func stepDetails(st *aggregator.Step) json.RawMessage {
	var extra map[string]json.RawMessage
	if len(st.Details) > 0 {
		// Details that are not a JSON object carry no keys to merge.
		_ = json.Unmarshal(st.Details, &extra)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	add := func(k string, v any) {
		val, err := json.Marshal(v)
		if err != nil {
			val = []byte("null")
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		b.Write(key)
		b.WriteByte(':')
		b.Write(val)
	}
	add("timestamp", isoOrNil(st.StartedAt))
	add("status", st.Status)
	add("error", newErrorJSON(st.Error))
	keys := make([]string, 0, len(extra))
	for k := range extra {
		switch k {
		case "timestamp", "status", "error", "duration_ms":
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		add(k, extra[k])
	}
	if st.DurationMS != nil {
		add("duration_ms", *st.DurationMS)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// stepInfo is step-logs' "step" object (seed 000).
type stepInfo struct {
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	Timestamp  *string    `json:"timestamp"`
	DurationMS *int64     `json:"duration_ms"`
	Error      *errorJSON `json:"error"`
}

// windowJSON tells which time window the logs of a step were taken from.
type windowJSON struct {
	Start *string `json:"start"`
	End   *string `json:"end"`
	Exact bool    `json:"exact"`
}

// stepWindow is the time window whose entries belong to a step.
type stepWindow struct {
	start, end time.Time // a zero end is open
	// exact is true when the step's start and duration are both known.
	exact bool
	// whole means the step has no known start: every entry of the attempt
	// belongs to it.
	whole bool
}

// windowOf computes a step's window. Known start and duration give the
// exact window (to the end of the duration's last millisecond; for a
// failed step, on to the next step or the attempt's end: failureEnd); a known start alone runs to the attempt's end (the later of
// its completion and its last entry); no start gives the whole attempt.
func windowOf(d *aggregator.Delivery, st *aggregator.Step) stepWindow {
	attemptEnd := laterOf(d.CompletedAt, d.LastEntryAt)
	switch {
	case st.StartedAt.IsZero():
		start := d.FirstEntryAt
		if start.IsZero() || (!d.ReceivedAt.IsZero() && d.ReceivedAt.Before(start)) {
			start = d.ReceivedAt
		}
		return stepWindow{start: start, end: attemptEnd, whole: true}
	case st.DurationMS != nil:
		// Upstream truncates durations to whole milliseconds: a step of
		// "10 ms" ran for up to 10.999 ms, and its last lines (often its
		// error) come in that last part of a millisecond.
		end := st.StartedAt.Add(time.Duration(*st.DurationMS+1)*time.Millisecond - time.Microsecond)
		if st.Status == "failed" {
			end = failureEnd(d, st, end, attemptEnd)
		}
		return stepWindow{start: st.StartedAt, end: end, exact: true}
	default:
		if !attemptEnd.IsZero() && attemptEnd.Before(st.StartedAt) {
			attemptEnd = st.StartedAt
		}
		return stepWindow{start: st.StartedAt, end: attemptEnd}
	}
}

// failureEnd extends a failed step's window past its own end: the lines
// that report a failure (upstream's "Unexpected error in background
// webhook processing" with its traceback) are logged a few milliseconds
// after the step ended, by the code that caught its exception. The window
// runs on to the start of the next step that starts after it, or else to
// the attempt's end.
func failureEnd(d *aggregator.Delivery, failed *aggregator.Step, end, attemptEnd time.Time) time.Time {
	next := attemptEnd
	for i := range d.Steps {
		st := &d.Steps[i]
		if st != failed && st.StartedAt.After(end) && (next.IsZero() || st.StartedAt.Before(next)) {
			next = st.StartedAt.Add(-time.Microsecond)
		}
	}
	return laterOf(end, next)
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// contains reports whether an entry's timestamp lies in the window.
func (sw stepWindow) contains(e *aggregator.Entry) bool {
	t := e.Timestamp
	return !t.IsZero() && !t.Before(sw.start) && (sw.end.IsZero() || !t.After(sw.end))
}

// handleStepLogs serves GET /logs/api/step-logs/{hook_id}/{step_name}
// (seed 000): the step and every entry of its window, oldest first.
func (s *Server) handleStepLogs(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	hookID, stepName := vars["hook_id"], vars["step_name"]
	errs := checkPathParam(nil, "hook_id", hookID)
	errs = checkPathParam(errs, "step_name", stepName)
	q := newQueryParams(r)
	q.errs = errs
	// limit is optional (absent: every line; upstream capped at 500).
	limit := q.integer("limit", intRule{min: 1, max: maxLimit, hasMin: true, hasMax: true})
	offset := q.integer("offset", offsetRule())
	if len(q.errs) > 0 {
		writeValidation(w, q.errs)
		return
	}

	d, err := s.store.Delivery(r.Context(), hookID)
	if errors.Is(err, aggregator.ErrNotFound) || (err == nil && !visible(r, d.Service)) {
		writeDetail(w, http.StatusNotFound, "Hook ID not found: "+hookID)
		return
	}
	if err != nil {
		s.storeError(w, r, "delivery", err)
		return
	}
	i := slices.IndexFunc(d.Steps, func(st aggregator.Step) bool { return st.Name == stepName })
	if i < 0 {
		writeDetail(w, http.StatusNotFound, fmt.Sprintf("Step '%s' not found for hook_id: %s", stepName, hookID))
		return
	}
	st := &d.Steps[i]
	win := windowOf(d, st)
	logs, total, err := s.stepEntries(r.Context(), d, st, win, toInt(offset.value), toInt(limit.value))
	if err != nil {
		s.storeError(w, r, "step entries", err)
		return
	}

	s.writeStepLogs(w, r, st, win, logs, total)
}

// writeStepLogs streams the step-logs answer: seed 000's keys, then ours.
func (s *Server) writeStepLogs(w http.ResponseWriter, r *http.Request, st *aggregator.Step, win stepWindow, logs []aggregator.Entry, total int64) {
	w.WriteHeader(http.StatusOK)
	js := newJSONStream(w)
	js.raw("{")
	js.field("step", stepInfo{
		Name:       st.Name,
		Status:     st.Status,
		Timestamp:  isoOrNil(st.StartedAt),
		DurationMS: st.DurationMS,
		Error:      newErrorJSON(st.Error),
	}, true)
	js.raw(`,"logs":[`)
	for i := range logs {
		if i > 0 {
			js.raw(",")
		}
		js.value(newLogEntry(&logs[i]))
	}
	js.raw("]")
	js.field("log_count", total, false)
	js.field("window", windowJSON{Start: isoOrNil(win.start), End: isoOrNil(win.end), Exact: win.exact}, false)
	js.raw("}\n")
	if err := js.finish(); err != nil {
		s.log.DebugContext(r.Context(), "write response", logKeyPath, r.URL.Path, logKeyError, err)
	}
}

// stepEntries returns one page (limit 0: all) of the step's entries, oldest
// first, and their total: entries of the attempt inside the window, plus
// entries explicitly marked with the step wherever they fall.
func (s *Server) stepEntries(ctx context.Context, d *aggregator.Delivery, st *aggregator.Step, win stepWindow, offset, limit int) ([]aggregator.Entry, int64, error) {
	base := aggregator.EntryFilter{HookID: d.HookID, Attempt: d.Attempt}
	if win.whole {
		return s.fetch(ctx, base, offset, limit)
	}
	marked := base
	marked.Step = st.Name
	tagged, _, err := s.fetch(ctx, marked, 0, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("marked entries of step %q: %w", st.Name, err)
	}
	outside := slices.DeleteFunc(tagged, func(e aggregator.Entry) bool { return win.contains(&e) })

	inWindow := base
	inWindow.Since, inWindow.Until = win.start, win.end
	if len(outside) == 0 {
		return s.fetch(ctx, inWindow, offset, limit)
	}
	// Rare: marked entries outside the window. Merge both lists in memory.
	all, _, err := s.fetch(ctx, inWindow, 0, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("window entries of step %q: %w", st.Name, err)
	}
	all = append(all, outside...)
	slices.SortStableFunc(all, func(a, b aggregator.Entry) int {
		if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	total := int64(len(all))
	all = all[min(offset, len(all)):]
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, total, nil
}

// fetch reads entries oldest first from offset, limit of them (0: all),
// in store pages of at most maxLimit, and returns them with the total.
func (s *Server) fetch(ctx context.Context, f aggregator.EntryFilter, offset, limit int) ([]aggregator.Entry, int64, error) {
	var out []aggregator.Entry
	for {
		want := maxLimit
		if limit > 0 {
			want = min(want, limit-len(out))
		}
		page, err := s.store.Entries(ctx, aggregator.EntryQuery{
			Filter: f,
			Limit:  want,
			Offset: offset + len(out),
			Order:  aggregator.OldestFirst,
		})
		if err != nil {
			return nil, 0, fmt.Errorf("entries page at %d: %w", offset+len(out), err)
		}
		out = append(out, page.Entries...)
		done := len(page.Entries) < want ||
			(limit > 0 && len(out) >= limit) ||
			int64(offset)+int64(len(out)) >= page.Total
		if done {
			if out == nil {
				out = []aggregator.Entry{}
			}
			return out, page.Total, nil
		}
	}
}
