package aggregator

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// This file derives deliveries, attempts and steps from entries (SPEC §4).
// It is pure: no I/O, no clock. Folding is order-insensitive wherever the
// facts allow it: times are combined with min/max, competing facts are ranked
// (by source trust, then event time) instead of "last one wins", and steps
// keep one fact per source that is merged only when a Delivery is viewed.

// requestStartMessage is what upstream's request handler logs when a webhook
// request arrives (reference §1.3, first prefix shape).
const requestStartMessage = "Processing webhook"

// tracebackHeader opens a Python traceback.
const tracebackHeader = "Traceback (most recent call last):"

// EventTime is the time an entry stands for in its delivery: the completion
// time of a webhook_summary when it carries one, else the entry's timestamp.
func EventTime(e *Entry) time.Time {
	if e.Summary && e.Completion != nil && !e.Completion.CompletedAt.IsZero() {
		return e.Completion.CompletedAt
	}
	return e.Timestamp
}

// IsRequestStart reports whether e is the request handler's
// "Processing webhook" line (no repository in its prefix), the line that may
// start a new attempt of its hook_id.
func IsRequestStart(e *Entry) bool {
	return !e.Summary && e.HookID != "" && e.Repository == "" &&
		e.Completion == nil && e.Message == requestStartMessage && !e.Timestamp.IsZero()
}

// IsErrorLevel reports whether level is ERROR or CRITICAL (or an alias).
func IsErrorLevel(level string) bool {
	switch strings.ToUpper(level) {
	case "ERROR", "CRITICAL", "FATAL":
		return true
	}
	return false
}

// Timeline holds what decides the attempt boundaries of one hook_id: the
// times of its request-start lines and of its completions, in Unix
// microseconds, ascending and distinct. Being sets, they are unchanged by
// duplicates and independent of arrival order.
type Timeline struct {
	Starts []int64 `json:"s,omitempty"`
	Ends   []int64 `json:"e,omitempty"`
}

// Observe adds e's boundary facts and reports whether the timeline changed.
func (t *Timeline) Observe(e *Entry) bool {
	changed := false
	if IsRequestStart(e) {
		t.Starts, changed = insertSorted(t.Starts, e.Timestamp.UnixMicro())
	}
	if e.Completion != nil {
		if at := EventTime(e); !at.IsZero() {
			var c bool
			t.Ends, c = insertSorted(t.Ends, at.UnixMicro())
			changed = changed || c
		}
	}
	return changed
}

func insertSorted(s []int64, v int64) ([]int64, bool) {
	i, found := slices.BinarySearch(s, v)
	if found {
		return s, false
	}
	return slices.Insert(s, i, v), true
}

// Bounds returns the start time (Unix microseconds) of attempts 2, 3, …: a
// request-start line begins a new attempt when the current attempt has a
// completion strictly before it. Attempt 1 begins at the dawn of time, so a
// completion whose request line was never seen still closes attempt 1.
func (t *Timeline) Bounds() []int64 {
	var bounds []int64
	cur := int64(math.MinInt64)
	j := 0
	for _, s := range t.Starts {
		for j < len(t.Ends) && t.Ends[j] < cur {
			j++
		}
		if j < len(t.Ends) && t.Ends[j] < s {
			bounds = append(bounds, s)
			cur = s
		}
	}
	return bounds
}

// AttemptAt returns the 1-based attempt whose time span holds t, given the
// bounds from Timeline.Bounds. A zero time belongs to attempt 1.
func AttemptAt(bounds []int64, t time.Time) int {
	if t.IsZero() {
		return 1
	}
	us := t.UnixMicro()
	// Number of bounds <= us.
	return sort.Search(len(bounds), func(i int) bool { return bounds[i] > us }) + 1
}

// CompletionFact is the best completion of one source kind seen for an
// attempt; its Steps are kept apart, in StepFacts.
type CompletionFact struct {
	At time.Time  `json:"at,omitzero"`
	C  Completion `json:"c"`
}

// StepFact is one source's view of a step.
type StepFact struct {
	At    time.Time `json:"at,omitzero"`
	Index int       `json:"i"`
	Step  Step      `json:"s"`
}

