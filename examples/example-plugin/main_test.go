package main

import (
	"bytes"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/plugintest"
)

// sampleRecords frames sample.log as the agent does, by the start pattern.
func sampleRecords(t testing.TB) []plugins.Record {
	t.Helper()
	d, err := parser{}.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	start := regexp.MustCompile(d.StartPattern)
	data, err := os.ReadFile("sample.log")
	if err != nil {
		t.Fatal(err)
	}
	var recs []plugins.Record
	var off int64
	for line := range bytes.Lines(data) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		if len(recs) == 0 || start.Match(line) {
			recs = append(recs, plugins.Record{Data: bytes.Clone(line), File: "sample.log", Offset: off})
		} else {
			r := &recs[len(recs)-1]
			r.Data = append(append(r.Data, '\n'), line...)
		}
		off += int64(len(line)) + 1
	}
	return recs
}

func TestSample(t *testing.T) {
	got, err := parser{}.Parse(t.Context(), &plugins.ParseRequest{Records: sampleRecords(t), Location: time.UTC}, nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	hook := "6143a030-bbd7-11f0-95bd-b07354b8711c"
	want := []plugins.Entry{
		{TimestampRaw: "2026-07-31T10:15:02.101877Z", Level: "INFO", HookID: hook, Message: "Processing webhook for myk-org/github-webhook-server PR 890"},
		{TimestampRaw: "2026-07-31T10:15:02.391554Z", Level: "DEBUG", HookID: hook, Message: "Signature verification successful"},
		{TimestampRaw: "2026-07-31T10:15:03.912744+03:00", Level: "INFO", HookID: hook, Message: "Cloning repository"},
		{TimestampRaw: "2026-07-31T10:20:11.409871Z", Level: "ERROR", HookID: "96d21c70-65df-11f0-89ca-d82effeb540d",
			Message: "Unexpected error in background processing\nTraceback (most recent call last):\n" +
				"  File \"/app/webhook_server/app.py\", line 485, in process_with_error_handling\n    await _api.process()\nRuntimeError: Failed to fetch PR 825 ref"},
		{TimestampRaw: "2026-07-31T10:20:12Z", Level: "SUCCESS", HookID: hook, Message: "Webhook completed in 10.2s"},
		{Message: "2026-07-31T10:20:13Z|WARN|a line without its hook id is stored raw, flagged parse_error", ParseError: true},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(plugins.Entry{}, "TimestampUS")); diff != "" {
		t.Errorf("sample.log (-want +got):\n%s", diff)
	}
	if got, want := time.UnixMicro(got[2].TimestampUS).UTC(), time.Date(2026, 7, 31, 7, 15, 3, 912744000, time.UTC); !got.Equal(want) {
		t.Errorf("timestamp of record 2 = %v, want %v", got, want)
	}
}

func TestContract(t *testing.T) {
	var records [][]byte
	for _, r := range sampleRecords(t) {
		records = append(records, r.Data)
	}
	opts := plugintest.Options{Records: records}
	t.Run("in-process", func(t *testing.T) {
		plugintest.Run(t, func(*testing.T) plugins.Parser { return parser{} }, opts)
	})
	t.Run("grpc", func(t *testing.T) {
		plugintest.Run(t, func(t *testing.T) plugins.Parser { return plugintest.GRPC(t, parser{}) }, opts)
	})
}

func FuzzParse(f *testing.F) {
	for _, r := range sampleRecords(f) {
		f.Add(r.Data)
	}
	f.Add([]byte("0000-01-01T00:00:00Z|INFO|h|year zero"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parser{}.Parse(t.Context(), &plugins.ParseRequest{Records: []plugins.Record{{Data: data}}}, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("Parse(%q) = %d entries, %v", data, len(got), err)
		}
		if err := plugins.CheckEntry(&got[0]); err != nil {
			t.Fatalf("Parse(%q): entry cannot be shipped: %v", data, err)
		}
	})
}
