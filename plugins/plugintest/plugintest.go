// Package plugintest is the contract suite every parser keeps, built-in or
// plugin, in-process or over gRPC:
//
//	func TestContract(t *testing.T) {
//		plugintest.Run(t, func(t *testing.T) plugins.Parser { return myparser.New() }, plugintest.Options{})
//	}
//
// GRPC serves a parser through the real go-plugin gRPC path inside the test
// process, so the same suite checks the SDK's protocol edge too.
package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins"
)

// Options tune Run for one parser.
type Options struct {
	// Config is a configuration the parser accepts; Configure gets it
	// before any Parse. "{}" when nil.
	Config json.RawMessage
	// BadConfigs are configurations the parser must refuse with an error
	// diagnostic, on top of those every parser refuses (not JSON, not a
	// JSON object).
	BadConfigs []json.RawMessage
	// Records are records of the parser's own format. Nil: a mix of common
	// log lines (github-webhook-server text, JSON, logfmt, plain text).
	Records [][]byte
	// HugeRecordBytes is the size of the huge record (default 1 MiB).
	HugeRecordBytes int
	// Location is the timezone of the parse requests (default UTC).
	Location *time.Location
}

// commonBadConfigs are refused by every parser: configurations are JSON
// objects.
var commonBadConfigs = []string{`not json`, `{"unterminated": `, `[1, 2]`, `"a string"`, `42`, `true`}

// defaultRecords are a mix of the formats the built-ins read.
var defaultRecords = []string{
	"2026-07-31T10:15:02.101877+00:00 GithubWebhook \x1b[32mINFO\x1b[0m github-webhook-server [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c][myakove-bot][PR 890]: Processing webhook\x1b[0m",
	"2026-07-31T10:20:11.409871+00:00 GithubWebhook \x1b[31mERROR\x1b[0m github-webhook-server [check_run][96d21c70-65df-11f0-89ca-d82effeb540d]: Unexpected error\x1b[0m\n" +
		"Traceback (most recent call last):\n  File \"/app/webhook_server/app.py\", line 485, in process\n    await _api.process()\nRuntimeError: failed",
	`{"timestamp": "2026-07-31T10:15:02.101877+00:00", "level": "INFO", "logger": "GithubWebhook", "message": "Processing webhook", "hook_id": "6143a030", "event_type": "pull_request"}`,
	`time=2026-07-31T10:15:02Z level=warn msg="rate limit low" hook_id=6143a030 repository=myk-org/repo pr=890`,
	"2026-07-31 10:15:02,101 INFO plain text line without structure",
	"WARNING|2026-07-31T10:15:02Z|a pipe separated line",
}

func (o *Options) setDefaults() {
	if o.Config == nil {
		o.Config = json.RawMessage("{}")
	}
	if o.Records == nil {
		for _, r := range defaultRecords {
			o.Records = append(o.Records, []byte(r))
		}
	}
	if o.HugeRecordBytes <= 0 {
		o.HugeRecordBytes = 1 << 20
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
}

// Run checks the parser contract as subtests of t. newParser returns a
// new, unconfigured parser; each subtest takes its own.
func Run(t *testing.T, newParser func(t *testing.T) plugins.Parser, opts Options) {
	t.Helper()
	opts.setDefaults()
	t.Run("Describe", func(t *testing.T) { testDescribe(t, newParser(t), &opts) })
	t.Run("Config", func(t *testing.T) { testConfig(t, newParser(t), &opts) })
	t.Run("Parse", func(t *testing.T) {
		p := configured(t, newParser(t), &opts)
		for _, c := range parseCases(&opts) {
			t.Run(c.name, func(t *testing.T) { checkBatch(t, p, &opts, c.records) })
		}
	})
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, configured(t, newParser(t), &opts), &opts) })
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, configured(t, newParser(t), &opts), &opts) })
}