// MarkerFact gathers the legacy [task_*] markers of one step.
type MarkerFact struct {
	FirstAt   time.Time  `json:"first,omitzero"`
	StartAt   time.Time  `json:"start,omitzero"`
	EndAt     time.Time  `json:"end,omitzero"`
	EndStatus string     `json:"status,omitempty"`
	Error     *ErrorInfo `json:"error,omitempty"`
}

// StepFacts is everything known about one step, one slot per source.
type StepFacts struct {
	Text   *StepFact   `json:"text,omitempty"`
	Marker *MarkerFact `json:"marker,omitempty"`
	JSON   *StepFact   `json:"json,omitempty"`
}

// AttemptFold is one delivery attempt being derived from its entries. Apply
// folds entries in; Delivery renders the result. It is serialisable (JSON)
// so a store can keep it between batches and apply later entries to it.
type AttemptFold struct {
	HookID  string `json:"hook_id"`
	Attempt int    `json:"attempt"`
	Service string `json:"service,omitempty"`

	EventType  string `json:"event_type,omitempty"`
	Repository string `json:"repository,omitempty"`
	PRNumber   int64  `json:"pr_number,omitempty"`
	APIUser    string `json:"api_user,omitempty"`
	TokenSpend *int64 `json:"token_spend,omitempty"`

	FirstEntryAt time.Time `json:"first,omitzero"`
	LastEntryAt  time.Time `json:"last,omitzero"`
	EntryCount   int64     `json:"entries,omitempty"`
	ErrorCount   int64     `json:"errors,omitempty"`
	// Background is set once an entry of the background task (one whose
	// prefix names a repository) was applied.
	Background bool `json:"background,omitempty"`

	// LastError is the error of the latest ERROR/CRITICAL entry.
	LastError   *ErrorInfo `json:"last_error,omitempty"`
	LastErrorAt time.Time  `json:"last_error_at,omitzero"`

	Text  *CompletionFact       `json:"text,omitempty"`
	JSON  *CompletionFact       `json:"json,omitempty"`
	Steps map[string]*StepFacts `json:"steps,omitempty"`
}

// NewAttemptFold returns an empty fold for one attempt of hookID.
func NewAttemptFold(hookID string, attempt int) *AttemptFold {
	return &AttemptFold{HookID: hookID, Attempt: attempt}
}

