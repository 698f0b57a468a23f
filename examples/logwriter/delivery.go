package logwriter

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// record is one log record of a delivery's script, before formatting.
type record struct {
	at     int64 // simulated time, µs since the Unix epoch
	level  level
	shape  shape
	withPR bool // shapeHandler only: append `[PR n]`
	// Legacy 4.0.x task markers (each omitted when empty, like upstream's
	// format_task_fields).
	taskID, taskType, taskStatus string
	msg                          string // text after the prefix and markers; may hold ANSI and '\n'
	tb                           string // traceback lines after the header, no surrounding '\n'
	summary                      *Summary
	tokens                       int  // token spend the message states, 0 if none
	glue                         bool // written right after the delivery's previous record
}

// delivery is one webhook delivery: its identity and its script.
type delivery struct {
	seq      int64
	hookID   string
	event    string
	repo     repoInfo
	apiUser  string
	pr       int
	failed   bool
	failStep string
	errors   bool // an ERROR/CRITICAL record or a failed step was scripted

	// Prefixes without the trailing ':'.
	pfxRequest, pfxBackground, pfxHandler, pfxHandlerPR string

	recs []record
	next int
	// out is the time (µs) each record was stamped with when written, or
	// would have been when the DuplicateFilter dropped it.
	out []int64
	// prSeen: a record with `[PR n]` was written, so upstream's
	// WebhookContext knows the PR (a log_entry's pr_number).
	prSeen bool

	ctx *webhookContext // 4.1.0 deliveries: what the JSONL summary shows
}

// webhookContext is what upstream's WebhookContext holds at the end of a
// 4.1.0 delivery, beyond the delivery's identity: the JSONL
// webhook_summary's content. The script fills it without drawing from the
// generator's random stream, so the text is the same with or without the
// JSONL.
type webhookContext struct {
	action string // "" is null (push)
	// prTitle is the title the script logged, "" if it logged none.
	prTitle string
	// bgIdx is the index of the background task's first record, where
	// timing.started_at is.
	bgIdx int
	steps []stepState
	// partial: the delivery succeeded, but a step completed with a failure
	// indicator (can_merge false): upstream's status "partial".
	partial bool
	// err is the error of the failed step, also the top-level error.
	err *stepError
	// initialRate is the rate limit at the start; tokens the spend, 0 when
	// the delivery failed before counting it (token_spend and
	// final_rate_limit null).
	initialRate, tokens int
	// summary is the summary line's message as the JSON "summary" key
	// writes it: `name:started` without the text's "(incomplete)".
	summary string
}

// stepError is a failed step's error as WebhookContext.fail_step keeps it.
type stepError struct {
	typ, message, traceback string
}

// kv is one extra key of a step, a string, bool or nil value.
type kv struct {
	key string
	val any
}

func (d *delivery) prefix(rec *record) string {
	switch rec.shape {
	case shapeRequest:
		return d.pfxRequest
	case shapeBackground:
		return d.pfxBackground
	case shapeHandler:
		if rec.withPR {
			return d.pfxHandlerPR
		}
		return d.pfxHandler
	}
	return ""
}

// stepState tracks one workflow step while a script is built.
type stepState struct {
	name   string
	status string
	start  int64
	durMS  int64
	// startIdx is the index of the record written just before the step
	// started: its timestamp anchors the step's (see runner.stepTime).
	startIdx int
	// startData and endData are the extra keys start_step and
	// complete_step add, in order; err is fail_step's error.
	startData, endData []kv
	err                *stepError
}

// builder appends records to a delivery's script, advancing simulated time.
type builder struct {
	r      *rand.Rand
	d      *delivery
	t      int64 // µs
	legacy bool
	steps  []stepState
	// bgStart is when the background task started: the summary's duration
	// runs from there.
	bgStart int64
}

const (
	us  = int64(1)
	ms  = 1000 * us
	sec = 1000 * ms
)

// gap advances the cursor by a uniformly random amount in [lo, hi].
func (b *builder) gap(lo, hi int64) {
	b.t += lo + b.r.Int64N(hi-lo+1)
}

