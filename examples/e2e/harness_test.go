package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// binDir holds hooktail-agent, hooktail-aggregator and example-plugin: $HOOKTAIL_BIN (set by
// `make test`), or binaries built once into a temporary folder.
var binDir string

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	flag.Parse() // testing.Short needs the flags parsed
	if dir := os.Getenv("HOOKTAIL_BIN"); dir != "" {
		binDir = dir
		return m.Run(), nil
	}
	if testing.Short() {
		return m.Run(), nil
	}
	dir, err := os.MkdirTemp("", "hooktail-e2e-bin")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for _, b := range []struct{ name, pkg, cgo string }{
		{"hooktail-agent", "./agent/cmd/hooktail-agent", "0"},
		{"hooktail-aggregator", "./aggregator/cmd/hooktail-aggregator", "1"},
		{"example-plugin", "./examples/example-plugin", "0"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.name), b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+b.cgo)
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("build %s: %v\n%s", b.name, err, out)
		}
	}
	binDir = dir
	return m.Run(), nil
}

func needBinaries(t *testing.T) {
	t.Helper()
	if binDir == "" {
		t.Skip("end-to-end test: needs the binaries (skipped with -short)")
	}
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a running binary whose output goes to a file kept for failures.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  string
	done chan struct{}
	mu   sync.Mutex
	err  error
}

func startProc(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	out := filepath.Join(dir, fmt.Sprintf("%s-%d.out", name, time.Now().UnixNano()))
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			b, _ := os.ReadFile(out)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("--- %s output (tail):\n%s", name, b)
		}
	})
	return p
}

// stop sends SIGTERM and waits (SIGKILL after 15s).
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop on SIGTERM within 15s", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	eventuallyEvery(t, within, 100*time.Millisecond, what, f)
}

// eventuallyEvery is eventually with its own polling period.
func eventuallyEvery(t *testing.T, within, every time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s: %v", what, within, err)
		}
		time.Sleep(every)
	}
}

// getBody returns the body of a 200 JSON answer to GET u.
func getBody(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "application/json") {
		return nil, fmt.Errorf("GET %s: %d, content type %q: %.200s", u, resp.StatusCode, ct, body)
	}
	return body, nil
}

func getJSON(ctx context.Context, u string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return resp.StatusCode, fmt.Errorf("GET %s: content type %q: %s", u, ct, body)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return resp.StatusCode, fmt.Errorf("GET %s: decode: %v: %s", u, err, body)
		}
	}
	return resp.StatusCode, nil
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not die on SIGKILL", p.name)
	}
}

// decodeEntriesPage decodes the "entries" of a /logs/api/entries page into
// apiEntry values. It is a small hand-written JSON reader, not
// encoding/json: under -race, encoding/json took minutes for the chaos
// test's 200k entries, this takes seconds. It accepts any valid JSON
// (escapes, surrogate pairs, nested values, which it skips) and keeps only
// apiEntry's keys; TestDecodeEntriesPage holds it to encoding/json.
func decodeEntriesPage(b []byte) ([]apiEntry, error) {
	r := &jsonReader{b: b}
	var out []apiEntry
	r.object(func(key string) {
		if key != "entries" {
			r.skip()
			return
		}
		// As encoding/json: a repeated key replaces the slice, null makes
		// it nil and [] empty.
		out = nil
		if r.null() {
			return
		}
		out = []apiEntry{}
		r.array(func() {
			var e apiEntry
			r.object(func(key string) { r.entryField(&e, key) })
			out = append(out, e)
		})
	})
	r.ws()
	if r.err == nil && r.i != len(r.b) {
		r.fail("data after the top-level value")
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}

// entryField reads the value of key into e, or skips it.
func (r *jsonReader) entryField(e *apiEntry, key string) {
	switch key {
	case "timestamp":
		e.Timestamp = r.stringOr(e.Timestamp)
	case "level":
		e.Level = r.stringOr(e.Level)
	case "message":
		e.Message = r.stringOr(e.Message)
	case "service":
		e.Service = r.stringOr(e.Service)
	case "hook_id":
		e.HookID = r.stringPtr()
	case "event_type":
		e.EventType = r.stringPtr()
	case "repository":
		e.Repository = r.stringPtr()
	case "github_user":
		e.GithubUser = r.stringPtr()
	case "task_id":
		e.TaskID = r.stringPtr()
	case "task_type":
		e.TaskType = r.stringPtr()
	case "task_status":
		e.TaskStatus = r.stringPtr()
	case "step":
		e.Step = r.stringPtr()
	case "file":
		e.File = r.stringPtr()
	case "pr_number":
		e.PRNumber = r.intPtr()
	case "token_spend":
		e.TokenSpend = r.intPtr()
	case "offset":
		if p := r.intPtr(); p != nil {
			e.Offset = int64(*p)
		}
	case "parse_error":
		if !r.null() {
			e.ParseError = r.bool()
		}
	default:
		r.skip()
	}
}

// jsonReader reads JSON values from b; the first error sticks and makes
// every later read a no-op.
type jsonReader struct {
	b   []byte
	i   int
	err error
}

func (r *jsonReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("json at byte %d: %s", r.i, what)
	}
	r.i = len(r.b)
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) && (r.b[r.i] == ' ' || r.b[r.i] == '\t' || r.b[r.i] == '\n' || r.b[r.i] == '\r') {
		r.i++
	}
}