// Apply folds one entry (log entry or webhook_summary) into the attempt. The
// caller has assigned the entry to this attempt; an entry of another hook_id
// is ignored.
func (f *AttemptFold) Apply(e *Entry) {
	if e.HookID == "" || (f.HookID != "" && e.HookID != f.HookID) {
		return
	}
	f.HookID = e.HookID
	fill(&f.Service, e.Source)
	fill(&f.EventType, e.EventType)
	fill(&f.Repository, e.Repository)
	fill(&f.APIUser, e.GithubUser)
	if f.PRNumber == 0 {
		f.PRNumber = e.PRNumber
	}
	if f.TokenSpend == nil && e.TokenSpend != nil {
		v := *e.TokenSpend
		f.TokenSpend = &v
	}
	if e.Summary {
		if e.Completion != nil {
			f.applyCompletion(e, true)
		}
		return
	}
	f.EntryCount++
	if ts := e.Timestamp; !ts.IsZero() {
		if f.FirstEntryAt.IsZero() || ts.Before(f.FirstEntryAt) {
			f.FirstEntryAt = ts
		}
		if ts.After(f.LastEntryAt) {
			f.LastEntryAt = ts
		}
	}
	if e.Repository != "" {
		f.Background = true
	}
	if IsErrorLevel(e.Level) {
		f.ErrorCount++
		info := ErrorFromMessage(e.Message, e.ExcInfo)
		if f.LastError == nil || e.Timestamp.After(f.LastErrorAt) ||
			(e.Timestamp.Equal(f.LastErrorAt) && info.Message > f.LastError.Message) {
			f.LastError, f.LastErrorAt = info, e.Timestamp
		}
	}
	if e.Completion != nil {
		f.applyCompletion(e, false)
	}
	if e.Step != "" && e.TaskStatus != "" {
		f.applyMarker(e)
	}
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func (f *AttemptFold) stepFacts(name string) *StepFacts {
	if f.Steps == nil {
		f.Steps = make(map[string]*StepFacts)
	}
	sf := f.Steps[name]
	if sf == nil {
		sf = &StepFacts{}
		f.Steps[name] = sf
	}
	return sf
}

// applyCompletion keeps, per source kind, the latest completion and the
// latest view of each of its steps.
func (f *AttemptFold) applyCompletion(e *Entry, fromJSON bool) {
	at := EventTime(e)
	slot := &f.Text
	if fromJSON {
		slot = &f.JSON
	}
	if *slot == nil || !at.Before((*slot).At) {
		c := *e.Completion
		c.Steps = nil
		*slot = &CompletionFact{At: at, C: c}
	}
	for i, s := range e.Completion.Steps {
		if s.Name == "" {
			continue
		}
		sf := f.stepFacts(s.Name)
		p := &sf.Text
		if fromJSON {
			p = &sf.JSON
		}
		if *p == nil || !at.Before((*p).At) {
			*p = &StepFact{At: at, Index: i, Step: s}
		}
	}
}

// applyMarker folds a legacy task marker: the earliest start and the latest
// end win, whatever order they arrive in.
func (f *AttemptFold) applyMarker(e *Entry) {
	sf := f.stepFacts(e.Step)
	if sf.Marker == nil {
		sf.Marker = &MarkerFact{}
	}
	m, ts := sf.Marker, e.Timestamp
	if m.FirstAt.IsZero() || ts.Before(m.FirstAt) {
		m.FirstAt = ts
	}
	switch e.TaskStatus {
	case "started":
		if m.StartAt.IsZero() || ts.Before(m.StartAt) {
			m.StartAt = ts
		}
	case "completed", "failed", "skipped":
		if m.EndStatus == "" || !ts.Before(m.EndAt) {
			m.EndAt, m.EndStatus, m.Error = ts, e.TaskStatus, nil
			if e.TaskStatus == "failed" {
				m.Error = ErrorFromMessage(e.Message, e.ExcInfo)
			}
		}
	}
}

// State returns the attempt's state without the timeout rule: failed or
// completed once a completion is known, processing once the background task
// logged, pending otherwise.
func (f *AttemptFold) State() State {
	if c := f.completion(); c != nil {
		if c.C.Status == "failed" {
			return StateFailed
		}
		return StateCompleted
	}
	if f.Background {
		return StateProcessing
	}
	return StatePending
}

// completion is the most trusted completion.
func (f *AttemptFold) completion() *CompletionFact {
	if f.JSON != nil {
		return f.JSON
	}
	return f.Text
}

// TimedOut applies the timeout rule (SPEC §4): an attempt that is neither
// completed nor failed times out when its source's newest event time is at
// least timeout past its last entry. A zero timeout disables the rule.
func TimedOut(state State, lastEntryAt, sourceNewest time.Time, timeout time.Duration) bool {
	if timeout <= 0 || state == StateCompleted || state == StateFailed || state == StateTimeout {
		return false
	}
	if lastEntryAt.IsZero() || sourceNewest.IsZero() {
		return false
	}
	return sourceNewest.Sub(lastEntryAt) >= timeout
}

// Delivery renders the attempt. sourceNewest and timeout feed the timeout
// rule (pass zero values to get the stored state). Attempts is left empty.
func (f *AttemptFold) Delivery(sourceNewest time.Time, timeout time.Duration) Delivery {
	d := Delivery{
		HookID:       f.HookID,
		Attempt:      f.Attempt,
		Service:      f.Service,
		State:        f.State(),
		EventType:    f.EventType,
		Repository:   f.Repository,
		PRNumber:     f.PRNumber,
		APIUser:      f.APIUser,
		ReceivedAt:   f.FirstEntryAt,
		FirstEntryAt: f.FirstEntryAt,
		LastEntryAt:  f.LastEntryAt,
		EntryCount:   f.EntryCount,
		ErrorCount:   f.ErrorCount,
		TokenSpend:   cloneInt(f.TokenSpend),
	}
	if TimedOut(d.State, f.LastEntryAt, sourceNewest, timeout) {
		d.State = StateTimeout
	}
	// Completion facts: the JSON summary overwrites, the text line fills.
	for _, c := range []*CompletionFact{f.JSON, f.Text} {
		if c == nil {
			continue
		}
		fill(&d.Status, c.C.Status)
		fill(&d.Action, c.C.Action)
		fill(&d.Sender, c.C.Sender)
		fill(&d.RepositoryFullName, c.C.RepositoryFullName)
		fill(&d.PRTitle, c.C.PRTitle)
		if d.CompletedAt.IsZero() {
			d.CompletedAt = c.At
		}
		if d.DurationMS == nil {
			d.DurationMS = cloneInt(c.C.DurationMS)
		}
		if d.ReceivedAt.IsZero() {
			d.ReceivedAt = c.C.StartedAt
		}
	}
	// Completions are more trusted than individual entries for these.
	for _, c := range []*CompletionFact{f.Text, f.JSON} {
		if c == nil {
			continue
		}
		if c.C.APIUser != "" {
			d.APIUser = c.C.APIUser
		}
		if c.C.PRNumber != 0 {
			d.PRNumber = c.C.PRNumber
		}
		if c.C.TokenSpend != nil {
			d.TokenSpend = cloneInt(c.C.TokenSpend)
		}
	}
	if d.DurationMS == nil && !d.CompletedAt.IsZero() && !d.ReceivedAt.IsZero() {
		ms := d.CompletedAt.Sub(d.ReceivedAt).Milliseconds()
		d.DurationMS = &ms
	}
	d.Steps = f.steps()

	failedStep := slices.IndexFunc(d.Steps, func(s Step) bool { return s.Status == "failed" })
	d.HasErrors = f.ErrorCount > 0 || failedStep >= 0 || d.Status == "partial" ||
		d.State == StateFailed || d.State == StateTimeout
	if d.State == StateFailed || d.State == StateTimeout {
		switch {
		case f.JSON != nil && f.JSON.C.Error != nil:
			d.Error = cloneError(f.JSON.C.Error)
		case f.LastError != nil:
			d.Error = cloneError(f.LastError)
		case f.Text != nil && f.Text.C.Error != nil:
			d.Error = cloneError(f.Text.C.Error)
		case failedStep >= 0 && d.Steps[failedStep].Error != nil:
			d.Error = cloneError(d.Steps[failedStep].Error)
		}
	}
	return d
}

// markerOrderBase puts steps known only from markers after summary steps.
const markerOrderBase = 1 << 20

// steps merges each step's facts in increasing trust (text summary, markers,
// JSON summary): a more trusted source overwrites the fields it carries, a
// less trusted one fills the rest. Steps come out ordered by start time when
// every step has one, else by Order (summary position, else first marker).
func (f *AttemptFold) steps() []Step {
	if len(f.Steps) == 0 {
		return nil
	}
	type keyed struct {
		s     Step
		order int
		first time.Time
	}
	all := make([]keyed, 0, len(f.Steps))
	for name, sf := range f.Steps {
		var s Step
		order, first := -1, time.Time{}
		if t := sf.Text; t != nil {
			s = t.Step
			s.Source, order = StepFromSummaryText, t.Index
		}
		if m := sf.Marker; m != nil {
			overlay(&s, m.step())
			s.Source, first = StepFromMarkers, m.FirstAt
			if m.EndStatus == "" && s.Status == "" {
				s.Status = "started"
			}
		}
		if j := sf.JSON; j != nil {
			overlay(&s, j.Step)
			s.Source, order = StepFromSummaryJSON, j.Index
		}
		s.Name = name
		all = append(all, keyed{s: s, order: order, first: first})
	}
	// Marker-only steps follow the summary steps, by first marker time.
	slices.SortFunc(all, func(a, b keyed) int {
		if c := cmp.Compare(orderClass(a.order), orderClass(b.order)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.order, b.order); c != 0 {
			return c
		}
		if c := a.first.Compare(b.first); c != 0 {
			return c
		}
		return strings.Compare(a.s.Name, b.s.Name)
	})
	out := make([]Step, len(all))
	allStarted := true
	for i, k := range all {
		out[i] = k.s
		out[i].Order = i
		if k.order < 0 {
			out[i].Order = markerOrderBase + i
		}
		allStarted = allStarted && !k.s.StartedAt.IsZero()
	}
	if allStarted {
		slices.SortStableFunc(out, func(a, b Step) int { return a.StartedAt.Compare(b.StartedAt) })
	}
	return out
}

func orderClass(order int) int {
	if order < 0 {
		return 1
	}
	return 0
}

// step renders the markers as a step: status only once an end is known,
// duration only when both ends are.
func (m *MarkerFact) step() Step {
	s := Step{StartedAt: m.StartAt, Status: m.EndStatus, Error: cloneError(m.Error)}
	if !m.StartAt.IsZero() && m.EndStatus != "" && !m.EndAt.Before(m.StartAt) {
		ms := m.EndAt.Sub(m.StartAt).Milliseconds()
		s.DurationMS = &ms
	}
	return s
}

// overlay writes every non-empty field of src over dst.
func overlay(dst *Step, src Step) {
	if src.Status != "" {
		dst.Status = src.Status
	}
	if !src.StartedAt.IsZero() {
		dst.StartedAt = src.StartedAt
	}
	if src.DurationMS != nil {
		dst.DurationMS = cloneInt(src.DurationMS)
	}
	if src.Error != nil {
		dst.Error = cloneError(src.Error)
	}
	if len(src.Details) > 0 {
		dst.Details = src.Details
	}
}

func cloneInt(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneError(e *ErrorInfo) *ErrorInfo {
	if e == nil {
		return nil
	}
	c := *e
	return &c
}

// ErrorFromMessage splits an error entry's message at the line that opens a
// Python traceback: the text before it is the message, the rest the
// traceback (excInfo, when the record carried it apart, wins), and the
// traceback's last line `Type: msg` names the exception type.
func ErrorFromMessage(message, excInfo string) *ErrorInfo {
	msg, tb := message, ""
	switch {
	case strings.HasPrefix(message, tracebackHeader):
		msg, tb = "", message
	default:
		if i := strings.Index(message, "\n"+tracebackHeader); i >= 0 {
			msg, tb = message[:i], message[i+1:]
		}
	}
	if excInfo != "" {
		tb = excInfo
	}
	tb = strings.TrimRight(tb, " \t\r\n")
	return &ErrorInfo{
		Type:      exceptionType(tb),
		Message:   strings.TrimRight(msg, " \t\r\n"),
		Traceback: tb,
	}
}

// exceptionType returns the exception class named by a traceback's last
// line (`pkg.Error: message` or a bare `KeyboardInterrupt`), or "".
func exceptionType(tb string) string {
	if tb == "" {
		return ""
	}
	line := tb[strings.LastIndexByte(tb, '\n')+1:]
	if line == "" || line[0] == ' ' || line[0] == '\t' {
		return ""
	}
	if i := strings.Index(line, ":"); i >= 0 {
		line = line[:i]
	}
	if !isDottedIdent(line) {
		return ""
	}
	return line
}

func isDottedIdent(s string) bool {
	if s == "" {
		return false
	}
	prevDot := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
			continue
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9':
			if prevDot {
				return false
			}
		default:
			return false
		}
		prevDot = false
	}
	return !prevDot
}

// DeriveHook folds every entry of one hook_id from scratch: it builds the
// timeline, assigns each entry its attempt (setting Entry.Attempt) and
// returns the attempts in order (a nil element for an attempt with no
// entry). Entries of other hook_ids are ignored. The result does not depend
// on the order of entries.
func DeriveHook(hookID string, entries []Entry) (Timeline, []*AttemptFold) {
	var tl Timeline
	for i := range entries {
		if entries[i].HookID == hookID {
			tl.Observe(&entries[i])
		}
	}
	bounds := tl.Bounds()
	folds := make([]*AttemptFold, len(bounds)+1)
	for i := range entries {
		e := &entries[i]
		if e.HookID != hookID {
			continue
		}
		e.Attempt = AttemptAt(bounds, EventTime(e))
		if folds[e.Attempt-1] == nil {
			folds[e.Attempt-1] = NewAttemptFold(hookID, e.Attempt)
		}
		folds[e.Attempt-1].Apply(e)
	}
	return tl, folds
}