func testDescribe(t *testing.T, p plugins.Parser, opts *Options) {
	d, err := p.Describe(t.Context())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if strings.TrimSpace(d.Name) == "" {
		t.Errorf("Describe: empty Name")
	}
	var re *regexp.Regexp
	if d.StartPattern != "" {
		if re, err = regexp.Compile(d.StartPattern); err != nil {
			t.Errorf("Describe: StartPattern %q does not compile: %v", d.StartPattern, err)
		}
	}
	for _, g := range d.LinePerRecordFiles {
		if _, err := path.Match(g, ""); err != nil || g == "" || strings.Contains(g, "/") {
			t.Errorf("Describe: LinePerRecordFiles %q is not a base-name glob: %v", g, err)
		}
	}
	again, err := p.Describe(t.Context())
	if err != nil {
		t.Fatalf("second Describe: %v", err)
	}
	if diff := cmp.Diff(d, again); diff != "" {
		t.Errorf("Describe is not stable (-first +second):\n%s", diff)
	}
	// A parser's byte scanner must say what its start pattern says.
	rs, ok := p.(plugins.RecordStarter)
	if !ok || re == nil {
		return
	}
	lines := [][]byte{nil, []byte(" "), []byte("\x00\xff"), []byte("Traceback (most recent call last):")}
	for _, r := range opts.Records {
		lines = append(lines, bytes.Split(r, []byte("\n"))...)
	}
	for _, l := range lines {
		if got, want := rs.IsRecordStart(l), re.Match(l); got != want {
			t.Errorf("IsRecordStart(%q)=%v, but StartPattern matches: %v", l, got, want)
		}
	}
}

func testConfig(t *testing.T, p plugins.Parser, opts *Options) {
	ctx := t.Context()
	ds, err := p.ValidateConfig(ctx, opts.Config)
	if err != nil {
		t.Fatalf("ValidateConfig(%s): %v", opts.Config, err)
	}
	if ds.HasErrors() {
		t.Fatalf("ValidateConfig(%s) refuses Options.Config: %+v", opts.Config, ds)
	}
	bad := slicesOf(commonBadConfigs)
	bad = append(bad, opts.BadConfigs...)
	for _, cfg := range bad {
		for _, call := range []struct {
			name string
			fn   func(context.Context, json.RawMessage) (plugins.Diagnostics, error)
		}{{"ValidateConfig", p.ValidateConfig}, {"Configure", p.Configure}} {
			ds, err := call.fn(ctx, cfg)
			if err != nil {
				t.Errorf("%s(%s): error %v, want error diagnostics", call.name, cfg, err)
				continue
			}
			if !ds.HasErrors() {
				t.Errorf("%s(%s): no error diagnostic (got %+v)", call.name, cfg, ds)
			}
			for _, d := range ds {
				if strings.TrimSpace(d.Summary) == "" {
					t.Errorf("%s(%s): diagnostic without a summary: %+v", call.name, cfg, d)
				}
			}
		}
	}
	// A refused configuration leaves the parser able to take a good one.
	if ds, err := p.Configure(ctx, opts.Config); err != nil || ds.HasErrors() {
		t.Fatalf("Configure(%s) after bad configurations: %v %+v", opts.Config, err, ds)
	}
	if _, err := p.Parse(ctx, &plugins.ParseRequest{Records: toRecords(opts.Records), Location: opts.Location}, nil); err != nil {
		t.Fatalf("Parse after Configure: %v", err)
	}
}

func configured(t *testing.T, p plugins.Parser, opts *Options) plugins.Parser {
	t.Helper()
	ds, err := p.Configure(t.Context(), opts.Config)
	if err != nil {
		t.Fatalf("Configure(%s): %v", opts.Config, err)
	}
	if ds.HasErrors() {
		t.Fatalf("Configure(%s) refuses Options.Config: %+v", opts.Config, ds)
	}
	return p
}

type parseCase struct {
	name    string
	records []plugins.Record
}

