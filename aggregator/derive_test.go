package aggregator_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
)

const hook = "6143a030-bbd7-11f0-95bd-b07354b8711c"

var t0 = time.Date(2026, 7, 31, 10, 15, 2, 101877000, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func i64(v int64) *int64 { return &v }

// request is the request handler's "Processing webhook" line.
func request(ms int) aggregator.Entry {
	return aggregator.Entry{Source: "wh", Timestamp: at(ms), Level: "INFO", HookID: hook,
		EventType: "pull_request", Message: "Processing webhook"}
}

// queued is another request-handler line.
func queued(ms int) aggregator.Entry {
	e := request(ms)
	e.Message = "Webhook validation passed, queuing for background processing"
	return e
}

// bg is a background line (its prefix names the repository).
func bg(ms int, level, msg string) aggregator.Entry {
	return aggregator.Entry{Source: "wh", Timestamp: at(ms), Level: level, HookID: hook,
		EventType: "pull_request", Repository: "github-webhook-server", GithubUser: "myakove-bot",
		PRNumber: 890, Message: msg}
}

// summaryLine is the text "[SUCCESS|FAILED] Webhook completed" line.
func summaryLine(ms int, status string, steps ...aggregator.Step) aggregator.Entry {
	e := bg(ms, "INFO", "[SUCCESS] Webhook completed")
	e.GithubUser, e.PRNumber = "", 0
	e.Completion = &aggregator.Completion{Status: status, DurationMS: i64(int64(ms)), PRNumber: 890,
		TokenSpend: i64(23), Steps: steps}
	return e
}

// jsonSummary is a JSONL webhook_summary record.
func jsonSummary(ms int, status string, steps ...aggregator.Step) aggregator.Entry {
	return aggregator.Entry{Source: "wh", Summary: true, HookID: hook, EventType: "pull_request",
		Repository: "github-webhook-server",
		Completion: &aggregator.Completion{Status: status, DurationMS: i64(7712), PRNumber: 890,
			Action: "synchronize", Sender: "myakove", RepositoryFullName: "myk-org/github-webhook-server",
			PRTitle: "fix", APIUser: "myakove-bot", StartedAt: at(2), CompletedAt: at(ms), Steps: steps}}
}

func marker(ms int, step, status, msg string) aggregator.Entry {
	e := bg(ms, "STEP", msg)
	e.Step, e.TaskType, e.TaskStatus = step, step, status
	return e
}

func fold(entries ...aggregator.Entry) []*aggregator.AttemptFold {
	_, folds := aggregator.DeriveHook(hook, entries)
	return folds
}

func view(t *testing.T, entries ...aggregator.Entry) aggregator.Delivery {
	t.Helper()
	folds := fold(entries...)
	return folds[len(folds)-1].Delivery(time.Time{}, 0)
}

const traceback = "Traceback (most recent call last):\n" +
	"  File \"/app/webhook_server/app.py\", line 485, in process_with_error_handling\n" +
	"    await _api.process()\n" +
	"RuntimeError: Failed to fetch PR 825 ref: fatal: couldn't find remote ref"

func TestDeliveryState(t *testing.T) {
	tests := map[string]struct {
		entries       []aggregator.Entry
		newest        time.Time
		wantState     aggregator.State
		wantHasErrors bool
	}{
		"pending": {
			entries:   []aggregator.Entry{request(0), queued(1)},
			wantState: aggregator.StatePending,
		},
		"processing": {
			entries:   []aggregator.Entry{request(0), queued(1), bg(2, "INFO", "Processing webhook")},
			wantState: aggregator.StateProcessing,
		},
		"completed": {
			entries:   []aggregator.Entry{request(0), bg(2, "INFO", "x"), summaryLine(900, "success")},
			wantState: aggregator.StateCompleted,
		},
		"completed partial has errors": {
			entries:       []aggregator.Entry{request(0), summaryLine(900, "success"), jsonSummary(900, "partial")},
			wantState:     aggregator.StateCompleted,
			wantHasErrors: true,
		},
		"completed with error entry": {
			entries:       []aggregator.Entry{request(0), bg(1, "ERROR", "boom"), summaryLine(900, "success")},
			wantState:     aggregator.StateCompleted,
			wantHasErrors: true,
		},
		"completed with failed step": {
			entries: []aggregator.Entry{request(0), summaryLine(900, "success",
				aggregator.Step{Name: "repo_clone", Status: "failed"})},
			wantState:     aggregator.StateCompleted,
			wantHasErrors: true,
		},
		"failed": {
			entries:       []aggregator.Entry{request(0), bg(2, "INFO", "x"), summaryLine(900, "failed")},
			wantState:     aggregator.StateFailed,
			wantHasErrors: true,
		},
		"completion before request line arrives": {
			entries:   []aggregator.Entry{summaryLine(900, "success"), request(0)},
			wantState: aggregator.StateCompleted,
		},
		"not yet timed out": {
			entries:   []aggregator.Entry{request(0), bg(2, "INFO", "x")},
			newest:    at(2).Add(15*time.Minute - time.Microsecond),
			wantState: aggregator.StateProcessing,
		},
		"timeout": {
			entries:       []aggregator.Entry{request(0), bg(2, "INFO", "x")},
			newest:        at(2).Add(15 * time.Minute),
			wantState:     aggregator.StateTimeout,
			wantHasErrors: true,
		},
		"completed never times out": {
			entries:   []aggregator.Entry{request(0), summaryLine(900, "success")},
			newest:    at(2).Add(time.Hour),
			wantState: aggregator.StateCompleted,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			folds := fold(tt.entries...)
			if got, want := len(folds), 1; got != want {
				t.Fatalf("attempts=%d, want %d", got, want)
			}
			d := folds[0].Delivery(tt.newest, 15*time.Minute)
			if d.State != tt.wantState || d.HasErrors != tt.wantHasErrors {
				t.Errorf("state=%s has_errors=%v, want %s %v", d.State, d.HasErrors, tt.wantState, tt.wantHasErrors)
			}
		})
	}
}