// add appends a record at the cursor after a gap in [lo, hi].
func (b *builder) add(lo, hi int64, l level, s shape, msg string) *record {
	b.gap(lo, hi)
	if l == levelError || l == levelCritical {
		b.d.errors = true
	}
	b.d.recs = append(b.d.recs, record{at: b.t, level: l, shape: s, withPR: s == shapeHandler && b.d.pr > 0, msg: msg})
	return &b.d.recs[len(b.d.recs)-1]
}

// h appends a handler-shape record (coloured repo, api user, PR if any).
func (b *builder) h(lo, hi int64, l level, msg string) *record {
	return b.add(lo, hi, l, shapeHandler, msg)
}

// marker appends a legacy record with task markers.
func (b *builder) marker(lo, hi int64, l level, taskID, taskType, status, msg string) *record {
	rec := b.h(lo, hi, l, msg)
	rec.taskID, rec.taskType, rec.taskStatus = taskID, taskType, status
	if status == "failed" {
		b.d.errors = true
	}
	return rec
}

func (b *builder) stepStart(name string, data ...kv) {
	b.steps = append(b.steps, stepState{name: name, status: "started", start: b.t, startIdx: len(b.d.recs) - 1, startData: data})
}

// step returns the started step called name, nil if none.
func (b *builder) step(name string) *stepState {
	for i := range b.steps {
		if b.steps[i].name == name {
			return &b.steps[i]
		}
	}
	return nil
}

// stepData adds start data to a started step (known only once it runs).
func (b *builder) stepData(name string, data ...kv) {
	if st := b.step(name); st != nil {
		st.startData = append(st.startData, data...)
	}
}

func (b *builder) stepEnd(name, status string, data ...kv) {
	if st := b.step(name); st != nil {
		st.status = status
		st.durMS = (b.t - st.start) / ms
		st.endData = data
		if status == "failed" {
			b.d.errors = true
		}
	}
}

// stepFail ends a step as fail_step does, with the exception whose last
// traceback line is excLine ("module.Type: message").
func (b *builder) stepFail(name, excLine, tb string) {
	b.stepEnd(name, "failed")
	qual, msg, _ := strings.Cut(excLine, ": ")
	e := &stepError{typ: qual[strings.LastIndexByte(qual, '.')+1:], message: msg, traceback: tb + "\n"}
	if st := b.step(name); st != nil {
		st.err = e
	}
	if b.d.ctx != nil {
		b.d.ctx.err = e
	}
}

// newDelivery draws a delivery's identity.
func newDelivery(r *rand.Rand, seq int64, failureRate float64) *delivery {
	d := &delivery{seq: seq, hookID: newGUID(r), repo: pick(r, repos[:]), apiUser: pick(r, apiUsers[:])}
	switch x := r.IntN(100); {
	case x < 40:
		d.event = "pull_request"
	case x < 70:
		d.event = "check_run"
	case x < 85:
		d.event = "issue_comment"
	default:
		d.event = "push"
	}
	if d.event != "push" {
		d.pr = 1 + r.IntN(1200)
	}
	d.failed = r.Float64() < failureRate
	d.pfxRequest = " [" + d.event + "][" + d.hookID + "]"
	d.pfxBackground = d.repo.name + d.pfxRequest
	d.pfxHandler = "\x1b[38;5;" + strconv.Itoa(d.repo.colour) + "m" + d.repo.name + ansiReset +
		d.pfxRequest + "[" + sanitize(d.apiUser) + "]"
	if d.pr > 0 {
		d.pfxHandlerPR = d.pfxHandler + "[PR " + strconv.Itoa(d.pr) + "]"
	}
	return d
}

