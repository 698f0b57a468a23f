package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Browser test settings.
const (
	// browserWidth and browserHeight are the window size: wide enough for
	// the deliveries table, and the same on every machine so that
	// screenshots compare.
	browserWidth, browserHeight = 1400, 900
	// browserActionTimeout bounds one click, key press or evaluation.
	browserActionTimeout = 20 * time.Second
	// browserConsoleKept is how many console messages a failure report shows.
	browserConsoleKept = 40
)

// chromiumPath finds the browser: $HOOKTAIL_CHROMIUM, Debian's
// /usr/bin/chromium, or chromium on $PATH. It returns "" and what it
// looked for when there is none, and an error when $HOOKTAIL_CHROMIUM
// names no executable file.
func chromiumPath() (path, tried string, err error) {
	if p := os.Getenv("HOOKTAIL_CHROMIUM"); p != "" {
		if !isExecutable(p) {
			return "", "", fmt.Errorf("HOOKTAIL_CHROMIUM=%q is not an executable file", p)
		}
		return p, "", nil
	}
	const debian = "/usr/bin/chromium"
	if isExecutable(debian) {
		return debian, "", nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, "", nil
	}
	return "", "$HOOKTAIL_CHROMIUM is unset, " + debian + " is not there and there is no chromium on $PATH", nil
}

// isExecutable reports whether path is a file someone may execute.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// needBrowser returns the browser to run. It skips the test with -short,
// and when there is none, unless HOOKTAIL_REQUIRE_BROWSER=1 (set by `make test`), which makes
// a missing browser a failure.
func needBrowser(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	path, tried, err := chromiumPath()
	if err != nil {
		t.Fatal(err)
	}
	if path != "" {
		return path
	}
	msg := "browser test: no Chromium (" + tried + "); install Debian's chromium package or set HOOKTAIL_CHROMIUM"
	if os.Getenv("HOOKTAIL_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + " (HOOKTAIL_REQUIRE_BROWSER=1)")
	}
	t.Skip(msg)
	return ""
}

// browser is one headless Chromium tab. The page's console errors,
// uncaught exceptions and failed loads fail the test, unless a tolerate
// window that matches them is open; server errors (5xx) always do. On
// failure the test log gets the page's URL, text and last console
// messages, and t.ArtifactDir gets a screenshot and the DOM.
type browser struct {
	t *testing.T
	// ctx is the tab's context; every action derives its own timeout
	// from it.
	ctx context.Context

	mu sync.Mutex
	// console holds the last browserConsoleKept messages, for failure reports.
	console []string
	// problems are the console errors not yet reported.
	problems []string
	// tolerated are the open tolerate windows.
	tolerated map[int]*regexp.Regexp
	nextTol   int
	// statuses counts the HTTP responses the page received, by status.
	statuses map[int64]int
}

// newBrowser starts Chromium for the test, which it skips (or fails, see
// needBrowser) without one. within bounds the browser's whole life: a
// hung page cannot outlive it.
func newBrowser(t *testing.T, within time.Duration) *browser {
	t.Helper()
	path := needBrowser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(browserWidth, browserHeight),
		chromedp.UserDataDir(t.TempDir()),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox (CI containers).
		opts = append(opts, chromedp.NoSandbox)
	}
	// Not t.Context(): the failure report of the cleanup below still
	// needs the tab.
	life, cancelLife := context.WithTimeout(context.Background(), within)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	b := &browser{t: t, tolerated: map[int]*regexp.Regexp{}, statuses: map[int64]int{}}
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(b.chromedpError))
	b.ctx = ctx
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelLife()
		wg.Wait()
	})
	// The first action starts the browser and opens the tab.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	// Subscribe before any navigation, so that no message is lost.
	messages := chromedp.Console(ctx)
	responses := chromedp.Events(ctx, network.ResponseReceived)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.record(m)
		}
	})
	wg.Go(func() {
		for ev, err := range responses {
			if err != nil {
				return
			}
			b.response(ev)
		}
	})
	t.Cleanup(b.finish) // runs before the cancellations above
	return b
}

// chromedpError keeps chromedp's own errors (a protocol message it could
// not decode, say) for the failure report.
func (b *browser) chromedpError(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keep("chromedp: " + fmt.Sprintf(format, args...))
}

// keep adds a line to the console history. b.mu is held.
func (b *browser) keep(line string) {
	b.console = append(b.console, line)
	if len(b.console) > browserConsoleKept {
		b.console = b.console[len(b.console)-browserConsoleKept:]
	}
}

// record classifies one console message.
func (b *browser) record(m chromedp.ConsoleMessage) {
	line := m.String()
	if m.URL != "" {
		line += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keep(line)
	switch m.Type {
	case chromedp.ConsoleError, chromedp.ConsoleException, "assert":
	default:
		return
	}
	for _, re := range b.tolerated {
		if re.MatchString(m.Text) {
			b.keep("(tolerated) " + m.Text)
			return
		}
	}
	b.problems = append(b.problems, line)
}

// response counts a response and flags server errors.
func (b *browser) response(ev network.EventResponseReceived) {
	if ev.Response == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.statuses[ev.Response.Status]++
	if ev.Response.Status >= 500 {
		b.problems = append(b.problems, fmt.Sprintf("HTTP %d from %s", ev.Response.Status, ev.Response.URL))
	}
}

// status returns how many responses with the HTTP status code the page got.
func (b *browser) status(code int64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.statuses[code]
}

// tolerate makes console errors whose text matches pattern expected until
// the returned func is called: a 401 the page answers with a key dialog,
// the refused connections of a restart.
func (b *browser) tolerate(pattern string) (stop func()) {
	re := regexp.MustCompile(pattern)
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.nextTol
	b.nextTol++
	b.tolerated[id] = re
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.tolerated, id)
	}
}