func TestDeliveryFields(t *testing.T) {
	d := view(t,
		request(0), queued(1),
		bg(2, "INFO", "Processing webhook"),
		bg(500, "INFO", "token *****  23 API calls"),
		summaryLine(7712, "success"),
	)
	want := aggregator.Delivery{
		HookID: hook, Attempt: 1, Service: "wh", State: aggregator.StateCompleted, Status: "success",
		EventType: "pull_request", Repository: "github-webhook-server", PRNumber: 890,
		APIUser: "myakove-bot", ReceivedAt: at(0), CompletedAt: at(7712), DurationMS: i64(7712),
		TokenSpend: i64(23), FirstEntryAt: at(0), LastEntryAt: at(7712), EntryCount: 5,
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("delivery (-want +got):\n%s", diff)
	}

	// Without a duration in the completion: completed - received.
	s := summaryLine(1500, "success")
	s.Completion.DurationMS = nil
	if got := view(t, request(0), s).DurationMS; got == nil || *got != 1500 {
		t.Errorf("duration=%v, want 1500", got)
	}

	// The JSON summary is authoritative.
	d = view(t, request(0), summaryLine(900, "success"), jsonSummary(900, "partial"))
	if d.Status != "partial" || d.Action != "synchronize" || d.RepositoryFullName != "myk-org/github-webhook-server" ||
		*d.DurationMS != 7712 {
		t.Errorf("json summary not applied: %+v", d)
	}
	if d.EntryCount != 2 {
		t.Errorf("entry count=%d, want 2 (the summary is no entry)", d.EntryCount)
	}
}

