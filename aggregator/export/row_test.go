package export_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/export"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const goldenTraceback = "Traceback (most recent call last):\n" +
	"  File \"/app/webhook_server/app.py\", line 485, in process_with_error_handling\n" +
	"    await _api.process()\n" +
	"RuntimeError: Failed to fetch PR 12, \"refs/pull/12/head\" missing"

// goldenRows covers every column and every quoting case: a traceback
// with quotes, commas and line breaks, a delivery with nothing known
// beyond its id, each status, and each source of the error text.
func goldenRows() []export.Row {
	t0 := time.Date(2026, 7, 31, 10, 15, 2, 101877000, time.UTC)
	dur := int64(1500)
	return []export.Row{{
		Delivery: aggregator.Delivery{HookID: "6143a030-bbd7-11f0-95bd-b07354b8711c", Attempt: 1, Service: "webhook-server",
			State: aggregator.StateCompleted, Status: "success", EventType: "pull_request", Action: "synchronize",
			ReceivedAt: t0, CompletedAt: t0.Add(1500 * time.Millisecond), DurationMS: &dur},
	}, {
		Delivery: aggregator.Delivery{HookID: "7ab1c2d3-bbd7-11f0-95bd-b07354b8711c", Attempt: 2, Service: "webhook-server",
			State: aggregator.StateFailed, Status: "failed", EventType: "push", HasErrors: true,
			ReceivedAt: t0.Add(time.Minute), CompletedAt: t0.Add(time.Minute + 2*time.Second),
			Error: &aggregator.ErrorInfo{Type: "RuntimeError", Message: "Unexpected error in background webhook processing, giving up",
				Traceback: goldenTraceback}},
	}, {
		// Only the request line was seen: pending, no event known yet.
		Delivery: aggregator.Delivery{HookID: "unknown-delivery", Attempt: 3, Service: "svc, \"quoted\"",
			State: aggregator.StatePending, ReceivedAt: t0.Add(2 * time.Minute)},
	}, {
		// Completed with an ERROR entry: the error text is that entry's.
		Delivery: aggregator.Delivery{HookID: "h-errors", Attempt: 1, Service: "webhook-server", State: aggregator.StateCompleted,
			Status: "partial", EventType: "check_run", Action: "completed", HasErrors: true,
			ReceivedAt: t0.Add(3 * time.Minute), CompletedAt: t0.Add(4 * time.Minute)},
		LastError: &aggregator.ErrorInfo{Message: "Failed to set check run status: 422 {\"message\": \"Validation Failed\"}"},
	}, {
		// Timed out without any error: failed, no error text invented.
		Delivery: aggregator.Delivery{HookID: "h-timeout", Attempt: 1, Service: "webhook-server", State: aggregator.StateTimeout,
			EventType: "issue_comment", HasErrors: true, ReceivedAt: t0.Add(5 * time.Minute)},
	}, {
		// Completed, a step failed: the step's error.
		Delivery: aggregator.Delivery{HookID: "h-step", Attempt: 1, Service: "webhook-server", State: aggregator.StateCompleted,
			Status: "partial", EventType: "pull_request", HasErrors: true, ReceivedAt: t0.Add(6 * time.Minute),
			CompletedAt: t0.Add(7 * time.Minute), Steps: []aggregator.Step{
				{Name: "repo_clone", Status: "completed"},
				{Name: "tox", Status: "failed", Error: &aggregator.ErrorInfo{Type: "ToxError"}},
			}},
	}, {
		// Processing; an emoji and a tab survive.
		Delivery: aggregator.Delivery{HookID: "h-processing", Attempt: 1, Service: "webhook-server", State: aggregator.StateProcessing,
			EventType: "pull_request_review", Action: "submitted\tnow 🚀", ReceivedAt: t0.Add(8 * time.Minute)},
	}}
}

func writeRows(t *testing.T, f export.Format, rows []export.Row) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := export.NewWriter(&buf, f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if err := w.Write(&rows[i]); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return buf.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := gocmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestCSVGolden(t *testing.T) {
	rows := goldenRows()
	out := writeRows(t, export.FormatCSV, rows)
	golden(t, "rows.csv", out)

	// An RFC 4180 reader gets every field back (line breaks in fields
	// come back as \n), and the header is the columns.
	records, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if diff := gocmp.Diff(export.Columns, records[0]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if got, want := len(records), len(rows)+1; got != want {
		t.Fatalf("%d records, want %d", got, want)
	}
	failed := records[2]
	want := "Unexpected error in background webhook processing, giving up\n" + goldenTraceback
	if got := failed[8]; got != want {
		t.Errorf("error messages read back as %q, want %q", got, want)
	}
	if got, want := records[1][4], "pull_request.synchronize"; got != want {
		t.Errorf("operation name %q, want %q", got, want)
	}
	if !bytes.HasSuffix(out, []byte("\r\n")) || bytes.Count(out, []byte("\n")) != bytes.Count(out, []byte("\r\n")) {
		t.Errorf("line ends are not all CRLF")
	}
}

func TestJSONLGolden(t *testing.T) {
	rows := goldenRows()
	out := writeRows(t, export.FormatJSONL, rows)
	golden(t, "rows.jsonl", out)

	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		// The keys are the columns, in order.
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		var keys []string
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, tok.(string))
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
		}
		if diff := gocmp.Diff(export.Columns, keys); diff != "" {
			t.Fatalf("line %d keys (-want +got):\n%s", n+1, diff)
		}
		n++
	}
	if n != len(rows) {
		t.Fatalf("%d lines, want %d", n, len(rows))
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

func TestWriterErrorsStick(t *testing.T) {
	for _, f := range []export.Format{export.FormatCSV, export.FormatJSONL} {
		w, err := export.NewWriter(failWriter{}, f)
		if err != nil {
			t.Fatal(err)
		}
		rows := goldenRows()
		for i := range rows {
			_ = w.Write(&rows[i])
		}
		if err := w.Flush(); err == nil {
			t.Errorf("%s: Flush to a failing writer succeeded", f)
		}
		if err := w.Write(&rows[0]); err == nil {
			t.Errorf("%s: Write after a failure succeeded", f)
		}
	}
	if _, err := export.NewWriter(io.Discard, "xml"); err == nil {
		t.Error("NewWriter accepted an unknown format")
	}
}

// BenchmarkWriter writes the golden rows over and over.
func BenchmarkWriter(b *testing.B) {
	rows := goldenRows()
	for _, f := range []export.Format{export.FormatCSV, export.FormatJSONL} {
		b.Run(string(f), func(b *testing.B) {
			w, err := export.NewWriter(io.Discard, f)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if err := w.Write(&rows[n%len(rows)]); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