// checkConsole fails the test for each console error received since the
// last call.
func (b *browser) checkConsole() {
	b.t.Helper()
	for _, p := range b.takeProblems() {
		b.t.Errorf("page console: %s", p)
	}
}

// takeProblems returns the console errors received since the last call.
func (b *browser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// finish reports the console errors left, and on failure shows what the
// page looked like.
func (b *browser) finish() {
	b.checkConsole()
	if !b.t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" +
		"body data-view=" + document.body?.dataset.view + " data-live-state=" + document.body?.dataset.liveState + "\n" +
		"#banner: " + (document.querySelector("#banner")?.textContent ?? "(none)").trim() + "\n" +
		(document.body?.innerText ?? "").slice(0, 3000)`))
	if err != nil {
		state = "(page state unavailable: " + err.Error() + ")"
	}
	b.mu.Lock()
	history := strings.Join(b.console, "\n")
	b.mu.Unlock()
	dir := b.t.ArtifactDir()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "failure.png"), png, 0o644)
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "failure.html"), []byte(html), 0o644)
	}
	b.t.Logf("--- browser at failure (screenshot and DOM in %s):\n%s\n--- last console messages:\n%s", dir, state, history)
}

// do runs actions with the per-action timeout.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserActionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// navigate loads u and waits for its load event.
func (b *browser) navigate(u string) {
	b.t.Helper()
	b.do("open "+u, chromedp.Navigate(u))
}

// click clicks the first element matching the CSS selector with real
// mouse events, once it is there and nothing covers its centre. It first
// scrolls the element to the middle of the window: scrolled only just into
// view, it can sit under the page's sticky header, which would take the
// click.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.until(browserActionTimeout, "click "+sel+": an uncovered element", fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		if (!el) return "no such element";
		el.scrollIntoView({block: "center", inline: "center"});
		const r = el.getBoundingClientRect();
		if (r.width === 0 || r.height === 0) return "not visible";
		const at = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
		return at && (at === el || el.contains(at)) ? "" : "covered by " + (at ? at.outerHTML.slice(0, 160) : "nothing");
	})()`, jsString(sel)))
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto focuses the CSS selector's element and types s with key events.
func (b *browser) typeInto(sel, s string) {
	b.t.Helper()
	b.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), s))
}

// choose sets the value of a form control as a user does: the value, then
// the input and change events.
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		if (!el) return "no element " + %[1]s;
		if (el.tagName === "SELECT" && ![...el.options].some(o => o.value === %s))
			return "no option " + %[2]s + " in " + %[1]s + ": " + [...el.options].map(o => JSON.stringify(o.value)).join(" ");
		el.value = %[2]s;
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
		return "";
	})()`, jsString(sel), jsString(value))
	msg, err := evalJS[string](b, js)
	if err != nil {
		b.t.Fatalf("browser: set %s to %q: %v", sel, value, err)
	}
	if msg != "" {
		b.t.Fatalf("browser: set %s to %q: %s", sel, value, msg)
	}
}

// until polls the JavaScript expression, which evaluates to "" once what
// holds and to a description of what the page shows otherwise, until it
// holds or within passes.
func (b *browser) until(within time.Duration, what, expr string) {
	b.t.Helper()
	eventually(b.t, within, what, func() error {
		msg, err := evalJS[string](b, expr)
		if err != nil {
			return err
		}
		if msg != "" {
			return errors.New(msg)
		}
		return nil
	})
	b.checkConsole()
}

// screenshot saves a full-page PNG as $HOOKTAIL_SCREENSHOTS/name, when
// that is set (make screenshots).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("HOOKTAIL_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, browserActionTimeout)
	defer cancel()
	// From the top of the page, whatever the test scrolled to.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", filepath.Join(dir, name))
}

// evalJS evaluates a JavaScript expression in the page and decodes its
// JSON value into T.
func evalJS[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, browserActionTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic("BUG: " + err.Error()) // a string always marshals
	}
	return string(b)
}

// TestBrowserHarness holds the browser helper to its word on a page of its
// own: console errors and uncaught exceptions are caught (tolerated ones
// are not), and choose, typeInto, click and until drive a form.
func TestBrowserHarness(t *testing.T) {
	b := newBrowser(t, time.Minute)
	stop := b.tolerate(`expected-noise`)
	page := `<!doctype html><body data-view="start">
<select id="s"><option value="">any</option><option value="error">error</option></select>
<input id="k"><button id="go" onclick="document.body.dataset.view = document.querySelector('#s').value + '/' + document.querySelector('#k').value">go</button>
<script>
console.error("expected-noise");
console.error("page-error-1");
setTimeout(() => { throw new Error("page-exception-2"); }, 0);
</script>`
	b.navigate("data:text/html," + url.PathEscape(page))
	var got []string
	eventually(t, 10*time.Second, "the console error and the exception reported", func() error {
		got = append(got, b.takeProblems()...)
		all := strings.Join(got, "\n")
		if !strings.Contains(all, "page-error-1") || !strings.Contains(all, "page-exception-2") {
			return fmt.Errorf("reported: %q", got)
		}
		return nil
	})
	stop()
	if all := strings.Join(got, "\n"); strings.Contains(all, "expected-noise") {
		t.Errorf("a tolerated message was reported: %q", got)
	}
	b.choose("#s", "error")
	b.typeInto("#k", "key")
	b.click("#go")
	b.until(10*time.Second, "the form submitted", `document.body.dataset.view === "error/key" ? "" : "body data-view=" + document.body.dataset.view`)
}