func TestAttempts(t *testing.T) {
	tests := map[string]struct {
		entries []aggregator.Entry
		// want is the attempt of each entry, in the order given.
		want       []int
		wantStates []aggregator.State
	}{
		"one run": {
			entries:    []aggregator.Entry{request(0), queued(1), bg(2, "INFO", "a"), summaryLine(10, "success")},
			want:       []int{1, 1, 1, 1},
			wantStates: []aggregator.State{aggregator.StateCompleted},
		},
		"redelivery after completion": {
			entries: []aggregator.Entry{request(0), bg(2, "INFO", "a"), summaryLine(10, "failed"),
				request(100), bg(102, "INFO", "b"), summaryLine(110, "success")},
			want:       []int{1, 1, 1, 2, 2, 2},
			wantStates: []aggregator.State{aggregator.StateFailed, aggregator.StateCompleted},
		},
		"request during a run is no new attempt": {
			entries:    []aggregator.Entry{request(0), bg(2, "INFO", "a"), request(5), summaryLine(10, "success")},
			want:       []int{1, 1, 1, 1},
			wantStates: []aggregator.State{aggregator.StateCompleted},
		},
		"background line is no request start": {
			entries: []aggregator.Entry{request(0), summaryLine(10, "success"),
				bg(20, "INFO", "Processing webhook")},
			want:       []int{1, 1, 1},
			wantStates: []aggregator.State{aggregator.StateCompleted},
		},
		"unknown-delivery three runs, last pending": {
			entries: []aggregator.Entry{request(0), summaryLine(10, "success"),
				request(20), bg(21, "ERROR", "x"), summaryLine(30, "failed"),
				request(40), queued(41)},
			want:       []int{1, 1, 2, 2, 2, 3, 3},
			wantStates: []aggregator.State{aggregator.StateCompleted, aggregator.StateFailed, aggregator.StatePending},
		},
		"completion without its request line": {
			entries:    []aggregator.Entry{bg(2, "INFO", "a"), summaryLine(10, "success"), request(100), queued(101)},
			want:       []int{1, 1, 2, 2},
			wantStates: []aggregator.State{aggregator.StateCompleted, aggregator.StatePending},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			entries := append([]aggregator.Entry(nil), tt.entries...)
			_, folds := aggregator.DeriveHook(hook, entries)
			var got []int
			for _, e := range entries {
				got = append(got, e.Attempt)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("attempts (-want +got):\n%s", diff)
			}
			var states []aggregator.State
			for _, f := range folds {
				states = append(states, f.Delivery(time.Time{}, 0).State)
			}
			if diff := cmp.Diff(tt.wantStates, states); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTimelineDuplicatesChangeNothing(t *testing.T) {
	var tl aggregator.Timeline
	r, s := request(0), summaryLine(10, "success")
	if !tl.Observe(&r) || !tl.Observe(&s) {
		t.Fatal("first observation reported no change")
	}
	if tl.Observe(&r) || tl.Observe(&s) {
		t.Error("duplicate observation reported a change")
	}
	if got := aggregator.AttemptAt(tl.Bounds(), time.Time{}); got != 1 {
		t.Errorf("zero time attempt=%d, want 1", got)
	}
}

// TestOutOfOrder folds the same entries in many orders and expects the same
// deliveries every time.
func TestOutOfOrder(t *testing.T) {
	entries := []aggregator.Entry{
		request(0), queued(1), bg(2, "INFO", "Processing webhook"),
		marker(3, "webhook_routing", "started", "Starting webhook processing"),
		marker(4, "repo_clone", "started", "Cloning"),
		marker(800, "repo_clone", "completed", "Cloned"),
		bg(850, "ERROR", "Unexpected error\n"+traceback),
		bg(860, "ERROR", "later error"),
		marker(900, "webhook_routing", "failed", "Routing failed"),
		summaryLine(909, "failed",
			aggregator.Step{Name: "webhook_routing", Status: "started"},
			aggregator.Step{Name: "repo_clone", Status: "completed", DurationMS: i64(796)}),
		request(5000), bg(5001, "INFO", "again"), summaryLine(5900, "success"),
		jsonSummary(5900, "success", aggregator.Step{Name: "webhook_routing", Status: "completed",
			StartedAt: at(5002), DurationMS: i64(890)}),
	}
	render := func(es []aggregator.Entry) []aggregator.Delivery {
		_, folds := aggregator.DeriveHook(hook, es)
		var out []aggregator.Delivery
		for _, f := range folds {
			out = append(out, f.Delivery(time.Time{}, 0))
		}
		return out
	}
	want := render(entries)
	if len(want) != 2 {
		t.Fatalf("attempts=%d, want 2", len(want))
	}
	if want[0].Error == nil || want[0].Error.Message != "later error" {
		t.Errorf("attempt 1 error=%+v, want the last ERROR entry", want[0].Error)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		shuffled := append([]aggregator.Entry(nil), entries...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if diff := cmp.Diff(want, render(shuffled)); diff != "" {
			t.Fatalf("permutation %d (-want +got):\n%s", i, diff)
		}
	}
	// Folding the same entries incrementally into stored folds gives the same.
	_, folds := aggregator.DeriveHook(hook, entries)
	inc := aggregator.NewAttemptFold(hook, 1)
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Attempt == 1 {
			inc.Apply(&entries[i])
		}
	}
	if diff := cmp.Diff(folds[0].Delivery(time.Time{}, 0), inc.Delivery(time.Time{}, 0)); diff != "" {
		t.Errorf("incremental fold (-want +got):\n%s", diff)
	}
}

func TestStepTrust(t *testing.T) {
	clone := aggregator.Step{Name: "repo_clone", Status: "completed", DurationMS: i64(1203)}
	routing := aggregator.Step{Name: "webhook_routing", Status: "completed", DurationMS: i64(5880)}
	tests := map[string]struct {
		entries []aggregator.Entry
		want    []aggregator.Step
	}{
		"text summary only": {
			entries: []aggregator.Entry{summaryLine(9000, "success", routing, clone)},
			want: []aggregator.Step{
				{Name: "webhook_routing", Status: "completed", DurationMS: i64(5880), Source: aggregator.StepFromSummaryText, Order: 0},
				{Name: "repo_clone", Status: "completed", DurationMS: i64(1203), Source: aggregator.StepFromSummaryText, Order: 1},
			},
		},
		"markers only": {
			entries: []aggregator.Entry{
				marker(10, "repo_clone", "started", "Cloning"),
				marker(1210, "repo_clone", "completed", "Cloned"),
				marker(1300, "ci_check", "started", "tox"),
				marker(2300, "ci_check", "failed", "Tox tests failed"),
				marker(2400, "labels", "skipped", "nothing to do"),
			},
			want: []aggregator.Step{
				{Name: "repo_clone", Status: "completed", StartedAt: at(10), DurationMS: i64(1200), Source: aggregator.StepFromMarkers, Order: 1 << 20},
				{Name: "ci_check", Status: "failed", StartedAt: at(1300), DurationMS: i64(1000),
					Error: &aggregator.ErrorInfo{Message: "Tox tests failed"}, Source: aggregator.StepFromMarkers, Order: 1<<20 + 1},
				{Name: "labels", Status: "skipped", Source: aggregator.StepFromMarkers, Order: 1<<20 + 2},
			},
		},
		"markers overwrite text, fill from text": {
			entries: []aggregator.Entry{
				summaryLine(9000, "success", routing, clone),
				marker(10, "repo_clone", "started", "Cloning"),
			},
			want: []aggregator.Step{
				{Name: "webhook_routing", Status: "completed", DurationMS: i64(5880), Source: aggregator.StepFromSummaryText, Order: 0},
				{Name: "repo_clone", Status: "completed", StartedAt: at(10), DurationMS: i64(1203), Source: aggregator.StepFromMarkers, Order: 1},
			},
		},
		"json overwrites markers and text": {
			entries: []aggregator.Entry{
				summaryLine(9000, "success", routing, clone),
				marker(10, "repo_clone", "started", "Cloning"),
				marker(1000, "repo_clone", "failed", "Clone failed"),
				jsonSummary(9000, "success",
					aggregator.Step{Name: "webhook_routing", Status: "completed", StartedAt: at(1), DurationMS: i64(5881)},
					aggregator.Step{Name: "repo_clone", Status: "completed", StartedAt: at(11), DurationMS: i64(1204)}),
			},
			want: []aggregator.Step{
				{Name: "webhook_routing", Status: "completed", StartedAt: at(1), DurationMS: i64(5881), Source: aggregator.StepFromSummaryJSON, Order: 0},
				{Name: "repo_clone", Status: "completed", StartedAt: at(11), DurationMS: i64(1204),
					Error: &aggregator.ErrorInfo{Message: "Clone failed"}, Source: aggregator.StepFromSummaryJSON, Order: 1},
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			d := view(t, tt.entries...)
			if diff := cmp.Diff(tt.want, d.Steps); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorFromMessage(t *testing.T) {
	tests := map[string]struct {
		message, excInfo string
		want             aggregator.ErrorInfo
	}{
		"message and traceback": {
			message: "Unexpected error in background webhook processing\n" + traceback + "\n",
			want: aggregator.ErrorInfo{Type: "RuntimeError", Message: "Unexpected error in background webhook processing",
				Traceback: traceback},
		},
		"traceback only": {
			message: traceback,
			want:    aggregator.ErrorInfo{Type: "RuntimeError", Traceback: traceback},
		},
		"no traceback": {
			message: "Failed to run 'git fetch'. rc: 128\nfatal: bad ref",
			want:    aggregator.ErrorInfo{Message: "Failed to run 'git fetch'. rc: 128\nfatal: bad ref"},
		},
		"exc_info apart": {
			message: "boom",
			excInfo: "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\ngithub.GithubException.UnknownObjectException: 404",
			want: aggregator.ErrorInfo{Type: "github.GithubException.UnknownObjectException", Message: "boom",
				Traceback: "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\ngithub.GithubException.UnknownObjectException: 404"},
		},
		"bare exception": {
			message: "stop\nTraceback (most recent call last):\n  File \"x.py\", line 1, in f\nKeyboardInterrupt",
			want: aggregator.ErrorInfo{Type: "KeyboardInterrupt", Message: "stop",
				Traceback: "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\nKeyboardInterrupt"},
		},
		"garbage last line": {
			message: "Traceback (most recent call last):\n  ... cut",
			want:    aggregator.ErrorInfo{Traceback: "Traceback (most recent call last):\n  ... cut"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := aggregator.ErrorFromMessage(tt.message, tt.excInfo)
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailedDeliveryError(t *testing.T) {
	d := view(t, request(0),
		bg(10, "ERROR", "Failed to fetch PR 825 ref"),
		bg(20, "ERROR", "Unexpected error in background webhook processing\n"+traceback),
		summaryLine(30, "failed"))
	want := &aggregator.ErrorInfo{Type: "RuntimeError", Message: "Unexpected error in background webhook processing",
		Traceback: traceback}
	if diff := cmp.Diff(want, d.Error); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if d.ErrorCount != 2 {
		t.Errorf("error count=%d, want 2", d.ErrorCount)
	}
	// A completed delivery carries no error, even with ERROR entries.
	if d := view(t, request(0), bg(10, "ERROR", "x"), summaryLine(30, "success")); d.Error != nil {
		t.Errorf("completed delivery error=%+v, want nil", d.Error)
	}
	// The JSON summary's error wins.
	js := jsonSummary(30, "failed")
	js.Completion.Error = &aggregator.ErrorInfo{Type: "ValueError", Message: "bad"}
	if d := view(t, request(0), bg(10, "ERROR", "x"), js); d.Error == nil || d.Error.Type != "ValueError" {
		t.Errorf("error=%+v, want the summary's", d.Error)
	}
}

func TestApplyIgnoresOtherHooks(t *testing.T) {
	f := aggregator.NewAttemptFold(hook, 1)
	other := request(0)
	other.HookID = "other"
	f.Apply(&other)
	noHook := bg(1, "ERROR", "x")
	noHook.HookID = ""
	f.Apply(&noHook)
	if d := f.Delivery(time.Time{}, 0); d.EntryCount != 0 || d.ErrorCount != 0 {
		t.Errorf("counts=%d/%d, want 0/0", d.EntryCount, d.ErrorCount)
	}
}
