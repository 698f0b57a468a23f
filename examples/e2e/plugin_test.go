package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pipeRecord is one record of the example plugin's "TIME|LEVEL|HOOK_ID|MESSAGE"
// format, as the test wrote it.
type pipeRecord struct {
	ts, level, hook, msg string
	traceback            bool
}

// line is the record as written, ending in a newline; a traceback record
// carries continuation lines, which the plugin's start pattern joins to it.
func (r pipeRecord) line() string {
	s := r.ts + "|" + r.level + "|" + r.hook + "|" + r.msg + "\n"
	if r.traceback {
		s += "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: " + r.msg + "\n"
	}
	return s
}

// wantMessage is the message the plugin stores for r.
func (r pipeRecord) wantMessage() string {
	return strings.TrimRight(strings.TrimPrefix(r.line(), r.ts+"|"+r.level+"|"+r.hook+"|"), "\n")
}

// pipeRecordAt makes the i-th record of a run: unique messages, a few
// levels and hooks, a traceback every 37th.
func pipeRecordAt(base time.Time, i int) pipeRecord {
	levels := [...]string{"INFO", "DEBUG", "WARNING", "ERROR", "SUCCESS"}
	return pipeRecord{
		ts:        base.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000000Z07:00"),
		level:     levels[i%len(levels)],
		hook:      fmt.Sprintf("hook-%04d", i/10),
		msg:       fmt.Sprintf("plugin record %06d", i),
		traceback: i%37 == 36,
	}
}

// pluginSources is an agent source tailing dir/app.log* through the example
// plugin binary.
func pluginSources(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(binDir, "example-plugin")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("example plugin binary: %v (run make build and set HOOKTAIL_BIN)", err)
	}
	return fmt.Sprintf(`
source "piped" {
  paths  = ["%s/app.log*"]
  parser = "pipe-log"
}
plugin "pipe-log" {
  command = %q
  timeout = "5s"
}
`, dir, bin)
}

