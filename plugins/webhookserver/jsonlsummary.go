package webhookserver

import (
	"cmp"
	"slices"
	"time"

	"github.com/hooktail/hooktail/plugins"
)

// This file reads a webhook_summary line (reference §2.2 (a)) into a
// KindDeliverySummary entry; see jsonl.go for the rules all JSONL records
// follow.

// Delivery statuses (Completion.Status).
const (
	statusSuccess = "success"
	statusPartial = "partial"
	statusFailed  = "failed"
)

// knownText returns the values summaries repeat (statuses, the level,
// event types, upstream's step names) as constants, so that reading them
// allocates nothing; "" for any other value.
func knownText(b []byte) string {
	switch string(b) {
	case statusSuccess:
		return statusSuccess
	case statusPartial:
		return statusPartial
	case statusFailed:
		return statusFailed
	}
	for _, s := range [...]string{
		"started", "processing", "completed", "skipped", "COMPLETED",
		"pull_request", "push", "check_run", "issue_comment", "pull_request_review",
		"webhook_routing", "repo_clone", "pr_handler", "pr_workflow_setup", "pr_cicd_execution",
		"label_merge_state", "check_merge_eligibility", "check_run_handler",
		"issue_comment_handler", "pr_review_handler", "push_handler",
	} {
		if string(b) == s {
			return s
		}
	}
	return ""
}

// valueReader reads typed values of a summary, remembering whether any had
// the wrong type.
type valueReader struct {
	s   *scratch
	loc *time.Location
	bad bool
	// us is the last timestamp read.
	us int64
}

// text returns a string member decoded, ANSI stripped and valid UTF-8
// without NUL; "" when absent or null.
func (v *valueReader) text(m jsonValue) string {
	if !optString(&m) {
		v.bad = true
		return ""
	}
	if m.null() {
		return ""
	}
	return v.textOf(m.str(), m.esc)
}

// textOf returns the content of a JSON string decoded, ANSI stripped and
// valid UTF-8 without NUL.
func (v *valueReader) textOf(str []byte, esc bool) string {
	s := v.s
	s.tmp = s.appendText(s.tmp[:0], str, esc)
	if k := knownText(s.tmp); k != "" {
		return k
	}
	if plugins.IsClean(s.tmp) {
		return string(s.tmp)
	}
	return string(plugins.AppendClean(nil, s.tmp))
}

// int returns an integer member; nil when absent or null.
func (v *valueReader) int(m jsonValue) *int64 {
	n, set, ok := optInt(&m)
	if !ok {
		v.bad = true
	}
	if !set {
		return nil
	}
	return &n
}

// time returns a timestamp member as written and in Unix microseconds; ""
// and 0 when absent or null.
func (v *valueReader) time(m jsonValue) (string, int64) {
	if !v.timestamp(m) {
		return "", 0
	}
	return string(v.s.tmp), v.us
}

// timeUS returns a timestamp member in Unix microseconds, 0 when absent or
// null.
func (v *valueReader) timeUS(m jsonValue) int64 {
	if !v.timestamp(m) {
		return 0
	}
	return v.us
}

// timestamp decodes a timestamp member into s.tmp and v.us; false when it is
// absent, null or bad.
func (v *valueReader) timestamp(m jsonValue) bool {
	if !optString(&m) || m.null() {
		v.bad = v.bad || !optString(&m)
		return false
	}
	b, us, ok := jsonTimestamp(v.s.tmp[:0], &m, v.loc)
	v.s.tmp, v.us = b, us
	if !ok {
		v.bad = true
		return false
	}
	return true
}

// fields walks an object member: known gets each member whose key is one
// of names, by index, and a key seen twice marks v bad; other gets the rest
// and may be nil. ok is false when m is absent or null; a member of another
// kind marks v bad. extra reports members that known did not take.
func (v *valueReader) fields(m jsonValue, names []string, known func(i int, f jsonValue), other func(f jsonValue)) (ok, extra bool) {
	if m.null() {
		return false, false
	}
	it, isObject := newObjectIter(m.val(), 1)
	if m.kind != jsonObject || !isObject {
		v.bad = true
		return false, false
	}
	var seen uint64 // by index of names
	var tmp [32]byte
	f := jsonValue{b: it.b}
	for it.next(&f.jsonMember) {
		name, i := keyName(&f, tmp[:]), len(names)-1
		for i >= 0 && string(name) != names[i] {
			i--
		}
		if i < 0 {
			extra = true
			if other != nil {
				other(f)
			}
			continue
		}
		if seen&(1<<i) != 0 {
			v.bad = true
		}
		seen |= 1 << i
		known(i, f)
	}
	return true, extra
}

// errorInfo reads an error: null, a string (the message) or an object
// {type, message, traceback}. extra reports keys besides those.
func (v *valueReader) errorInfo(m jsonValue) (info *plugins.ErrorInfo, extra bool) {
	if m.present() && m.kind == jsonString {
		return &plugins.ErrorInfo{Message: v.text(m)}, false
	}
	info = &plugins.ErrorInfo{}
	dst := [...]*string{&info.Type, &info.Message, &info.Traceback}
	ok, extra := v.fields(m, []string{"type", "message", "traceback"},
		func(i int, f jsonValue) { *dst[i] = v.text(f) }, nil)
	if !ok {
		return nil, false
	}
	return info, extra
}

