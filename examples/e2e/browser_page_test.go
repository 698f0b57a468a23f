package e2e_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hooktail/hooktail/examples/logwriter"
)

// writtenLogs is what a logwriter run wrote: its manifest.
type writtenLogs struct {
	dir        string
	records    []logwriter.ManifestRecord
	deliveries []logwriter.ManifestDelivery
	failed     int
}

// writeDeliveries writes n 4.1.0 deliveries, about a third of them failed
// with a traceback, to dir's webhook-server.log and its webhooks_*.json,
// stamped from an hour ago so that lines appended later are the newest.
func writeDeliveries(t *testing.T, dir string, n int, seed int64) writtenLogs {
	t.Helper()
	w := runLogwriter(t, logwriter.Options{Dir: dir, Seed: seed, Deliveries: n, Concurrency: 4, FailureRate: 0.3, JSONL: logwriter.JSONLCurrent})
	if w.failed == 0 || w.failed == len(w.deliveries) {
		t.Fatalf("%d of %d deliveries failed: the status filter proves nothing", w.failed, len(w.deliveries))
	}
	return w
}

// writeTextDeliveries writes n 4.1.0 deliveries that all succeed to dir's
// webhook-server.log only, with no JSONL, as a 4.1.0 server whose JSONL is
// elsewhere or gone leaves them: their steps' start times are nowhere,
// only the summary line's durations. They are stamped from an hour ago.
func writeTextDeliveries(t *testing.T, dir string, n int, seed int64) writtenLogs {
	t.Helper()
	return runLogwriter(t, logwriter.Options{Dir: dir, Seed: seed, Deliveries: n, Concurrency: 2, FailureRate: -1, JSONL: logwriter.JSONLOff})
}

// runLogwriter runs the logwriter with o, stamped from an hour ago, and
// returns its manifest.
func runLogwriter(t *testing.T, o logwriter.Options) writtenLogs {
	t.Helper()
	w := writtenLogs{dir: o.Dir}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	o.Clock = func() time.Time { return start }
	o.OnRecord = func(r logwriter.ManifestRecord) { w.records = append(w.records, r) }
	o.OnDelivery = func(d logwriter.ManifestDelivery) { w.deliveries = append(w.deliveries, d) }
	if _, err := logwriter.Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	for _, d := range w.deliveries {
		if d.Failed {
			w.failed++
		}
	}
	return w
}

// plus is the deliveries of w and x together, for the list's counts.
func (w writtenLogs) plus(x writtenLogs) writtenLogs {
	return writtenLogs{
		dir:        w.dir,
		records:    slices.Concat(w.records, x.records),
		deliveries: slices.Concat(w.deliveries, x.deliveries),
		failed:     w.failed + x.failed,
	}
}

// summary returns the steps of a delivery's text summary line
// (`[SUCCESS] Webhook completed … steps=[…]`), nil if none was written.
func (w writtenLogs) summary(hook string) []logwriter.SummaryStep {
	for _, r := range w.records {
		if r.Summary != nil && (r.HookID == hook || r.JSONLHookID == hook) {
			return r.Summary.Steps
		}
	}
	return nil
}

// tracebacks returns the tracebacks written for a delivery, from their
// "Traceback (most recent call last):" line on.
func (w writtenLogs) tracebacks(hook string) []string {
	var out []string
	for _, r := range w.records {
		if r.HookID != hook && r.JSONLHookID != hook {
			continue
		}
		if i := strings.Index(r.Message, "Traceback (most recent call last):"); i >= 0 {
			out = append(out, r.Message[i:])
		}
	}
	return out
}

// waitDeliveries waits until the deliveries API lists every delivery
// written, the failed ones with status error.
func waitDeliveries(t *testing.T, c *cluster, w writtenLogs) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("%d deliveries, %d failed, listed", len(w.deliveries), w.failed), func() error {
		for _, want := range []struct {
			query string
			n     int
		}{{"limit=1", len(w.deliveries)}, {"limit=1&status=error", w.failed}} {
			var page struct {
				Total int `json:"total"`
			}
			if _, err := getJSON(t.Context(), c.httpBase+"/api/logs?"+want.query, &page); err != nil {
				return err
			}
			if page.Total != want.n {
				return fmt.Errorf("/api/logs?%s: total %d, want %d", want.query, page.Total, want.n)
			}
		}
		return nil
	})
}

// apiSteps returns a delivery's steps from the workflow-steps API, once it
// has want of them: name → task_status, and the names in its order.
func apiSteps(t *testing.T, c *cluster, hook string, want int) (map[string]string, []string) {
	t.Helper()
	status := map[string]string{}
	var names []string
	eventually(t, 30*time.Second, "workflow steps of "+hook, func() error {
		var wf struct {
			Steps []struct {
				StepName   string `json:"step_name"`
				TaskStatus string `json:"task_status"`
			} `json:"steps"`
		}
		if _, err := getJSON(t.Context(), c.httpBase+"/logs/api/workflow-steps/"+url.PathEscape(hook), &wf); err != nil {
			return err
		}
		if len(wf.Steps) != want {
			return fmt.Errorf("%d steps, want %d", len(wf.Steps), want)
		}
		clear(status)
		names = names[:0]
		for _, s := range wf.Steps {
			status[s.StepName] = s.TaskStatus
			names = append(names, s.StepName)
		}
		return nil
	})
	return status, names
}

// logAppender appends records to a tailed log file as upstream writes them.
type logAppender struct {
	path string
	last time.Time
}