// pipeAckedOffset returns the offset the agent's checkpoints hold for the
// one file of source, or an error while there is none.
func pipeAckedOffset(c *cluster, source string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "agent", "checkpoints.json"))
	if err != nil {
		return 0, err
	}
	var doc struct {
		Files []struct {
			Source string `json:"source"`
			Offset int64  `json:"offset"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return 0, fmt.Errorf("checkpoints: %w", err)
	}
	var offsets []int64
	for _, f := range doc.Files {
		if f.Source == source {
			offsets = append(offsets, f.Offset)
		}
	}
	if len(offsets) != 1 {
		return 0, fmt.Errorf("checkpoints of source %q: %v, want one file", source, offsets)
	}
	return offsets[0], nil
}

// checkPipeRecords waits until the agent has had the whole of file
// acknowledged (so that whatever it shipped is stored), then checks that
// every record written is stored exactly once, with the fields the plugin
// sets, and nothing else is stored.
func checkPipeRecords(t *testing.T, c *cluster, file string, written []pipeRecord) {
	t.Helper()
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, fmt.Sprintf("all %d bytes of %s acknowledged", fi.Size(), file), func() error {
		off, err := pipeAckedOffset(c, "piped")
		if err != nil {
			return err
		}
		if off != fi.Size() {
			return fmt.Errorf("checkpoint at %d", off)
		}
		return nil
	})
	got := c.allEntries(t)
	byMsg := map[string][]apiEntry{}
	for _, e := range got {
		first, _, _ := strings.Cut(e.Message, "\n")
		byMsg[first] = append(byMsg[first], e)
	}
	lost, dup, wrong := 0, 0, 0
	for _, r := range written {
		es := byMsg[r.msg]
		delete(byMsg, r.msg)
		switch {
		case len(es) == 0:
			lost++
			if lost <= 10 {
				t.Errorf("%q: not stored", r.msg)
			}
			continue
		case len(es) > 1:
			dup += len(es) - 1
			if dup <= 10 {
				t.Errorf("%q: stored %d times", r.msg, len(es))
			}
			continue
		}
		e := es[0]
		var diffs []string
		if e.Level != r.level {
			diffs = append(diffs, fmt.Sprintf("level %q, want %q", e.Level, r.level))
		}
		if !eqStr(e.HookID, &r.hook) {
			diffs = append(diffs, fmt.Sprintf("hook_id %s, want %q", show(e.HookID), r.hook))
		}
		if want := r.wantMessage(); strings.TrimRight(e.Message, "\n") != want {
			diffs = append(diffs, fmt.Sprintf("message %q, want %q", e.Message, want))
		}
		ts, err := time.Parse(time.RFC3339Nano, e.Timestamp)
		if want, _ := time.Parse(time.RFC3339Nano, r.ts); err != nil || !ts.Equal(want) {
			diffs = append(diffs, fmt.Sprintf("timestamp %q, want %s", e.Timestamp, r.ts))
		}
		if e.Service != "piped" || e.ParseError {
			diffs = append(diffs, fmt.Sprintf("service %q parse_error %v", e.Service, e.ParseError))
		}
		if len(diffs) > 0 {
			wrong++
			if wrong <= 10 {
				t.Errorf("%q: %s", r.msg, strings.Join(diffs, "; "))
			}
		}
	}
	for msg, es := range byMsg {
		t.Errorf("stored %d entries never written: %q (parse_error %v)", len(es), msg, es[0].ParseError)
	}
	if len(got) != len(written) || lost+dup+wrong > 0 {
		t.Errorf("%d records written, %d entries stored: %d lost, %d duplicated, %d with wrong fields", len(written), len(got), lost, dup, wrong)
	}
}

// TestExamplePluginEndToEnd runs the example parser plugin as a real
// out-of-process plugin of the agent and checks that every record of a file
// in its format is stored once with the fields it sets.
func TestExamplePluginEndToEnd(t *testing.T) {
	needBinaries(t)
	logs := t.TempDir()
	c := startCluster(t, pluginSources(t, logs))

	base := time.Date(2026, 7, 31, 10, 15, 2, 101877000, time.UTC)
	var written []pipeRecord
	var buf bytes.Buffer
	for i := range 500 {
		r := pipeRecordAt(base, i)
		written = append(written, r)
		buf.WriteString(r.line())
	}
	// The last record ends the file: the agent emits it once the file has
	// been quiet, as SPEC §6 says.
	file := filepath.Join(logs, "app.log")
	writeFile(t, file, buf.String())
	checkPipeRecords(t, c, file, written)
}

// pluginChildren returns the pids of the example plugin processes whose
// parent is ppid.
func pluginChildren(t *testing.T, ppid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the process is gone
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses,
		// so the fields after it start after the last ')'.
		open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(string(b[end+1:]))
		if len(fields) < 2 || fields[0] == "Z" {
			continue // a zombie is dead already
		}
		parent, err := strconv.Atoi(fields[1])
		if err != nil || parent != ppid {
			continue
		}
		comm := string(b[open+1 : end])
		cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
		if comm != "example-plugin" && !bytes.Contains(cmdline, []byte("example-plugin")) {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
		if err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestPluginKilledLosesNothing SIGKILLs the agent's plugin process, four times,
// while records are written continuously: the agent restarts the plugin,
// retries the batch, and in the end every record written is stored exactly
// once, none of them raw.
func TestPluginKilledLosesNothing(t *testing.T) {
	needBinaries(t)
	logs := t.TempDir()
	c := startCluster(t, pluginSources(t, logs))
	agentPID := c.agent.cmd.Process.Pid

	file := filepath.Join(logs, "app.log")
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	// The writer appends a few records per tick until stop is closed: the
	// ticker paces the load, nothing waits on it.
	base := time.Date(2026, 7, 31, 10, 15, 2, 0, time.UTC)
	var (
		mu      sync.Mutex
		written []pipeRecord
		werr    error
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var b strings.Builder
			var batch []pipeRecord
			for range 20 {
				r := pipeRecordAt(base, i)
				i++
				batch = append(batch, r)
				b.WriteString(r.line())
			}
			// One write per tick: a record is never half in the file.
			_, err := f.WriteString(b.String())
			mu.Lock()
			if err != nil {
				werr = err
				mu.Unlock()
				return
			}
			written = append(written, batch...)
			mu.Unlock()
		}
	}()
	stopWriter := sync.OnceFunc(func() { close(stop); <-done })
	defer stopWriter()

	stored := func() int {
		n, err := c.total(t.Context())
		if err != nil {
			return -1
		}
		return n
	}
	// onePlugin waits for exactly one plugin child of the agent other than
	// the ones killed already.
	killed := map[int]bool{}
	onePlugin := func(what string) int {
		var pid int
		eventually(t, 30*time.Second, what, func() error {
			pids := pluginChildren(t, agentPID)
			var live []int
			for _, p := range pids {
				if !killed[p] {
					live = append(live, p)
				}
			}
			if len(live) != 1 {
				return fmt.Errorf("plugin children of agent %d: %v (killed %v)", agentPID, pids, killed)
			}
			pid = live[0]
			return nil
		})
		return pid
	}

	progress := 0
	const kills = 4
	for kill := 1; kill <= kills+1; kill++ {
		target := progress + 1000
		eventually(t, 30*time.Second, fmt.Sprintf("%d entries stored before kill %d", target, kill), func() error {
			if n := stored(); n < target {
				return fmt.Errorf("%d stored", n)
			}
			return nil
		})
		pid := onePlugin(fmt.Sprintf("a running plugin before kill %d", kill))
		if kill > kills {
			// The last plugin only shows that the last kill was
			// followed by a restart, and then it parses the rest.
			break
		}
		progress = stored()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill plugin %d: %v", pid, err)
		}
		killed[pid] = true
		t.Logf("kill %d: plugin pid %d SIGKILLed with %d entries stored", kill, pid, progress)
	}
	// The restarted plugin has parsed a good share since: stop writing.
	stopWriter()
	mu.Lock()
	all, err := written, werr
	mu.Unlock()
	if err != nil {
		t.Fatalf("writer: %v", err)
	}
	// A plugin none of the kills hit runs: the agent restarted it.
	onePlugin("the restarted plugin still running")
	out, _ := os.ReadFile(c.agent.out)
	t.Logf("%d records written, plugin killed %d times; the agent logged %d plugin crashes mid-call, %d exits between calls",
		len(all), len(killed), bytes.Count(out, []byte("plugin crashed; restarting it")), bytes.Count(out, []byte("plugin exited; restarting it")))
	checkPipeRecords(t, c, file, all)
}