// parseSummary fills e from a webhook_summary record. It reports false,
// leaving e untouched, when the record is malformed.
func (s *scratch) parseSummary(e *plugins.Entry, r *jsonRecord, loc *time.Location) bool {
	v := valueReader{s: s, loc: loc}
	hook := v.text(r.get(keyHookID))
	if hook == "" {
		return false
	}
	// Objects with keys no field takes are kept whole in Details.
	var partial keyMask
	c := &plugins.Completion{
		Action:             v.text(r.get(keyAction)),
		Sender:             v.text(r.get(keySender)),
		RepositoryFullName: v.text(r.get(keyRepositoryFullName)),
		APIUser:            v.text(r.get(keyAPIUser)),
		TokenSpend:         v.int(r.get(keyTokenSpend)),
	}
	var extra bool
	if c.Error, extra = v.errorInfo(r.get(keyError)); extra {
		partial |= 1 << keyError
	}
	if _, extra := v.fields(r.get(keyPR), []string{"number", "title"}, func(i int, f jsonValue) {
		if i == 0 {
			n, _, ok := optInt(&f)
			v.bad = v.bad || !ok
			c.PRNumber = n
			return
		}
		c.PRTitle = v.text(f)
	}, nil); extra {
		partial |= 1 << keyPR
	}
	var startedRaw, completedRaw string
	if _, extra := v.fields(r.get(keyTiming), []string{"started_at", "completed_at", "duration_ms"}, func(i int, f jsonValue) {
		switch i {
		case 0:
			startedRaw, c.StartedAtUS = v.time(f)
		case 1:
			completedRaw, c.CompletedAtUS = v.time(f)
		default:
			c.DurationMS = v.int(f)
		}
	}, nil); extra {
		partial |= 1 << keyTiming
	}
	c.Steps = v.steps(r.get(keyWorkflowSteps))

	status := v.text(r.get(keyStatus))
	success := r.get(keySuccess)
	if !success.null() && success.kind != jsonBool {
		v.bad = true
	}
	if status == "" {
		// Before 2026-03-15 summaries had no status: success tells it, and
		// a failed step makes a success partial, as upstream later defined.
		switch {
		case success.null() || success.kind != jsonBool:
			return false // no outcome
		case success.val()[0] == 'f':
			status = statusFailed
		case slices.ContainsFunc(c.Steps, func(st plugins.Step) bool { return st.Status == "failed" }):
			status = statusPartial
		default:
			status = statusSuccess
		}
	}
	c.Status = status

	event := v.text(r.get(keyEventType))
	repo := v.text(r.get(keyRepository))
	level := v.text(r.get(keyLevel))
	if v.bad {
		return false
	}
	*e = plugins.Entry{
		Kind:         plugins.KindDeliverySummary,
		Level:        level,
		HookID:       hook,
		EventType:    event,
		Repository:   repo,
		PRNumber:     c.PRNumber,
		GithubUser:   c.APIUser,
		Completion:   c,
		TimestampRaw: completedRaw,
		TimestampUS:  c.CompletedAtUS,
		Details:      detailsOf(nil, r, summaryKeys, partial),
	}
	if e.TimestampRaw == "" {
		e.TimestampRaw, e.TimestampUS = startedRaw, c.StartedAtUS
	}
	return true
}

// steps reads workflow_steps: {<name>: {timestamp, status, error, …,
// duration_ms}}. A step's other keys, and its error when that has keys
// besides type, message and traceback, go to the step's Details. The steps
// come out by start time (unknown last), then name.
func (v *valueReader) steps(m jsonValue) []plugins.Step {
	if m.null() {
		return nil
	}
	it, isObject := newObjectIter(m.val(), 1)
	if m.kind != jsonObject || !isObject {
		v.bad = true
		return nil
	}
	var steps []plugins.Step
	sm := jsonValue{b: it.b}
	for it.next(&sm.jsonMember) {
		st := plugins.Step{Name: v.textOf(sm.keyText(), sm.keyEsc)}
		if slices.ContainsFunc(steps, func(o plugins.Step) bool { return o.Name == st.Name }) {
			v.bad = true
		}
		var details []byte
		keep := func(f jsonValue) {
			details = append(append(details, ','), f.raw()...)
		}
		ok, _ := v.fields(sm, []string{"timestamp", "status", "duration_ms", "error"}, func(i int, f jsonValue) {
			switch i {
			case 0:
				st.StartedAtUS = v.timeUS(f)
			case 1:
				st.Status = v.text(f)
			case 2:
				st.DurationMS = v.int(f)
			default:
				var extra bool
				if st.Error, extra = v.errorInfo(f); extra {
					keep(f)
				}
			}
		}, keep)
		if !ok {
			v.bad = true // a step that is null
			continue
		}
		if details != nil {
			details[0] = '{'
			st.Details = append(details, '}')
		}
		steps = append(steps, st)
	}
	slices.SortFunc(steps, func(a, b plugins.Step) int {
		if (a.StartedAtUS == 0) != (b.StartedAtUS == 0) {
			if a.StartedAtUS == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.StartedAtUS, b.StartedAtUS), cmp.Compare(a.Name, b.Name))
	})
	return steps
}
