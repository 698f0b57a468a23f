package pluginhost_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/agent/pluginhost"
	"github.com/hooktail/hooktail/plugins"
)

// testPlugin is the binary of testdata/testplugin, built by TestMain.
var testPlugin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "pluginhost-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	testPlugin = filepath.Join(dir, "testplugin")
	cmd := exec.Command("go", "build", "-o", testPlugin, "./testdata/testplugin")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the test plugin: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// logRecorder keeps what is logged, for tests to look for.
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, b.String())
	r.mu.Unlock()
	return nil
}

func (r *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &attrHandler{r: r, attrs: attrs}
}

func (r *logRecorder) WithGroup(string) slog.Handler { return r }

// waitFor polls the log until a record holds every one of parts.
func (r *logRecorder) waitFor(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		for _, rec := range r.recs {
			found := true
			for _, p := range parts {
				found = found && strings.Contains(rec, p)
			}
			if found {
				r.mu.Unlock()
				return
			}
		}
		n := len(r.recs)
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no log record holds %q among %d records", parts, n)
		}
		runtimeYield()
	}
}

// runtimeYield is the poll interval of waitFor.
func runtimeYield() { <-time.After(time.Millisecond) }

type attrHandler struct {
	r     *logRecorder
	attrs []slog.Attr
}

func (h *attrHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *attrHandler) Handle(ctx context.Context, rec slog.Record) error {
	rec.AddAttrs(h.attrs...)
	return h.r.Handle(ctx, rec)
}
func (h *attrHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &attrHandler{r: h.r, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], attrs...)}
}
func (h *attrHandler) WithGroup(string) slog.Handler { return h }

// open starts the test plugin with tiny backoffs.
func open(t *testing.T, opts pluginhost.Options) (*pluginhost.Host, *logRecorder) {
	t.Helper()
	logs := &logRecorder{}
	if opts.Name == "" {
		opts.Name = "test"
	}
	if opts.Command == "" {
		opts.Command = testPlugin
	}
	opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 5*time.Millisecond
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	opts.Logger = slog.New(logs)
	h, err := pluginhost.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h, logs
}

func configure(t *testing.T, p plugins.Parser, config string) {
	t.Helper()
	ds, err := p.Configure(t.Context(), json.RawMessage(config))
	if err != nil || ds.HasErrors() {
		t.Fatalf("Configure(%s): %v %+v", config, err, ds)
	}
}

