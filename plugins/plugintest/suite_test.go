package plugintest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/plugintest"
)

// pipeParser reads "LEVEL|message" records; it keeps the contract, and its
// broken variants each break one rule of it.
type pipeParser struct {
	broken string

	mu    sync.Mutex
	count int // for the "stateful" variant
}

func (p *pipeParser) Describe(context.Context) (plugins.Description, error) {
	d := plugins.Description{Name: "pipe", StartPattern: `^[A-Z]+\|`, LinePerRecordFiles: []string{"*.pipe"}}
	if p.broken == "bad pattern" {
		d.StartPattern = `^[A-Z+\|`
	}
	return d, nil
}

func (p *pipeParser) ValidateConfig(_ context.Context, config json.RawMessage) (plugins.Diagnostics, error) {
	var m map[string]any
	if err := json.Unmarshal(config, &m); err != nil {
		if p.broken == "error on bad config" {
			return nil, err
		}
		return plugins.Diagnostics{{Severity: plugins.SeverityError, Summary: "invalid configuration", Detail: err.Error()}}, nil
	}
	var ds plugins.Diagnostics
	for k := range m {
		ds = append(ds, plugins.Diagnostic{Severity: plugins.SeverityError, Summary: "unknown setting", Attribute: k})
	}
	return ds, nil
}

func (p *pipeParser) Configure(ctx context.Context, config json.RawMessage) (plugins.Diagnostics, error) {
	return p.ValidateConfig(ctx, config)
}

func (p *pipeParser) Parse(ctx context.Context, req *plugins.ParseRequest, dst []plugins.Entry) ([]plugins.Entry, error) {
	if err := ctx.Err(); err != nil && p.broken != "ignores ctx" {
		return dst, err
	}
	if p.broken == "overwrites dst" && len(dst) > 0 {
		dst[0].Message = "overwritten"
	}
	for i, r := range req.Records {
		level, msg, ok := bytes.Cut(r.Data, []byte("|"))
		e := plugins.Entry{Level: string(level), Message: string(msg)}
		if !ok || !utf8.Valid(r.Data) {
			e = plugins.RawEntry(r.Data)
		}
		switch p.broken {
		case "invalid utf8":
			e.Message = string(r.Data)
		case "drops junk":
			if !ok {
				continue
			}
		case "stateful":
			p.mu.Lock()
			p.count++
			e.Details = json.RawMessage(fmt.Sprintf(`{"n":%d}`, p.count))
			p.mu.Unlock()
		case "reversed":
			if i == 0 && len(req.Records) > 1 {
				e.Level = "FIRST"
			}
		case "bad time":
			e.TimestampUS = plugins.MaxTimestampUS + 1
		}
		dst = append(dst, e)
	}
	return dst, nil
}

func TestRun(t *testing.T) {
	opts := plugintest.Options{
		Records:    [][]byte{[]byte("INFO|hello"), []byte("ERROR|failed\nTraceback (most recent call last):\n  boom")},
		BadConfigs: []json.RawMessage{json.RawMessage(`{"no_such_setting": 1}`)},
	}
	newParser := func(*testing.T) plugins.Parser { return &pipeParser{} }
	t.Run("in-process", func(t *testing.T) { plugintest.Run(t, newParser, opts) })
	t.Run("grpc", func(t *testing.T) {
		plugintest.Run(t, func(t *testing.T) plugins.Parser { return plugintest.GRPC(t, newParser(t)) }, opts)
	})
}

// TestRunCatchesBrokenParsers runs the suite against parsers that each
// break one rule, in a child test process, and wants it to fail there
// naming the rule.
func TestRunCatchesBrokenParsers(t *testing.T) {
	if os.Getenv("PLUGINTEST_BROKEN") != "" {
		t.Skip("child process")
	}
	cases := map[string]string{
		"bad pattern":         "does not compile",
		"error on bad config": "want error diagnostics",
		"ignores ctx":         "wraps context.Canceled",
		"overwrites dst":      "changed the entries already in dst",
		"drops junk":          "want one per record",
		"stateful":            "state between records",
		"reversed":            "is not what record 0 yields alone",
		"invalid utf8":        "invalid UTF-8",
		"bad time":            "outside years 1..9999",
	}
	for broken, want := range cases {
		t.Run(broken, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "PLUGINTEST_BROKEN="+broken)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("suite against a %q parser: %v, want a failing test process; output:\n%s", broken, err, out)
			}
			if !strings.Contains(string(out), want) {
				t.Errorf("suite against a %q parser failed without saying %q; output:\n%s", broken, want, out)
			}
		})
	}
}

// TestBrokenChild is the child of TestRunCatchesBrokenParsers.
func TestBrokenChild(t *testing.T) {
	broken := os.Getenv("PLUGINTEST_BROKEN")
	if broken == "" {
		t.Skip("run by TestRunCatchesBrokenParsers")
	}
	opts := plugintest.Options{Records: [][]byte{[]byte("INFO|hello"), []byte("WARN|careful")}, Location: time.UTC}
	plugintest.Run(t, func(*testing.T) plugins.Parser { return &pipeParser{broken: broken} }, opts)
}