// script builds the delivery's records starting at start (µs).
func (d *delivery) script(r *rand.Rand, start int64, legacy bool) {
	b := &builder{r: r, d: d, t: start, legacy: legacy}
	d.recs = make([]record, 0, 48)
	// Request handler (app.py), before the 200 response.
	b.add(0, 0, levelInfo, shapeRequest, "Processing webhook")
	b.add(300*us, 1*ms, levelDebug, shapeRequest, "Signature verification successful")
	b.add(200*us, 1*ms, levelInfo, shapeRequest, "Webhook validation passed, queuing for background processing")
	// Background task start, then the token selection helpers (no prefix).
	b.add(500*us, 2*ms, levelInfo, shapeBackground, "Processing webhook")
	b.bgStart = b.t
	bgIdx := len(d.recs) - 1
	b.add(150*ms, 400*ms, levelDebug, shapeNone, "Checking 2 API(s) for highest rate limit")
	other := apiUsers[(indexOf(apiUsers[:], d.apiUser)+1)%len(apiUsers)]
	best := 1000 + r.IntN(4000)
	for i, user := range []string{d.apiUser, other} {
		remaining := best
		if i == 1 {
			remaining = r.IntN(best)
		}
		b.gap(100*ms, 300*ms)
		now := timeOf(b.t)
		reset := now.Add(timeDur(int64(60+r.IntN(3500)) * sec)).Truncate(timeDur(sec))
		left := reset.Sub(now).Truncate(timeDur(sec))
		h, m, s := int(left.Hours()), int(left.Minutes())%60, int(left.Seconds())%60
		b.add(0, 0, levelDebug, shapeNone, "\x1b[36m["+user+"] API rate limit:\x1b[39m Current "+colouredRemaining(remaining)+
			" of 5000. Reset in "+pyStr(reset)+" ["+strconv.Itoa(h)+":"+pad2(m)+":"+pad2(s)+"] (UTC time is "+pyStr(now)+")")
	}
	b.add(1*ms, 3*ms, levelInfo, shapeNone, "API user "+d.apiUser+" selected with highest rate limit: "+strconv.Itoa(best))
	initial := best
	tokens := 3 + r.IntN(60)

	if d.failed {
		if r.IntN(2) == 0 {
			d.failStep = "repo_clone"
		} else {
			d.failStep = handlerStep(d.event)
		}
	}
	if legacy {
		b.legacyBody(initial, tokens)
		return
	}
	d.ctx = &webhookContext{bgIdx: bgIdx, initialRate: initial}
	switch d.event {
	case "check_run":
		d.ctx.action = "completed"
	case "issue_comment":
		d.ctx.action = "created"
	}
	b.modernBody(initial, tokens)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return 0
}

func pad2(v int) string {
	if v < 10 {
		return "0" + strconv.Itoa(v)
	}
	return strconv.Itoa(v)
}

// handlerStep is the 4.1.0 step name of the event's handler.
func handlerStep(event string) string {
	switch event {
	case "pull_request":
		return "pr_handler"
	case "check_run":
		return "check_run_handler"
	case "issue_comment":
		return "issue_comment_handler"
	}
	return "push_handler"
}

// modernBody is the 4.1.0 part after the token selection: handler lines,
// steps in a WebhookContext, and the summary line.
func (b *builder) modernBody(initial, tokens int) {
	d, r := b.d, b.r
	b.stepStart("webhook_routing", kv{"event_type", d.event})
	full := d.repo.org + "/" + d.repo.name
	if d.pr > 0 {
		rec := b.h(500*ms, 1200*ms, levelDebug, "Processing "+d.event+" event for "+full)
		rec.withPR = false
	}
	b.h(1*ms, 3*ms, levelDebug, "Event type: "+d.event+". event ID: "+d.hookID)
	if r.IntN(6) == 0 {
		b.h(1*ms, 4*ms, levelDebug, "Repository config:\nprotected-branches:\n  main: []\nminimum-lgtm: "+
			strconv.Itoa(r.IntN(3))+"\nauto-verified-and-merged-users:\n- renovate[bot]\n")
	}
	if r.IntN(40) == 0 {
		b.h(1*ms, 5*ms, levelCritical, "API rate limit nearly exhausted for all users: "+strconv.Itoa(r.IntN(20))+" calls left")
	}
	dir := tmpDir(r, d.repo.name)
	b.stepStart("repo_clone")
	cloneCmd := "git clone https://***REDACTED***@github.com/" + full + ".git " + dir
	b.h(2*ms, 5*ms, levelDebug, "Running '"+cloneCmd+"' command")
	if d.failStep == "repo_clone" {
		errText := b.cloneFailure(cloneCmd, dir)
		tb := tracebackRuntime("RuntimeError: " + errText)
		b.stepFail("repo_clone", "RuntimeError: "+errText, tb)
		b.fail(tb)
		return
	}
	b.h(1*sec, 2500*ms, levelInfo, "Repository cloned to "+dir+" (ref: main)")
	b.stepEnd("repo_clone", "completed", kv{"checkout_ref", "main"})

	step := handlerStep(d.event)
	b.stepStart(step)
	if !b.handlerLines(step) {
		return
	}
	b.stepEnd(step, "completed")
	b.gap(5*ms, 30*ms)
	b.stepEnd("webhook_routing", "completed")
	b.h(20*ms, 60*ms, levelInfo, "Webhook processing completed successfully: "+d.event+" - token *****  "+strconv.Itoa(tokens)+
		" API calls (initial: "+strconv.Itoa(initial)+", remaining: "+strconv.Itoa(initial-tokens)+")").tokens = tokens
	d.ctx.tokens = tokens
	b.summary(true, tokens)
}