// peek skips white space and returns the next byte, 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

func (r *jsonReader) expect(c byte) {
	if r.peek() != c {
		r.fail(fmt.Sprintf("want %q", c))
		return
	}
	r.i++
}

// object reads an object, calling field after each key with the reader
// at the key's value, which field must consume.
func (r *jsonReader) object(field func(key string)) {
	r.expect('{')
	if r.peek() == '}' {
		r.i++
		return
	}
	for r.err == nil {
		key := r.string()
		r.expect(':')
		field(key)
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return
		default:
			r.fail("want , or }")
		}
	}
}

// array reads an array, calling elem with the reader at each element.
func (r *jsonReader) array(elem func()) {
	r.expect('[')
	if r.peek() == ']' {
		r.i++
		return
	}
	for r.err == nil {
		elem()
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return
		default:
			r.fail("want , or ]")
		}
	}
}

// null consumes a null and reports whether there was one.
func (r *jsonReader) null() bool {
	if r.peek() == 'n' && bytes.HasPrefix(r.b[r.i:], []byte("null")) {
		r.i += 4
		return true
	}
	return false
}

// stringOr reads a string; null leaves old, as encoding/json does.
func (r *jsonReader) stringOr(old string) string {
	if r.null() {
		return old
	}
	return r.string()
}

func (r *jsonReader) stringPtr() *string {
	if r.null() {
		return nil
	}
	s := r.string()
	return &s
}

func (r *jsonReader) intPtr() *int {
	if r.null() {
		return nil
	}
	tok := r.literal()
	n, err := strconv.Atoi(string(tok))
	if err != nil {
		r.fail(fmt.Sprintf("integer %q", tok))
		return nil
	}
	return &n
}

func (r *jsonReader) bool() bool {
	switch tok := string(r.literal()); tok {
	case "true":
		return true
	case "false":
		return false
	default:
		r.fail(fmt.Sprintf("boolean %q", tok))
		return false
	}
}

// literal returns the number, true, false or null token at the reader.
func (r *jsonReader) literal() []byte {
	r.ws()
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		r.i++
	}
	if r.i == start {
		r.fail("want a value")
	}
	return r.b[start:r.i]
}

// string reads a string, decoding its escapes. It does not reject raw
// control characters, which valid JSON never holds.
func (r *jsonReader) string() string {
	r.expect('"')
	// bytes.IndexByte, not a loop over the bytes: under -race every byte
	// a Go loop reads is a call into the race detector.
	end := bytes.IndexByte(r.b[r.i:], '"')
	if end < 0 {
		r.fail("unterminated string")
		return ""
	}
	if esc := bytes.IndexByte(r.b[r.i:r.i+end], '\\'); esc >= 0 {
		start := r.i
		r.i += esc
		return r.escapedString(start)
	}
	s := validUTF8(r.b[r.i : r.i+end])
	r.i += end + 1
	return s
}

// escapedString reads the rest of a string that started at start and
// holds a backslash at r.i.
func (r *jsonReader) escapedString(start int) string {
	buf := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		// Copy up to the next quote or backslash in one piece.
		j := bytes.IndexByte(r.b[r.i:], '"')
		if j < 0 {
			break
		}
		if k := bytes.IndexByte(r.b[r.i:r.i+j], '\\'); k >= 0 {
			j = k
		}
		buf = append(buf, r.b[r.i:r.i+j]...)
		r.i += j
		if r.b[r.i] == '"' {
			r.i++
			return validUTF8(buf)
		}
		if r.i+1 >= len(r.b) {
			break
		}
		esc := r.b[r.i+1]
		r.i += 2
		switch esc {
		case '"', '\\', '/':
			buf = append(buf, esc)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			rn := r.hex4()
			if utf16.IsSurrogate(rn) {
				// A pair is \uD8xx\uDCxx; a lone surrogate is U+FFFD, as
				// encoding/json decodes it.
				lo := unicode.ReplacementChar
				if bytes.HasPrefix(r.b[r.i:], []byte(`\u`)) {
					save := r.i
					r.i += 2
					if lo = utf16.DecodeRune(rn, r.hex4()); lo == unicode.ReplacementChar {
						r.i = save
					}
				}
				rn = lo
			}
			buf = utf8.AppendRune(buf, rn)
		default:
			r.fail(fmt.Sprintf("escape \\%c", esc))
			return ""
		}
	}
	r.fail("unterminated string")
	return ""
}

// validUTF8 is b as a string with each byte that is not part of valid
// UTF-8 replaced by U+FFFD, as encoding/json decodes strings.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		rn, n := utf8.DecodeRune(b)
		if rn == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, unicode.ReplacementChar)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return string(out)
}

// hex4 reads the four hex digits of a \u escape.
func (r *jsonReader) hex4() rune {
	if r.i+4 > len(r.b) {
		r.fail("short \\u escape")
		return 0
	}
	v, err := strconv.ParseUint(string(r.b[r.i:r.i+4]), 16, 16)
	if err != nil {
		r.fail("bad \\u escape")
		return 0
	}
	r.i += 4
	return rune(v)
}

// skip consumes one value of any kind.
func (r *jsonReader) skip() {
	switch r.peek() {
	case '{':
		r.object(func(string) { r.skip() })
	case '[':
		r.array(r.skip)
	case '"':
		r.string()
	default:
		r.literal()
	}
}