func parse(t *testing.T, p plugins.Parser, data ...string) []plugins.Entry {
	t.Helper()
	got, err := p.Parse(t.Context(), &plugins.ParseRequest{Records: records(data...)}, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return got
}

func records(data ...string) []plugins.Record {
	out := make([]plugins.Record, len(data))
	for i, d := range data {
		out[i] = plugins.Record{Data: []byte(d), File: "/logs/app.log", Offset: int64(i) * 100}
	}
	return out
}

func checkStats(t *testing.T, h *pluginhost.Host, want pluginhost.Stats) {
	t.Helper()
	if diff := cmp.Diff(want, h.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestOpenErrors(t *testing.T) {
	for name, c := range map[string]struct {
		command string
		args    []string
		want    []string
		is      error
	}{
		"missing binary":   {command: filepath.Join(t.TempDir(), "no-such-plugin"), want: []string{`plugin "blk"`, "no-such-plugin", "no such file"}, is: fs.ErrNotExist},
		"protocol version": {args: []string{"-protocol", "2"}, want: []string{`plugin "blk"`, "version", "2"}},
		"not a plugin":     {args: []string{"-not-a-plugin"}, want: []string{`plugin "blk"`, testPlugin}},
		"not executable":   {command: "/etc/hostname", want: []string{`plugin "blk"`, "/etc/hostname"}},
	} {
		t.Run(name, func(t *testing.T) {
			command := c.command
			if command == "" {
				command = testPlugin
			}
			h, err := pluginhost.Open(t.Context(), pluginhost.Options{Name: "blk", Command: command, Args: c.args, Logger: slog.New(&logRecorder{})})
			if err == nil {
				h.Close()
				t.Fatalf("Open: no error")
			}
			t.Logf("Open: %v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Open: error %q does not say %q", err, w)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("Open: error %v is not %v", err, c.is)
			}
		})
	}
}

func TestForwarding(t *testing.T) {
	h, _ := open(t, pluginhost.Options{})
	d, err := h.Describe(t.Context())
	if err != nil || d.Name != "testplugin" || d.StartPattern != `^[A-Z]+\|` {
		t.Errorf("Describe = %+v, %v", d, err)
	}
	ds, err := h.ValidateConfig(t.Context(), json.RawMessage(`{"no_such_key": 1}`))
	if err != nil || !ds.HasErrors() || !strings.Contains(ds[0].Detail, "no_such_key") {
		t.Errorf("ValidateConfig of a bad config = %+v, %v; want an error diagnostic", ds, err)
	}
	configure(t, h, `{"tag": "blue"}`)
	got := parse(t, h, "INFO|hello", "junk", "WARN|TAG")
	want := []plugins.Entry{
		{Level: "INFO", Message: "hello"},
		{Message: "junk", ParseError: true},
		{Level: "WARN", Message: "tag=blue"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	checkStats(t, h, pluginhost.Stats{Starts: 1})
}

// TestCrashRetriesTheBatch: a crash restarts the plugin, which is
// configured again, and the same batch is parsed: nothing is lost.
func TestCrashRetriesTheBatch(t *testing.T) {
	h, logs := open(t, pluginhost.Options{})
	configure(t, h, fmt.Sprintf(`{"tag": "blue", "once_dir": %q}`, t.TempDir()))
	got := parse(t, h, "INFO|a", "INFO|ONCE:one TAG", "INFO|b")
	want := []plugins.Entry{{Level: "INFO", Message: "a"}, {Level: "INFO", Message: "tag=blue"}, {Level: "INFO", Message: "b"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse after a crash (-want +got):\n%s", diff)
	}
	checkStats(t, h, pluginhost.Stats{Starts: 2, Restarts: 1, Crashes: 1})
	// The plugin's panic is in the agent's log.
	logs.waitFor(t, "ERROR", "panic: testplugin: crash once")
	logs.waitFor(t, "WARN plugin crashed; restarting it", "plugin=test", "attempt=1")
}

// TestPoisonedBatch: a batch that crashes or hangs the plugin every time
// comes back raw and flagged; the plugin goes on with the next batch.
func TestPoisonedBatch(t *testing.T) {
	for name, c := range map[string]struct {
		record  string
		timeout time.Duration
		want    pluginhost.Stats
	}{
		"crash": {"INFO|CRASH now", time.Minute, pluginhost.Stats{Starts: 4, Restarts: 3, Crashes: 3, PoisonedBatches: 1}},
		"hang":  {"INFO|HANG now", time.Second, pluginhost.Stats{Starts: 4, Restarts: 3, Timeouts: 3, PoisonedBatches: 1}},
	} {
		t.Run(name, func(t *testing.T) {
			h, logs := open(t, pluginhost.Options{Timeout: c.timeout})
			dst := []plugins.Entry{{Message: "kept"}}
			got, err := h.Parse(t.Context(), &plugins.ParseRequest{Records: records("INFO|fine", c.record, "bad \xff")}, dst)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := []plugins.Entry{
				{Message: "kept"},
				{Message: "INFO|fine", ParseError: true},
				{Message: c.record, ParseError: true},
				{Message: "bad \uFFFD", ParseError: true},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("poisoned batch (-want +got):\n%s", diff)
			}
			logs.waitFor(t, "ERROR batch crashed or hung the plugin every time", "records=3", "file=/logs/app.log", "offset=0")
			if diff := cmp.Diff([]plugins.Entry{{Level: "INFO", Message: "next"}}, parse(t, h, "INFO|next")); diff != "" {
				t.Errorf("the batch after (-want +got):\n%s", diff)
			}
			checkStats(t, h, c.want)
		})
	}
}

// TestHangOnce: a hung plugin is killed at the timeout and the batch is
// parsed by the next one.
func TestHangOnce(t *testing.T) {
	h, logs := open(t, pluginhost.Options{Timeout: time.Second})
	configure(t, h, fmt.Sprintf(`{"once_dir": %q}`, t.TempDir()))
	got := parse(t, h, "INFO|HANGONCE:h")
	if diff := cmp.Diff([]plugins.Entry{{Level: "INFO", Message: "HANGONCE:h"}}, got); diff != "" {
		t.Errorf("Parse after a hang (-want +got):\n%s", diff)
	}
	checkStats(t, h, pluginhost.Stats{Starts: 2, Restarts: 1, Timeouts: 1})
	logs.waitFor(t, "WARN plugin call timed out; killing the plugin", "call=parse")
}

// TestMalformedAnswers: not one entry per record makes the batch raw
// without a restart; an entry that cannot be shipped is its record, raw.
func TestMalformedAnswers(t *testing.T) {
	h, _ := open(t, pluginhost.Options{})
	got := parse(t, h, "INFO|a", "INFO|SHORT")
	want := []plugins.Entry{{Message: "INFO|a", ParseError: true}, {Message: "INFO|SHORT", ParseError: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("short answer (-want +got):\n%s", diff)
	}
	got = parse(t, h, "INFO|a", "INFO|BADUTF8")
	want = []plugins.Entry{{Level: "INFO", Message: "a"}, {Message: "INFO|BADUTF8", ParseError: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("invalid UTF-8 answer (-want +got):\n%s", diff)
	}
	checkStats(t, h, pluginhost.Stats{Starts: 1, MalformedBatches: 1})
}

// TestCancel: the caller's context ends a call to a hung plugin, which is
// neither a timeout nor a poisoned batch.
func TestCancel(t *testing.T) {
	h, _ := open(t, pluginhost.Options{Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	got, err := h.Parse(ctx, &plugins.ParseRequest{Records: records("INFO|HANG")}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || len(got) != 0 {
		t.Errorf("Parse with an ending context = %d entries, %v; want none and the context's error", len(got), err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.Parse(cancelled, &plugins.ParseRequest{Records: records("INFO|a")}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Parse with a cancelled context: %v, want context.Canceled", err)
	}
	checkStats(t, h, pluginhost.Stats{Starts: 1})
}

func TestClose(t *testing.T) {
	h, _ := open(t, pluginhost.Options{})
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := h.Parse(t.Context(), &plugins.ParseRequest{Records: records("INFO|a")}, nil); !errors.Is(err, pluginhost.ErrClosed) {
		t.Errorf("Parse after Close: %v, want ErrClosed", err)
	}
}

// TestPluginLog: what the plugin logs with slog is in the agent's log.
func TestPluginLog(t *testing.T) {
	h, logs := open(t, pluginhost.Options{Name: "logger"})
	configure(t, h, `{"log": "hello from the plugin"}`)
	logs.waitFor(t, "INFO testplugin configured", "note=hello from the plugin", "plugin=logger")
	logs.waitFor(t, "INFO plugin started", "plugin=logger", "parser=testplugin")
}

// TestConcurrentCrash: callers in parallel share one restart.
func TestConcurrentCrash(t *testing.T) {
	h, _ := open(t, pluginhost.Options{})
	configure(t, h, fmt.Sprintf(`{"once_dir": %q}`, t.TempDir()))
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			data := fmt.Sprintf("INFO|worker %d", w)
			if w == 0 {
				data = "INFO|ONCE:shared"
			}
			for range 5 {
				got, err := h.Parse(t.Context(), &plugins.ParseRequest{Records: records(data, "WARN|x")}, nil)
				if err != nil || len(got) != 2 || got[0].ParseError || got[0].Message != strings.TrimPrefix(data, "INFO|") {
					errs <- fmt.Errorf("worker %d: %+v, %v", w, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := h.Stats(); s.PoisonedBatches != 0 || s.Crashes < 1 || s.Restarts < 1 {
		t.Errorf("Stats = %+v, want a crash and a restart, nothing poisoned", s)
	}
}

// TestLargeBatch: a batch over gRPC's 4 MiB default goes through a real
// plugin process both ways.
func TestLargeBatch(t *testing.T) {
	h, _ := open(t, pluginhost.Options{})
	var data []string
	for i := range 9 {
		data = append(data, "INFO|"+strings.Repeat(string(rune('a'+i)), 1<<20))
	}
	got := parse(t, h, data...)
	if len(got) != len(data) {
		t.Fatalf("%d entries for %d records", len(got), len(data))
	}
	for i := range got {
		if got[i].ParseError || got[i].Message != data[i][len("INFO|"):] {
			t.Errorf("entry %d: parse_error=%v, message of %d bytes", i, got[i].ParseError, len(got[i].Message))
		}
	}
	checkStats(t, h, pluginhost.Stats{Starts: 1})
}