// cloneFailure scripts the failing git command and returns the error text
// the RuntimeError carries.
func (b *builder) cloneFailure(cloneCmd, dir string) string {
	d := b.d
	if d.pr > 0 && b.r.IntN(3) > 0 {
		pr := strconv.Itoa(d.pr)
		errLine := "fatal: couldn't find remote ref refs/pull/" + pr + "/head"
		b.h(400*ms, 1500*ms, levelError, "Failed to run 'git -C "+dir+" fetch origin +refs/pull/"+pr+"/head:refs/remotes/origin/pr/"+pr+
			"'. rc: 128, out: , error: "+errLine+"\n")
		b.h(500*us, 2*ms, levelError, "Failed to fetch PR "+pr+" ref: "+errLine+"\n")
		return "Failed to fetch PR " + pr + " ref: " + errLine
	}
	errText := "Cloning into '" + dir + "'...\nfatal: unable to access 'https://github.com/" + d.repo.org + "/" + d.repo.name +
		".git/': Could not resolve host: github.com"
	b.h(2*sec, 5*sec, levelError, "Failed to run '"+cloneCmd+"'. rc: 128, out: , error: "+errText+"\n")
	return "Failed to clone repository: Could not resolve host: github.com"
}

// fail ends a failed 4.1.0 delivery: the background task's exception with
// its traceback, then the [FAILED] summary.
func (b *builder) fail(tb string) {
	rec := b.add(3*ms, 10*ms, levelError, shapeBackground, "Unexpected error in background webhook processing")
	rec.tb = tb
	b.summary(false, 0)
}

// summary appends the `[SUCCESS|FAILED] Webhook completed …` line.
func (b *builder) summary(ok bool, tokens int) {
	d := b.d
	b.gap(1*ms, 40*ms)
	total := (b.t - b.bgStart) / ms
	s := &Summary{Status: "FAILED", PRNumber: d.pr, DurationMS: writtenDuration(total), Steps: make([]SummaryStep, 0, len(b.steps))}
	var msg strings.Builder
	if ok {
		s.Status = "SUCCESS"
	}
	msg.WriteString("[" + s.Status + "] Webhook completed")
	if d.pr > 0 {
		msg.WriteString(" PR#" + strconv.Itoa(d.pr))
	}
	msg.WriteString(" [" + formatDuration(total))
	if tokens > 0 {
		msg.WriteString(", tokens:" + strconv.Itoa(tokens))
		s.Tokens = &tokens
	}
	msg.WriteString("] steps=[")
	for i, st := range b.steps {
		if i > 0 {
			msg.WriteString(", ")
		}
		ss := SummaryStep{Name: st.name, Status: st.status}
		msg.WriteString(st.name + ":" + st.status)
		if st.status == "started" {
			msg.WriteString("(incomplete)")
		} else {
			msg.WriteString("(" + formatDuration(st.durMS) + ")")
			v := writtenDuration(st.durMS)
			ss.DurationMS = &v
		}
		s.Steps = append(s.Steps, ss)
	}
	msg.WriteString("]")
	rec := b.add(0, 0, levelInfo, shapeBackground, msg.String())
	rec.summary = s
	if d.ctx != nil {
		d.ctx.steps = b.steps
		d.ctx.summary = strings.ReplaceAll(msg.String(), ":started(incomplete)", ":started")
	}
}