// parseCases are the batches every parser must answer with one valid entry
// per record, in order.
func parseCases(opts *Options) []parseCase {
	rng := rand.New(rand.NewPCG(1, 2)) // the same junk on every run
	junk := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	var normal []plugins.Record
	for len(normal) < 64 {
		normal = append(normal, toRecords(opts.Records)...)
	}
	first := opts.Records[0]

	var huge []byte
	huge = append(huge, first...)
	for len(huge) < opts.HugeRecordBytes {
		huge = append(huge, "\n    continuation line of a huge record, as a traceback would be "...)
	}
	huge = huge[:opts.HugeRecordBytes]

	withNUL := bytes.Clone(first)
	withNUL[len(withNUL)/2] = 0

	return []parseCase{
		{"normal", normal},
		{"empty batch", nil},
		{"one record", toRecords(opts.Records[:1])},
		{"junk", toRecords([][]byte{
			{}, []byte(" "), []byte("\t\r"), []byte("\n\n"), junk(1), junk(17), junk(300), junk(4096),
			[]byte("{"), []byte(`{"unterminated": "`), []byte("key=\"unterminated"), []byte("[]"), []byte("null"),
			[]byte("\x1b[31m\x1b[0m"), []byte("\x1b["), []byte(strings.Repeat("=", 1000)),
			[]byte("9999-99-99T99:99:99.999999+99:99 Logger INFO [x][y]: bad time"),
			[]byte("0000-01-01T00:00:00 Logger INFO year zero"),
			[]byte("99999-01-01T00:00:00Z Logger INFO year 99999"),
			[]byte(`{"timestamp": "-292277022657-01-27T08:29:52Z", "level": "INFO", "message": "far past"}`),
			[]byte(`{"timestamp": 1e300, "level": 7, "message": ["not", "a", "string"]}`),
		})},
		{"huge", []plugins.Record{{Data: huge, File: "/logs/huge.log", Offset: 1 << 40}}},
		{"NUL", toRecords([][]byte{{0}, bytes.Repeat([]byte{0}, 100), withNUL, append(bytes.Clone(first), 0)})},
		{"invalid UTF-8", toRecords([][]byte{
			{0xff}, []byte("\xff\xfe\xfd"), append(bytes.Clone(first), 0xc3),
			[]byte(strings.Replace(string(first), "2", "\xe2\x82", 1)),
			[]byte("\xc0\xafoverlong \xed\xa0\x80surrogate \xf8\x88\x80\x80\x80five bytes"),
			append([]byte("\xe9t\xe9 latin-1 "), first...),
		})},
	}
}

// checkBatch parses records as one batch and checks the contract: dst is
// kept and extended by exactly one valid entry per record, and entry i is
// what record i yields alone (order kept, no state between records).
func checkBatch(t *testing.T, p plugins.Parser, opts *Options, records []plugins.Record) {
	t.Helper()
	ctx := t.Context()
	sentinel := plugins.Entry{Message: "sentinel: dst must be kept", Level: "TEST"}
	dst := []plugins.Entry{sentinel}
	got, err := p.Parse(ctx, &plugins.ParseRequest{Records: records, Location: opts.Location}, dst)
	if err != nil {
		t.Fatalf("Parse(%d records): %v", len(records), err)
	}
	if len(got) != 1+len(records) {
		t.Fatalf("Parse(%d records) appended %d entries, want one per record", len(records), len(got)-1)
	}
	if diff := cmp.Diff(sentinel, got[0]); diff != "" {
		t.Fatalf("Parse changed the entries already in dst (-want +got):\n%s", diff)
	}
	got = got[1:]
	for i := range got {
		checkEntry(t, &got[i], records[i])
	}
	if len(records) == 1 {
		return // the batch is the record alone
	}
	for i := range records {
		alone, err := p.Parse(ctx, &plugins.ParseRequest{Records: records[i : i+1], Location: opts.Location}, nil)
		if err != nil {
			t.Fatalf("Parse(record %d alone): %v", i, err)
		}
		if len(alone) != 1 {
			t.Fatalf("Parse(record %d alone) returned %d entries, want 1", i, len(alone))
		}
		if !reflect.DeepEqual(alone[0], got[i]) {
			t.Fatalf("entry %d of the batch is not what record %d yields alone (order or state between records) (-alone +batch):\n%s", i, i, cmp.Diff(alone[0], got[i]))
		}
	}
}