// add appends one INFO record in the background-task prefix shape
// (`repo [event][hook]: msg`), stamped now (strictly after the last one),
// in one write, as Python's logging does.
func (a *logAppender) add(t *testing.T, d logwriter.ManifestDelivery, msg string) {
	t.Helper()
	ts := time.Now().UTC().Truncate(time.Microsecond)
	if !ts.After(a.last) {
		ts = a.last.Add(time.Microsecond)
	}
	a.last = ts
	line := isoformat(ts) + " GithubWebhook \x1b[32mINFO\x1b[0m " + d.Repository + " [" + d.EventType + "][" + d.HookID + "]: " + msg + "\x1b[0m\n"
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// rotateLog rotates a log file as Python's
// RotatingFileHandler.doRollover does: path.i → path.i+1 for the backups
// there, newest last, path → path.1, and a new, empty path (a new inode).
func rotateLog(t *testing.T, path string) {
	t.Helper()
	dir, base := filepath.Split(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var backups []int
	for _, e := range ents {
		if suffix, ok := strings.CutPrefix(e.Name(), base+"."); ok {
			if i, err := strconv.Atoi(suffix); err == nil && i > 0 && strconv.Itoa(i) == suffix {
				backups = append(backups, i)
			}
		}
	}
	slices.Sort(backups)
	for _, i := range slices.Backward(backups) {
		if err := os.Rename(path+"."+strconv.Itoa(i), path+"."+strconv.Itoa(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// deliveryRow is a row of table#deliveries.
type deliveryRow struct {
	Hook   string `json:"hook"`
	Status string `json:"status"`
	Href   string `json:"href"`
}

// deliveriesState is the deliveries view as the page shows it.
type deliveriesState struct {
	View  string        `json:"view"`
	Busy  string        `json:"busy"`
	Total string        `json:"total"`
	Hash  string        `json:"hash"`
	Rows  []deliveryRow `json:"rows"`
}

const jsDeliveriesState = `({
	view: document.body.dataset.view ?? "",
	busy: document.querySelector("table#deliveries")?.getAttribute("aria-busy") ?? "(no table#deliveries)",
	total: document.querySelector("#deliveries-total")?.textContent ?? "(no #deliveries-total)",
	hash: location.hash,
	rows: [...document.querySelectorAll("table#deliveries tbody tr.delivery-row")].map(r => ({
		hook: r.dataset.hookId ?? "",
		status: r.dataset.status ?? "",
		href: r.querySelector("a.open-delivery")?.getAttribute("href") ?? "",
	})),
})`

// deliveries waits until the deliveries view has loaded and cond accepts
// it, and returns what it shows.
func (b *browser) deliveries(within time.Duration, what string, cond func(deliveriesState) error) deliveriesState {
	b.t.Helper()
	var st deliveriesState
	eventually(b.t, within, what, func() error {
		var err error
		if st, err = evalJS[deliveriesState](b, jsDeliveriesState); err != nil {
			return err
		}
		if st.View != "deliveries" || st.Busy != "false" {
			return fmt.Errorf("body data-view=%q, table#deliveries aria-busy=%q", st.View, st.Busy)
		}
		return cond(st)
	})
	b.checkConsole()
	return st
}

// stepState is one .step of #timeline.
type stepState struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Depth   string `json:"depth"`
	Failed  bool   `json:"failed"`
	HasBar  bool   `json:"bar"`
	HasLink bool   `json:"link"`
	// Estimated is the .bar's class estimated; Left and Width are its
	// inline style left and width, which must be percentages of the
	// track (Style says what they were otherwise).
	Estimated bool    `json:"estimated"`
	Left      float64 `json:"left"`
	Width     float64 `json:"width"`
	Style     string  `json:"style"`
}

const jsTimeline = `[...document.querySelectorAll("#timeline .step")].map(s => ({
	name: s.dataset.step ?? "",
	status: s.dataset.status ?? "",
	depth: s.dataset.depth ?? "",
	failed: s.classList.contains("failed"),
	bar: !!s.querySelector(".bar"),
	link: !!s.querySelector("a.step-link"),
	...(() => {
		const bar = s.querySelector(".bar");
		if (!bar) return {estimated: false, left: 0, width: 0, style: "(no .bar)"};
		const pct = /^(-?[0-9.e+-]+)%$/;
		const l = pct.exec(bar.style.left), w = pct.exec(bar.style.width);
		return {
			estimated: bar.classList.contains("estimated"),
			left: l ? parseFloat(l[1]) : 0,
			width: w ? parseFloat(w[1]) : 0,
			style: l && w ? "" : "left " + JSON.stringify(bar.style.left) + ", width " + JSON.stringify(bar.style.width) + " (want percentages)",
		};
	})(),
}))`

// logsState is the logs panel of the delivery view.
type logsState struct {
	Busy   string   `json:"busy"`
	Lines  int      `json:"lines"`
	Levels []string `json:"levels"`
	// Excs are the tracebacks among the step's own lines (a traceback
	// written into a message is split into its line's pre.exc).
	Excs  []string `json:"excs"`
	Hash  string   `json:"hash"`
	Title string   `json:"title"`
}

const jsLogs = `({
	title: document.querySelector("#logs-title")?.textContent ?? "(no #logs-title)",
	busy: document.querySelector("#logs")?.getAttribute("aria-busy") ?? "(no #logs)",
	lines: document.querySelectorAll("#logs .line").length,
	levels: [...document.querySelectorAll("#logs .line")].map(l => l.dataset.level ?? ""),
	excs: [...document.querySelectorAll("#logs .line pre.exc")].map(p => p.textContent),
	hash: location.hash,
})`

// liveLine is one line of the live view.
type liveLine struct {
	ID  string `json:"id"`
	Msg string `json:"msg"`
}

// liveState is the live view as the page shows it.
type liveState struct {
	View    string     `json:"view"`
	State   string     `json:"state"`
	Pressed string     `json:"pressed"`
	Pending string     `json:"pending"`
	Lines   []liveLine `json:"lines"`
}

const jsLive = `({
	view: document.body.dataset.view ?? "",
	state: document.body.dataset.liveState ?? "",
	pressed: document.querySelector("button#live-pause")?.getAttribute("aria-pressed") ?? "(no button#live-pause)",
	pending: document.querySelector("#live-pending")?.textContent ?? "(no #live-pending)",
	lines: [...document.querySelectorAll("#live-lines .line")].map(l => ({
		id: l.dataset.id ?? "",
		msg: l.querySelector(".msg")?.textContent ?? "",
	})),
})`

// live waits until the live view is in state (and, when paused is not
// "", button#live-pause has aria-pressed=paused) and cond accepts it.
func (b *browser) live(within time.Duration, what, state, pressed string, cond func(liveState) error) liveState {
	b.t.Helper()
	var st liveState
	eventually(b.t, within, what, func() error {
		var err error
		if st, err = evalJS[liveState](b, jsLive); err != nil {
			return err
		}
		if st.View != "live" || st.State != state {
			return fmt.Errorf("body data-view=%q data-live-state=%q, want live and %q", st.View, st.State, state)
		}
		if pressed != "" && st.Pressed != pressed {
			return fmt.Errorf("button#live-pause aria-pressed=%q, want %q", st.Pressed, pressed)
		}
		if cond != nil {
			return cond(st)
		}
		return nil
	})
	b.checkConsole()
	return st
}

// liveInOrder waits until each marker is on exactly one line of the live
// view and none of the absent ones shows, then checks the rest of showOnce
// (the order, the line ids) without waiting more: lines only ever append,
// so an order that is wrong once they are all in stays wrong.
func (b *browser) liveInOrder(what string, markers, absent []string) liveState {
	b.t.Helper()
	st := b.live(30*time.Second, what, "live", "", func(st liveState) error {
		at := markerLines(st, append(slices.Clone(markers), absent...)...)
		for _, m := range markers {
			if len(at[m]) != 1 {
				return fmt.Errorf("%q is on %d lines of %d, want 1", m, len(at[m]), len(st.Lines))
			}
		}
		for _, m := range absent {
			if len(at[m]) > 0 {
				return fmt.Errorf("%q shows although the filter excludes it", m)
			}
		}
		return nil
	})
	if err := showOnce(st, markers, absent); err != nil {
		b.t.Errorf("%s: %v", what, err)
	}
	return st
}

// markerLines returns, for each marker, the indexes of the lines whose
// .msg holds it.
func markerLines(st liveState, markers ...string) map[string][]int {
	at := map[string][]int{}
	for i, l := range st.Lines {
		for _, m := range markers {
			if strings.Contains(l.Msg, m) {
				at[m] = append(at[m], i)
			}
		}
	}
	return at
}

// showOnce checks that each marker is on exactly one line, that the lines
// follow the markers' order (oldest first or newest first, but one of
// them), that no line id repeats, and that none of the absent markers
// shows.
func showOnce(st liveState, markers, absent []string) error {
	at := markerLines(st, append(slices.Clone(markers), absent...)...)
	var idx []int
	for _, m := range markers {
		if len(at[m]) != 1 {
			return fmt.Errorf("%q is on %d lines of %d, want 1", m, len(at[m]), len(st.Lines))
		}
		idx = append(idx, at[m][0])
	}
	for _, m := range absent {
		if len(at[m]) > 0 {
			return fmt.Errorf("%q shows although the filter excludes it", m)
		}
	}
	if !slices.IsSorted(idx) && !slices.IsSortedFunc(idx, func(a, b int) int { return b - a }) {
		return fmt.Errorf("the markers are on lines %v: not in the order written", idx)
	}
	seen := map[string]bool{}
	for _, l := range st.Lines {
		if l.ID == "" {
			return fmt.Errorf("a #live-lines .line without data-id: %q", l.Msg)
		}
		if seen[l.ID] {
			return fmt.Errorf("two lines with data-id %s", l.ID)
		}
		seen[l.ID] = true
	}
	return nil
}

// hasNumber reports whether text holds n as a whole number.
func hasNumber(text string, n int) bool {
	return regexp.MustCompile(`(^|\D)` + strconv.Itoa(n) + `(\D|$)`).MatchString(text)
}

// normTrace is a traceback with trailing blanks cut from every line and
// the surrounding blank lines removed, as a <pre> may render it.
func normTrace(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// barSlack is how far past 100% of its track a bar may end: rounding.
const barSlack = 0.5

// barInTrack returns why a step's bar is not within its track, "" if it
// is.
func barInTrack(s stepState) string {
	switch {
	case s.Style != "":
		return s.Style
	case s.Left < 0 || s.Width < 0:
		return fmt.Sprintf("left %.3f%%, width %.3f%%: negative", s.Left, s.Width)
	case s.Left+s.Width > 100+barSlack:
		return fmt.Sprintf("left %.3f%% + width %.3f%% = %.3f%%, past the end of the track", s.Left, s.Width, s.Left+s.Width)
	}
	return ""
}

// checkBarsByStart checks the timeline of a delivery whose steps have
// start times: every bar within its track and not marked estimated, and
// the bars' left edges in the order of the steps' starts.
func checkBarsByStart(t *testing.T, d logwriter.ManifestDelivery, steps []stepState) {
	t.Helper()
	started := map[string]time.Time{}
	for _, s := range d.Steps {
		ts, err := time.Parse(time.RFC3339Nano, s.Timestamp)
		if err != nil {
			t.Fatalf("delivery %s step %s: start %q: %v", d.HookID, s.Name, s.Timestamp, err)
		}
		started[s.Name] = ts
	}
	byStart := slices.Clone(steps)
	slices.SortStableFunc(byStart, func(a, b stepState) int { return started[a.Name].Compare(started[b.Name]) })
	for i, s := range byStart {
		if why := barInTrack(s); why != "" {
			t.Errorf("timeline of %s, step %q: .bar %s", d.HookID, s.Name, why)
		}
		if s.Estimated {
			t.Errorf("timeline of %s, step %q: .bar has class estimated, but the logs say when it started (%s)", d.HookID, s.Name, started[s.Name].Format(time.RFC3339Nano))
		}
		if i > 0 && s.Left < byStart[i-1].Left {
			p := byStart[i-1]
			t.Errorf("timeline of %s: step %q started at %s, after %q (%s), but its bar starts left of it (%.3f%% < %.3f%%)",
				d.HookID, s.Name, started[s.Name].Format(time.RFC3339Nano), p.Name, started[p.Name].Format(time.RFC3339Nano), s.Left, p.Left)
		}
	}
}

// holdsTraceback reports whether one of the texts holds one of the
// tracebacks written.
func holdsTraceback(texts, tracebacks []string) bool {
	for _, p := range texts {
		for _, tb := range tracebacks {
			if strings.Contains(normTrace(p), normTrace(tb)) {
				return true
			}
		}
	}
	return false
}

// TestWebPage drives the aggregator's web page in headless Chromium over
// real ingested logs: the deliveries list filtered to failures, a failed
// delivery's timeline, its failed step's logs with the traceback, the live
// tail, which follows new lines, pauses, and survives an aggregator restart
// and rotations of the tailed file without losing or repeating a line, the
// search, and the timelines of text-only deliveries, whose steps have no
// start times. With
// HOOKTAIL_SCREENSHOTS set it saves deliveries.png, delivery.png and
// live.png there.
func TestWebPage(t *testing.T) {
	needBinaries(t)
	needBrowser(t)
	logs, textLogs := t.TempDir(), t.TempDir()
	c := startCluster(t, fmt.Sprintf(`
source "webhook-server" {
  paths = ["%s/webhook-server.log*", "%s/webhooks_*.json"]
}
source "text-only" {
  paths = ["%s/webhook-server.log*"]
}
`, logs, logs, textLogs))
	w := writeDeliveries(t, logs, 40, 61)
	text := writeTextDeliveries(t, textLogs, 4, 63)
	all := w.plus(text)
	seen := map[string]bool{}
	for _, x := range all.deliveries {
		if seen[x.HookID] {
			t.Fatalf("hook id %s written twice: pick other seeds", x.HookID)
		}
		seen[x.HookID] = true
	}
	waitDeliveries(t, c, all)

	// The failed delivery to open: the one with the most steps.
	r := &webPageRun{t: t, c: c, w: w, text: text, all: all, failed: map[string]bool{}}
	for _, x := range w.deliveries {
		if x.Failed {
			r.failed[x.HookID] = true
			if len(x.Steps) > len(r.d.Steps) {
				r.d = x
			}
		}
	}
	t.Logf("%d deliveries, %d failed; opening %s (%s, %d steps, %s failed)", len(w.deliveries), w.failed, r.d.HookID, r.d.EventType, len(r.d.Steps), r.d.FailingStep)

	r.b = newBrowser(t, 5*time.Minute)
	r.deliveriesList()
	r.failedDelivery()
	r.liveTail()
	r.search()
	r.textTimelines()
}

// webPageRun is what the phases of TestWebPage share.
type webPageRun struct {
	t *testing.T
	c *cluster
	// w is what was written with JSONL, text what was written without
	// (text-only deliveries, which all succeed), all both.
	w, text, all writtenLogs
	b            *browser
	// d is the failed delivery the test opens; failed holds the hook ids
	// of every failed delivery.
	d      logwriter.ManifestDelivery
	failed map[string]bool
}

// deliveriesList opens the list as a browser asking /logs for HTML gets
// it, and filters it to the failed deliveries.
func (r *webPageRun) deliveriesList() {
	t, b, w := r.t, r.b, r.all
	b.navigate(r.c.httpBase + "/logs")
	b.deliveries(30*time.Second, "the deliveries list", func(st deliveriesState) error {
		if len(st.Rows) == 0 {
			return fmt.Errorf("no tr.delivery-row")
		}
		for _, row := range st.Rows {
			if row.Hook == "" || row.Status == "" || row.Href != "#/delivery/"+row.Hook {
				return fmt.Errorf("row data-hook-id=%q data-status=%q with a.open-delivery href %q", row.Hook, row.Status, row.Href)
			}
		}
		if !hasNumber(st.Total, len(w.deliveries)) {
			return fmt.Errorf("#deliveries-total %q does not say %d", st.Total, len(w.deliveries))
		}
		return nil
	})
	b.screenshot("deliveries.png")

	b.choose("#delivery-filters select[name=status]", "error")
	b.click("#apply-filters")
	st := b.deliveries(30*time.Second, "the failed deliveries", func(st deliveriesState) error {
		var bad []string
		for _, row := range st.Rows {
			if row.Status != "error" || !r.failed[row.Hook] {
				bad = append(bad, row.Hook+" "+row.Status)
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%d rows, %d of them not failed deliveries with data-status error: %v", len(st.Rows), len(bad), bad)
		}
		if len(st.Rows) != w.failed {
			return fmt.Errorf("%d rows, want the %d failed deliveries", len(st.Rows), w.failed)
		}
		return nil
	})
	if !hasNumber(st.Total, w.failed) {
		t.Errorf("#deliveries-total %q does not say %d", st.Total, w.failed)
	}
	if !strings.Contains(st.Hash, "status=error") {
		t.Errorf("after filtering, location.hash is %q: no status=error, so the view cannot be linked", st.Hash)
	}
}

// failedDelivery opens the failed delivery from the list, checks its
// timeline against the manifest and the workflow-steps API, and selects
// its failed step: the URL names it, and the traceback shows.
func (r *webPageRun) failedDelivery() {
	t, b, d := r.t, r.b, r.d
	wantTB := r.w.tracebacks(d.HookID)
	if len(wantTB) == 0 || d.FailingStep == "" {
		t.Fatalf("failed delivery %s: failing step %q, %d tracebacks written", d.HookID, d.FailingStep, len(wantTB))
	}
	stepStatus, stepOrder := apiSteps(t, r.c, d.HookID, len(d.Steps))

	b.click(fmt.Sprintf(`tr.delivery-row[data-hook-id=%q] a.open-delivery`, d.HookID))
	b.until(30*time.Second, "the delivery view of "+d.HookID, fmt.Sprintf(`(() => {
		const want = %s, n = %d;
		if (document.body.dataset.view !== "delivery") return "body data-view=" + document.body.dataset.view;
		if (!location.hash.startsWith("#/delivery/" + want)) return "location.hash " + location.hash;
		const el = document.querySelector("#delivery");
		if (!el || el.dataset.hookId !== want) return "#delivery data-hook-id=" + el?.dataset.hookId;
		const steps = document.querySelectorAll("#timeline .step").length;
		return steps === n ? "" : steps + " #timeline .step, want " + n;
	})()`, jsString(d.HookID), len(d.Steps)))
	steps, err := evalJS[[]stepState](b, jsTimeline)
	if err != nil {
		t.Fatal(err)
	}
	var gotOrder []string
	for _, s := range steps {
		gotOrder = append(gotOrder, s.Name)
		want, ok := stepStatus[s.Name]
		switch {
		case !ok:
			t.Errorf("timeline step %q: the delivery has no such step (API: %v)", s.Name, stepOrder)
		case s.Status != want:
			t.Errorf("timeline step %q: data-status=%q, the API says %q", s.Name, s.Status, want)
		}
		if s.Failed != (s.Name == d.FailingStep) {
			t.Errorf("timeline step %q: class failed is %v, want %v (failing step %s)", s.Name, s.Failed, !s.Failed, d.FailingStep)
		}
		if n, err := strconv.Atoi(s.Depth); err != nil || n < 0 {
			t.Errorf("timeline step %q: data-depth=%q, want a depth 0, 1, …", s.Name, s.Depth)
		}
		if !s.HasBar || !s.HasLink {
			t.Errorf("timeline step %q: .bar %v, a.step-link %v", s.Name, s.HasBar, s.HasLink)
		}
	}
	var manifestOrder []string
	for _, s := range d.Steps {
		manifestOrder = append(manifestOrder, s.Name)
	}
	if !slices.Equal(gotOrder, manifestOrder) {
		t.Errorf("timeline steps %v, want %v (in start order)", gotOrder, manifestOrder)
	}

	// Before any step is chosen, the delivery's error box shows the traceback.
	eventually(t, 30*time.Second, "the traceback in #delivery-error", func() error {
		pres, err := evalJS[[]string](b, `[...document.querySelectorAll("#delivery-error pre.traceback")].map(p => p.textContent)`)
		if err != nil {
			return err
		}
		if !holdsTraceback(pres, wantTB) {
			return fmt.Errorf("none of the %d #delivery-error pre.traceback holds the traceback written:\n%s", len(pres), wantTB[0])
		}
		return nil
	})

	// Bars with start times: within the track, and ordered by start.
	checkBarsByStart(t, d, steps)

	// Its failed step: the URL names it, and its own log lines show the
	// traceback.
	var stepLogs struct {
		LogCount int `json:"log_count"`
	}
	if _, err := getJSON(t.Context(), r.c.httpBase+"/logs/api/step-logs/"+url.PathEscape(d.HookID)+"/"+url.PathEscape(d.FailingStep), &stepLogs); err != nil {
		t.Fatal(err)
	}
	b.click(fmt.Sprintf(`#timeline .step[data-step=%q] a.step-link`, d.FailingStep))
	var logsSeen logsState
	eventually(t, 30*time.Second, "the logs of step "+d.FailingStep, func() error {
		if logsSeen, err = evalJS[logsState](b, jsLogs); err != nil {
			return err
		}
		_, query, _ := strings.Cut(logsSeen.Hash, "?")
		q, _ := url.ParseQuery(query)
		if q.Get("step") != d.FailingStep {
			return fmt.Errorf("location.hash %q has no ?step=%s", logsSeen.Hash, d.FailingStep)
		}
		// Until the step's own lines are in, the panel may still show the
		// whole delivery's.
		if !strings.Contains(logsSeen.Title, d.FailingStep) || logsSeen.Busy != "false" || logsSeen.Lines != stepLogs.LogCount {
			return fmt.Errorf("#logs-title %q, #logs aria-busy=%q with %d .line; want the step's %d lines", logsSeen.Title, logsSeen.Busy, logsSeen.Lines, stepLogs.LogCount)
		}
		return nil
	})
	b.checkConsole()
	// The lines render at once, their tracebacks with them.
	if !holdsTraceback(logsSeen.Excs, wantTB) {
		t.Errorf("the %d log lines of failed step %s: none of their %d #logs .line pre.exc holds the traceback written:\n%s",
			logsSeen.Lines, d.FailingStep, len(logsSeen.Excs), wantTB[0])
	}
	t.Logf("step %s: %d log lines", d.FailingStep, logsSeen.Lines)
	if !slices.Contains(logsSeen.Levels, "ERROR") {
		t.Errorf("the logs of failed step %s: no #logs .line[data-level=ERROR] among %d lines (levels %v): the step's own error is not among its logs",
			d.FailingStep, logsSeen.Lines, logsSeen.Levels)
	}
	b.screenshot("delivery.png")
}

// liveTail follows the delivery live from its page, appends lines to the
// tailed file and checks each shows once, in order: filtered, paused and
// resumed, and across an aggregator restart.
func (r *webPageRun) liveTail() {
	t, b, c, d := r.t, r.b, r.c, r.d
	b.click("a#follow-live")
	b.until(30*time.Second, "the live view of "+d.HookID, fmt.Sprintf(`(() => {
		const q = new URLSearchParams(location.hash.split("?")[1] ?? "");
		if (!location.hash.startsWith("#/live?") || q.get("hook_id") !== %[1]s) return "location.hash " + location.hash;
		const v = document.querySelector("#live-filters [name=hook_id]")?.value;
		return v === %[1]s ? "" : "#live-filters hook_id is " + JSON.stringify(v);
	})()`, jsString(d.HookID)))
	b.live(30*time.Second, "live", "live", "", nil)

	var other logwriter.ManifestDelivery
	for _, x := range r.w.deliveries {
		if x.HookID != d.HookID {
			other = x
			break
		}
	}
	nonce := make([]byte, 6)
	_, _ = rand.Read(nonce)
	// Markers 0 to 9 only: marker(1) is a prefix of marker(10).
	marker := func(i int) string { return fmt.Sprintf("browser-marker-%s-%d", hex.EncodeToString(nonce), i) }
	app := &logAppender{path: filepath.Join(r.w.dir, logwriter.DefaultFile)}
	excluded := marker(0)
	app.add(t, other, "another delivery "+excluded)
	app.add(t, d, "followed live "+marker(1))
	b.live(30*time.Second, "the appended line shows", "live", "", func(st liveState) error {
		return showOnce(st, []string{marker(1)}, []string{excluded})
	})

	// Paused: a new line is counted, not shown; resumed: shown once.
	b.click("button#live-pause")
	b.live(10*time.Second, "paused", "paused", "true", nil)
	app.add(t, d, "while paused "+marker(2))
	b.live(30*time.Second, "the line written while paused is pending", "paused", "true", func(st liveState) error {
		if !hasNumber(st.Pending, 1) {
			return fmt.Errorf("#live-pending says %q, want 1", st.Pending)
		}
		if at := markerLines(st, marker(2)); len(at[marker(2)]) > 0 {
			return fmt.Errorf("the line written while paused shows")
		}
		return nil
	})
	b.click("button#live-pause")
	resumed := b.live(30*time.Second, "the pending line shows once resumed", "live", "false", func(st liveState) error {
		return showOnce(st, []string{marker(1), marker(2)}, []string{excluded})
	})
	if regexp.MustCompile(`[1-9]`).MatchString(resumed.Pending) {
		t.Errorf("resumed, #live-pending still says %q", resumed.Pending)
	}

	// The aggregator restarts while lines are written: the page
	// reconnects and shows each line once, in order. Refused connections
	// are expected meanwhile.
	stopTolerating := b.tolerate(`(?i)ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_NETWORK_CHANGED|Failed to fetch|network error|\b50[234]\b`)
	app.add(t, d, "before the restart "+marker(3))
	b.live(30*time.Second, "the line written before the restart shows", "live", "", func(st liveState) error {
		return showOnce(st, []string{marker(1), marker(2), marker(3)}, []string{excluded})
	})
	c.agg.stop(t)
	b.live(30*time.Second, "the page notices the aggregator is gone", "reconnecting", "", nil)
	app.add(t, d, "while the aggregator is down "+marker(4))
	app.add(t, d, "while the aggregator is down "+marker(5))
	c.startAggregator(t)
	app.add(t, d, "after the restart "+marker(6))
	all := []string{marker(1), marker(2), marker(3), marker(4), marker(5), marker(6)}
	b.live(60*time.Second, "every line once after the restart", "live", "", func(st liveState) error {
		return showOnce(st, all, []string{excluded})
	})
	stopTolerating()

	// The tailed file rotates as upstream's RotatingFileHandler rotates
	// it: once right after a line is written, which the agent may not
	// have read yet, and once after the lines showed. Each line still
	// shows once, in order, and the filter still holds.
	app.add(t, d, "before the rotation "+marker(7))
	rotateLog(t, app.path)
	app.add(t, other, "another delivery, after the rotation "+excluded)
	app.add(t, d, "after the rotation "+marker(8))
	all = append(all, marker(7), marker(8))
	b.liveInOrder("every line once across a rotation", all, []string{excluded})
	rotateLog(t, app.path)
	app.add(t, d, "after the second rotation "+marker(9))
	all = append(all, marker(9))
	final := b.liveInOrder("every line once across a second rotation", all, []string{excluded})
	t.Logf("live view: %d lines", len(final.Lines))
	b.screenshot("live.png")
}

// search finds the delivery's lines with a word in the search view; each
// result links to the delivery.
func (r *webPageRun) search() {
	t, b, c, d := r.t, r.b, r.c, r.d
	var found struct {
		Data struct {
			Pagination struct {
				Total int `json:"total"`
			} `json:"pagination"`
		} `json:"data"`
	}
	if _, err := getJSON(t.Context(), c.httpBase+"/logs?limit=1&search=webhook&hook_id="+url.QueryEscape(d.HookID), &found); err != nil {
		t.Fatal(err)
	}
	want := found.Data.Pagination.Total
	if want == 0 || want > 50 {
		// More would need the search view's paging, which the contract leaves open.
		t.Fatalf("/logs finds %d lines of %s with the word webhook, want 1 to 50", want, d.HookID)
	}
	b.click("a#nav-search")
	b.until(30*time.Second, "the search view", `document.body.dataset.view === "search" ? "" : "body data-view=" + document.body.dataset.view`)
	b.typeInto(`#search-filters input[name=hook_id]`, d.HookID)
	b.typeInto(`#search-filters input[name=search]`, "webhook\n") // Enter submits
	b.until(30*time.Second, "the search results", fmt.Sprintf(`(() => {
		const hook = %s, want = %d;
		const q = new URLSearchParams(location.hash.split("?")[1] ?? "");
		if (!location.hash.startsWith("#/search?") || q.get("search") !== "webhook" || q.get("hook_id") !== hook)
			return "location.hash " + location.hash;
		const lines = [...document.querySelectorAll("#search-results .line")];
		if (lines.length !== want) return lines.length + " #search-results .line, want " + want;
		const bad = lines.filter(l => l.querySelector("a.delivery-link")?.getAttribute("href") !== "#/delivery/" + hook);
		if (bad.length) return bad.length + " lines without a.delivery-link to #/delivery/" + hook;
		const total = document.querySelector("#search-total")?.textContent ?? "(no #search-total)";
		return new RegExp("(^|\\D)" + want + "(\\D|$)").test(total) ? "" : "#search-total " + JSON.stringify(total) + " does not say " + want;
	})()`, jsString(d.HookID), want))
	b.checkConsole()
}

// textTimelines opens the text-only deliveries, whose steps have no start
// times, only the summary line's durations: the wrapper webhook_routing
// spans the whole track at depth 0, and the other steps sit one after
// another inside it at depth 1, in the summary's order, each bar within
// its track and marked estimated.
func (r *webPageRun) textTimelines() {
	t, b := r.t, r.b
	checked := 0
	for _, d := range r.text.deliveries {
		sum := r.text.summary(d.HookID)
		if len(sum) < 2 || sum[0].Name != "webhook_routing" {
			t.Logf("text-only delivery %s: summary steps %v, no wrapper with steps inside it", d.HookID, sum)
			continue
		}
		var names []string
		for _, s := range sum {
			names = append(names, s.Name)
		}
		// The premise: the API knows no step's start.
		eventually(t, 30*time.Second, "workflow steps of text-only delivery "+d.HookID, func() error {
			var wf struct {
				Steps []struct {
					StepName  string  `json:"step_name"`
					Timestamp *string `json:"timestamp"`
				} `json:"steps"`
			}
			if _, err := getJSON(t.Context(), r.c.httpBase+"/logs/api/workflow-steps/"+url.PathEscape(d.HookID), &wf); err != nil {
				return err
			}
			if len(wf.Steps) != len(sum) {
				return fmt.Errorf("%d steps, want the summary's %d", len(wf.Steps), len(sum))
			}
			for _, s := range wf.Steps {
				if s.Timestamp != nil {
					t.Fatalf("text-only delivery %s: workflow-steps gives step %s a start (%s), but the text log has none", d.HookID, s.StepName, *s.Timestamp)
				}
			}
			return nil
		})

		b.do("open text-only delivery "+d.HookID, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = "#/delivery/" + %s`, jsString(d.HookID))))
		b.until(30*time.Second, "the delivery view of text-only "+d.HookID, fmt.Sprintf(`(() => {
			const want = %s, n = %d;
			if (document.body.dataset.view !== "delivery") return "body data-view=" + document.body.dataset.view;
			const el = document.querySelector("#delivery");
			if (!el || el.dataset.hookId !== want) return "#delivery data-hook-id=" + el?.dataset.hookId;
			const steps = document.querySelectorAll("#timeline .step").length;
			return steps === n ? "" : steps + " #timeline .step, want " + n;
		})()`, jsString(d.HookID), len(sum)))
		steps, err := evalJS[[]stepState](b, jsTimeline)
		if err != nil {
			t.Fatal(err)
		}
		checkBarsEstimated(t, d.HookID, names, steps)
		checked++
	}
	if checked == 0 {
		t.Fatalf("none of the %d text-only deliveries has a webhook_routing wrapper with steps inside it", len(r.text.deliveries))
	}
	t.Logf("timelines of %d text-only deliveries checked", checked)
	b.checkConsole()
}

// checkBarsEstimated checks the timeline of a delivery whose steps have no
// start times (summary order names, the wrapper first): the wrapper spans
// the whole track at data-depth 0; the others are at data-depth 1, within
// the track and the wrapper's bar, with non-decreasing left in the
// summary's order, and marked estimated.
func checkBarsEstimated(t *testing.T, hook string, names []string, steps []stepState) {
	t.Helper()
	var got []string
	for _, s := range steps {
		got = append(got, s.Name)
	}
	if !slices.Equal(got, names) {
		t.Errorf("timeline of text-only %s: steps %v, want the summary's order %v", hook, got, names)
		return
	}
	for i, s := range steps {
		if why := barInTrack(s); why != "" {
			t.Errorf("timeline of text-only %s, step %q: .bar %s", hook, s.Name, why)
		}
		if i == 0 {
			if s.Depth != "0" {
				t.Errorf("timeline of text-only %s: wrapper %q at data-depth=%q, want 0", hook, s.Name, s.Depth)
			}
			if s.Style == "" && (s.Left > barSlack || s.Left+s.Width < 100-barSlack) {
				t.Errorf("timeline of text-only %s: wrapper %q's .bar spans %.3f%%–%.3f%%, want the whole track", hook, s.Name, s.Left, s.Left+s.Width)
			}
			continue
		}
		if s.Depth != "1" {
			t.Errorf("timeline of text-only %s: step %q at data-depth=%q, want 1 (inside %s)", hook, s.Name, s.Depth, names[0])
		}
		if !s.Estimated {
			t.Errorf("timeline of text-only %s: step %q has no start time, but its .bar has no class estimated", hook, s.Name)
		}
		if w := steps[0]; w.Style == "" && s.Style == "" && (s.Left < w.Left || s.Left+s.Width > w.Left+w.Width+barSlack) {
			t.Errorf("timeline of text-only %s: step %q's .bar spans %.3f%%–%.3f%%, outside %q's %.3f%%–%.3f%%",
				hook, s.Name, s.Left, s.Left+s.Width, w.Name, w.Left, w.Left+w.Width)
		}
		if p := steps[i-1]; i > 1 && s.Left < p.Left {
			t.Errorf("timeline of text-only %s: step %q's .bar starts left of %q's, which comes before it in the summary (%.3f%% < %.3f%%)", hook, s.Name, p.Name, s.Left, p.Left)
		}
	}
}

// TestWebPageAPIKey opens the page of an aggregator with an api_key block:
// the first data request is refused, the page asks for the key, uses it,
// and keeps it for the tab (sessionStorage) across a reload.
func TestWebPageAPIKey(t *testing.T) {
	needBinaries(t)
	needBrowser(t)
	logs := t.TempDir()
	c := startCluster(t, fmt.Sprintf(`
source "webhook-server" {
  paths = ["%s/webhook-server.log*", "%s/webhooks_*.json"]
}
`, logs, logs))
	w := writeDeliveries(t, logs, 6, 62)
	waitDeliveries(t, c, w)

	// Restart the aggregator with a key: every data route wants it now.
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	key := "ht-browser-" + hex.EncodeToString(secret)
	c.agg.stop(t)
	cfg, err := os.ReadFile(c.aggCfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, c.aggCfg, string(cfg)+fmt.Sprintf(`
api_key "browser" {
  token     = %q
  role      = "viewer"
  endpoints = ["*"]
}
`, key))
	c.startAggregator(t)
	if code, err := getJSON(t.Context(), c.httpBase+"/api/logs", nil); code != 401 {
		t.Fatalf("/api/logs without a key: %d %v, want 401", code, err)
	}

	b := newBrowser(t, 2*time.Minute)
	defer b.tolerate(`\b401\b|Unauthorized`)()
	const dialogShown = `(() => {
		const d = document.querySelector("#key-dialog");
		if (!d) return "no #key-dialog";
		return d.checkVisibility() ? "" : "#key-dialog hidden";
	})()`
	const dialogHidden = `(() => {
		const d = document.querySelector("#key-dialog");
		return d && d.checkVisibility() ? "#key-dialog shown" : "";
	})()`
	b.navigate(c.httpBase + "/logs")
	b.until(30*time.Second, "the key dialog", dialogShown)
	eventually(t, 10*time.Second, "the 401 that opened the key dialog", func() error {
		if b.status(401) == 0 {
			return errors.New("the key dialog shows, but the page got no 401")
		}
		return nil
	})
	b.typeInto("input#key-input", key)
	b.click("button#key-save")
	allRows := func(st deliveriesState) error {
		if len(st.Rows) != len(w.deliveries) {
			return fmt.Errorf("%d rows, want %d", len(st.Rows), len(w.deliveries))
		}
		return nil
	}
	b.deliveries(30*time.Second, "the deliveries, with the key", allRows)
	b.until(10*time.Second, "the key dialog closed", dialogHidden)
	stored, err := evalJS[[]bool](b, fmt.Sprintf(`[
		Object.values(sessionStorage).some(v => v.includes(%[1]s)),
		Object.values(localStorage).some(v => v.includes(%[1]s)),
	]`, jsString(key)))
	if err != nil {
		t.Fatal(err)
	}
	if !stored[0] {
		t.Errorf("the key is not in sessionStorage")
	}
	if stored[1] {
		t.Errorf("the key is in localStorage: it outlives the tab")
	}

	// Reloaded, the tab still has the key: no 401, no dialog.
	refused := b.status(401)
	b.do("reload", chromedp.Reload())
	b.deliveries(30*time.Second, "the deliveries after a reload", allRows)
	b.until(10*time.Second, "no key dialog after a reload", dialogHidden)
	if n := b.status(401) - refused; n > 0 {
		t.Errorf("after the reload the page got %d more 401s: it did not keep the key", n)
	}

	// From a network that is not trusted, the key still opens every data
	// route but step-logs (SPEC §5.5): the page shows a step's lines from
	// the delivery's own instead, and says so.
	c.agg.stop(t)
	cfg, err = os.ReadFile(c.aggCfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, c.aggCfg, string(cfg)+"\ntrusted_networks = [\"10.0.0.0/8\"]\n")
	c.startAggregator(t)
	var d logwriter.ManifestDelivery
	for _, cand := range w.deliveries {
		if len(cand.Steps) > 1 {
			d = cand
			break
		}
	}
	if d.HookID == "" {
		t.Fatal("no written delivery has steps")
	}
	step := d.Steps[len(d.Steps)-1].Name
	defer b.tolerate(`\b403\b|Forbidden`)()
	b.navigate(c.httpBase + "/#/delivery/" + d.HookID + "?step=" + url.QueryEscape(step))
	b.until(30*time.Second, "a step's lines from an untrusted network", fmt.Sprintf(`(() => {
		const logs = document.querySelector("#logs");
		if (!logs || logs.getAttribute("aria-busy") !== "false") return "#logs still loading";
		const note = document.querySelector("#logs-note");
		if (!note || note.hidden || !note.textContent.includes("trusted networks only")) return "no note about trusted networks: " + (note ? note.textContent : "(no #logs-note)");
		if (!document.querySelector("#logs-title")?.textContent.includes(%s)) return "#logs-title does not name the step";
		return logs.querySelectorAll(".line").length > 0 ? "" : "no lines";
	})()`, jsString(step)))
	if b.status(403) == 0 {
		t.Errorf("the page got no 403 from step-logs on an untrusted network")
	}
}