// handlerLines scripts the event handler; it returns false when the
// delivery failed inside it (the failure records are then written).
func (b *builder) handlerLines(step string) bool {
	d, r := b.d, b.r
	switch d.event {
	case "pull_request":
		action := pick(r, prActions[:])
		if d.ctx != nil {
			d.ctx.action = action
		}
		b.stepData(step, kv{"action", action})
		b.h(1*ms, 5*ms, levelInfo, "hook_action is: "+action)
		if r.IntN(3) == 0 {
			title := pick(r, prTitles[:])
			if d.ctx != nil {
				d.ctx.prTitle = title
			}
			b.h(1*ms, 3*ms, levelDebug, "PR title: "+title)
		}
		files := "'" + pick(r, changedFiles[:]) + "'"
		for range r.IntN(3) {
			files += ", '" + pick(r, changedFiles[:]) + "'"
		}
		b.h(200*ms, 500*ms, levelDebug, "Changed files: ["+files+"]")
		if r.IntN(4) == 0 {
			b.h(2*ms, 10*ms, levelWarning, "No merge base found, falling back to two-dot diff")
		}
		label := pick(r, sizeLabels[:])
		if action == "synchronize" || action == "opened" || action == "reopened" {
			b.stepStart("pr_workflow_setup")
			b.h(300*ms, 900*ms, levelInfo, "Adding pull request label "+label)
			if d.failStep == step {
				return b.handlerFailure(step, "pull_request_handler.py", "process_pull_request_webhook_data",
					"await self.labels_handler._add_label(pull_request=pull_request, label=size_label)",
					"Failed to add label "+label)
			}
			b.stepEnd("pr_workflow_setup", "completed")
			b.stepStart("pr_cicd_execution")
			b.h(200*ms, 800*ms, levelInfo, "Queuing check runs: tox, pre-commit, build-container")
			if r.IntN(5) == 0 {
				b.dupBurst("Waiting for check runs to be queued", "Check runs queued")
			}
			b.stepEnd("pr_cicd_execution", "completed")
			b.stepStart("label_merge_state")
			b.h(100*ms, 400*ms, levelDebug, "Mergeable state: "+pick(r, []string{"clean", "blocked", "unknown", "behind"}))
			b.stepEnd("label_merge_state", "completed")
		} else if d.failStep == step {
			return b.handlerFailure(step, "pull_request_handler.py", "process_pull_request_webhook_data",
				"await self.labels_handler._add_label(pull_request=pull_request, label=size_label)",
				"Failed to add label "+label)
		}
		b.mergeCheck()
	case "check_run":
		check := pick(r, checkNames[:])
		conclusion := pick(r, []string{"success", "success", "failure", "neutral"})
		b.h(5*ms, 50*ms, levelDebug, "Processing check run "+check+", status: completed, conclusion: "+conclusion)
		if r.IntN(3) == 0 {
			b.h(100*ms, 400*ms, levelDebug, checkRunOutput(r, check))
		}
		if d.failStep == step {
			return b.handlerFailure(step, "check_run_handler.py", "process_pull_request_check_run_webhook_data",
				"await self.set_check_run_status(check_run=check_run_name, status=COMPLETED_STR)",
				"Failed to set check run status for "+check)
		}
		b.h(50*ms, 300*ms, levelInfo, "Check run "+check+" is completed, re-checking merge eligibility")
		b.mergeCheck()
	case "issue_comment":
		cmd := pick(r, []string{"/retest tox", "/lgtm", "/approve", "/verified", "/hold cancel", "/build-and-push-container"})
		b.h(5*ms, 50*ms, levelInfo, "Processing comment: "+cmd)
		if r.IntN(4) == 0 {
			b.dupBurst("User "+pick(r, senders[:])+" is not allowed to run "+cmd, "Comment processing skipped")
		}
		if d.failStep == step {
			return b.handlerFailure(step, "issue_comment_handler.py", "process_comment_webhook_data",
				"await self.user_commands(pull_request=pull_request, command=command, reviewed_user=reviewed_user)",
				"Failed to run user command "+cmd)
		}
		b.h(300*ms, 1500*ms, levelInfo, "Command "+cmd+" done")
	default: // push
		if r.IntN(3) == 0 {
			tag := "v" + strconv.Itoa(1+r.IntN(5)) + "." + strconv.Itoa(r.IntN(20)) + "." + strconv.Itoa(r.IntN(10))
			b.h(5*ms, 50*ms, levelInfo, "Processing push for tag: "+tag)
			if d.failStep == step {
				return b.handlerFailure(step, "push_handler.py", "process_push_webhook_data",
					"await self.upload_to_pypi(tag_name=tag_name)", "Failed to publish "+tag)
			}
			b.h(2*sec, 8*sec, levelInfo, "Successfully published "+tag+" to pypi")
		} else {
			b.h(5*ms, 50*ms, levelDebug, "Processing push for ref: refs/heads/main")
			if d.failStep == step {
				return b.handlerFailure(step, "push_handler.py", "process_push_webhook_data",
					"await self.github_webhook.repository.get_branch(branch=branch)", "Failed to read branch main")
			}
			b.h(1*ms, 5*ms, levelDebug, "Not a tag push, nothing to do")
		}
	}
	return true
}