// checkEntry checks what the agent needs of every entry: it can be
// shipped, its structured parts are JSON, and a parse error keeps the
// record.
func checkEntry(t *testing.T, e *plugins.Entry, rec plugins.Record) {
	t.Helper()
	if err := plugins.CheckEntry(e); err != nil {
		t.Errorf("entry of record %.80q cannot be shipped: %v", rec.Data, err)
	}
	if len(e.Details) > 0 && !json.Valid(e.Details) {
		t.Errorf("entry of record %.80q: Details is not JSON: %.80q", rec.Data, e.Details)
	}
	if c := e.Completion; c != nil {
		for _, s := range c.Steps {
			if len(s.Details) > 0 && !json.Valid(s.Details) {
				t.Errorf("entry of record %.80q: step %q Details is not JSON: %.80q", rec.Data, s.Name, s.Details)
			}
		}
	}
	if e.ParseError && e.Message == "" && len(bytes.TrimSpace(rec.Data)) > 0 && utf8.Valid(rec.Data) {
		t.Errorf("record %.80q: parse_error entry with an empty message loses the record", rec.Data)
	}
}

func testConcurrent(t *testing.T, p plugins.Parser, opts *Options) {
	var records []plugins.Record
	for len(records) < 200 {
		records = append(records, toRecords(opts.Records)...)
	}
	req := &plugins.ParseRequest{Records: records, Location: opts.Location}
	want, err := p.Parse(t.Context(), req, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	const workers, rounds = 8, 5
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var dst []plugins.Entry
			for r := range rounds {
				// Each worker parses its own requests over the same records.
				got, err := p.Parse(t.Context(), &plugins.ParseRequest{Records: records, Location: opts.Location}, dst[:0])
				if err != nil {
					errs <- fmt.Errorf("worker %d round %d: Parse: %w", w, r, err)
					return
				}
				if err := sameEntries(want, got); err != nil {
					errs <- fmt.Errorf("worker %d round %d: concurrent Parse differs from a lone one: %w", w, r, err)
					return
				}
				dst = got
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testCancelled(t *testing.T, p plugins.Parser, opts *Options) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var records []plugins.Record
	for len(records) < 1000 {
		records = append(records, toRecords(opts.Records)...)
	}
	_, err := p.Parse(ctx, &plugins.ParseRequest{Records: records, Location: opts.Location}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Parse with a cancelled context: error %v, want one that wraps context.Canceled", err)
	}
	// The parser still works for the next caller.
	if _, err := p.Parse(t.Context(), &plugins.ParseRequest{Records: records[:1], Location: opts.Location}, nil); err != nil {
		t.Errorf("Parse after a cancelled one: %v", err)
	}
}

// sameEntries tells the first difference between two results.
func sameEntries(want, got []plugins.Entry) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(want[i], got[i]) {
			return fmt.Errorf("entry %d (-want +got):\n%s", i, cmp.Diff(want[i], got[i]))
		}
	}
	return nil
}

func toRecords(data [][]byte) []plugins.Record {
	out := make([]plugins.Record, len(data))
	var off int64
	for i, d := range data {
		out[i] = plugins.Record{Data: d, File: "/var/log/test/input.log", Offset: off}
		off += int64(len(d)) + 1
	}
	return out
}

func slicesOf(ss []string) []json.RawMessage {
	out := make([]json.RawMessage, len(ss))
	for i, s := range ss {
		out[i] = json.RawMessage(s)
	}
	return out
}
