package logwriter

import "strconv"

// legacyTask is the 4.0.x task_id and task_type of an event's handler.
func legacyTask(event string) (id, typ string) {
	switch event {
	case "pull_request":
		return "pr_handler", "pr_management"
	case "check_run":
		return "check_run", "ci_check"
	case "issue_comment":
		return "issue_comment", "pr_management"
	}
	return "push_processing", "webhook_event"
}

// legacyBody is the 4.0.x part after the token selection: STEP/SUCCESS
// records with `[task_id=…] [task_type=…] [task_status=…]` markers and no
// summary line.
func (b *builder) legacyBody(initial, tokens int) {
	d, r := b.d, b.r
	b.marker(500*ms, 1200*ms, levelStep, "webhook_processing", "webhook_routing", "started",
		"Starting webhook processing: Event type: "+d.event+". event ID: "+d.hookID)
	b.marker(1*ms, 3*ms, levelStep, "webhook_processing", "repo_clone", "started", "Cloning repository for handler worktrees")
	dir := tmpDir(r, d.repo.name)
	cloneCmd := "git clone https://***REDACTED***@github.com/" + d.repo.org + "/" + d.repo.name + ".git " + dir
	b.h(2*ms, 5*ms, levelDebug, "Running '"+cloneCmd+"' command")
	if d.failStep == "repo_clone" {
		errText := b.cloneFailure(cloneCmd, dir)
		b.marker(1*ms, 3*ms, levelStep, "webhook_processing", "repo_clone", "failed", "Repository clone failed")
		b.legacyFinalError("RuntimeError: "+errText, tracebackRuntime("RuntimeError: "+errText))
		return
	}
	b.marker(1*sec, 2500*ms, levelSuccess, "webhook_processing", "repo_clone", "completed", "Repository cloned to "+dir+" (ref: main)")

	id, typ := legacyTask(d.event)
	b.marker(2*ms, 20*ms, levelStep, id, typ, "started", "Starting "+d.event+" processing")
	if d.event == "pull_request" {
		// format_task_fields omits empty fields: this marker has no task_type.
		b.marker(50*ms, 300*ms, levelStep, "labels", "", "processing", "Applying size and branch labels")
	}
	if !b.handlerLines(handlerStep(d.event)) {
		return
	}
	if d.event == "pull_request" || (d.event == "check_run" && r.IntN(2) == 0) {
		b.marker(5*ms, 50*ms, levelStep, "runner", "ci_check", "started", "Starting tox tests execution")
		if r.IntN(4) == 0 {
			b.marker(20*sec, 150*sec, levelStep, "runner", "ci_check", "failed", "Tox tests failed")
		} else {
			b.marker(20*sec, 150*sec, levelStep, "runner", "ci_check", "completed", "Tox tests completed successfully")
		}
	}
	b.marker(5*ms, 30*ms, levelSuccess, id, typ, "completed", d.event+" processing completed")
	final := initial - tokens
	b.marker(20*ms, 60*ms, levelSuccess, "webhook_processing", "webhook_routing", "completed",
		"Webhook processing completed successfully: "+d.event+" - token *****  "+strconv.Itoa(tokens)+
			" API calls (initial: "+strconv.Itoa(initial)+", final: "+strconv.Itoa(final)+", remaining: "+strconv.Itoa(final)+")").tokens = tokens
}

// legacyFail scripts a handler's failed task and the final error; the
// delivery's failing step becomes the task's step name (its task_type).
func (b *builder) legacyFail(exc, tb string) {
	id, typ := legacyTask(b.d.event)
	b.marker(1*ms, 3*ms, levelStep, id, typ, "failed", b.d.event+" processing failed")
	b.d.failStep = typ
	b.legacyFinalError(exc, tb)
}

// legacyFinalError is the ERROR record, with markers and a traceback, that
// ends a failed 4.0.x delivery.
func (b *builder) legacyFinalError(exc, tb string) {
	rec := b.marker(3*ms, 10*ms, levelError, "webhook_processing", "webhook_routing", "failed", "Webhook processing failed: "+exc)
	rec.tb = tb
}