// mergeCheck scripts check_merge_eligibility, often with the multi-line
// "cannot be merged" record that leaves a line holding only the reset.
func (b *builder) mergeCheck() {
	r := b.r
	b.stepStart("check_merge_eligibility")
	b.h(100*ms, 800*ms, levelInfo, "Check if can-be-merged.")
	if r.IntN(10) < 7 {
		var reasons strings.Builder
		reasons.WriteString("Some required check runs in progress " + pick(r, checkNames[:]) + ", " + pick(r, checkNames[:]) + "\n")
		if r.IntN(2) == 0 {
			reasons.WriteString("Missing approved from approvers: " + pick(r, senders[:3]) + "\n")
		}
		b.h(300*ms, 1200*ms, levelDebug, "cannot be merged: "+reasons.String())
		b.stepEnd("check_merge_eligibility", "completed", kv{"can_merge", false}, kv{"reason", reasons.String()})
		if b.d.ctx != nil {
			b.d.ctx.partial = true
		}
		return
	}
	b.h(300*ms, 1200*ms, levelInfo, "Pull request can be merged")
	// complete_step drops "reason" when can_merge is true.
	b.stepEnd("check_merge_eligibility", "completed", kv{"can_merge", true})
}

// dupBurst scripts one message logged three to five times in a row (the
// DuplicateFilter drops all but the first) and then a distinct one, which
// gets the "--- [DuplicateFilter: …]" suffix.
func (b *builder) dupBurst(repeated, next string) {
	b.h(5*ms, 20*ms, levelDebug, repeated)
	for range 3 + b.r.IntN(3) {
		b.h(1*ms, 5*ms, levelDebug, repeated).glue = true
	}
	b.h(1*ms, 5*ms, levelDebug, next).glue = true
}

// handlerFailure scripts a handler error and the resulting failed 4.1.0
// delivery (or legacy failed task); it always returns false.
func (b *builder) handlerFailure(step, file, fn, call, what string) bool {
	var exc, tb string
	if b.r.IntN(2) == 0 {
		exc = `github.GithubException.GithubException: 403 {"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest", "status": "403"}`
		b.h(200*ms, 900*ms, levelError, what+": 403 "+exc[len("github.GithubException.GithubException: 403 "):])
		tb = tracebackGithub(file, fn, call, exc)
	} else {
		exc = "httpx.ReadTimeout: The read operation timed out"
		b.h(5*sec, 10*sec, levelError, what+": The read operation timed out")
		tb = tracebackTimeout(file, fn, call)
	}
	if b.legacy {
		b.legacyFail(exc, tb)
		return false
	}
	b.stepFail(step, exc, tb)
	b.fail(tb)
	return false
}
