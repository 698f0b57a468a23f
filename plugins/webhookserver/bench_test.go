package webhookserver_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/webhookserver"
)

// benchRecords builds a realistic batch of n records, cycling through the
// reference sessions (4.1.0, with its two summary lines, and legacy 4.0.x),
// the sample file and the traceback and DuplicateFilter cases.
func benchRecords(b *testing.B, n int) (recs []plugins.Record, size int64) {
	b.Helper()
	p := webhookserver.New()
	var pool []plugins.Record
	for _, c := range []string{"reference-4.1", "reference-4.0-legacy", "sample", "traceback", "duplicate-filter"} {
		data, err := os.ReadFile(filepath.Join("testdata", c, "input.log"))
		if err != nil {
			b.Fatalf("read bench input: %v", err)
		}
		for _, r := range frame(p, data) {
			pool = append(pool, plugins.Record{Data: r.data})
		}
	}
	for i := range n {
		r := pool[i%len(pool)]
		recs = append(recs, r)
		size += int64(len(r.Data)) + 1
	}
	return recs, size
}

func BenchmarkParse(b *testing.B) {
	benchmarkParse(b, benchRecords)
}

// benchJSONLRecords builds a realistic batch of n lines of a webhooks_*.json
// file, cycling through the JSONL copy of the reference session (24
// log_entry lines and its webhook_summary) and the traceback case: one
// summary in 30 lines, about what a webhook writes.
func benchJSONLRecords(b *testing.B, n int) ([]plugins.Record, int64) {
	return jsonlRecords(b, n, "jsonl-paired", "jsonl-exc-info")
}

// benchSummaryRecords builds a batch of n webhook_summary lines, current
// and legacy.
func benchSummaryRecords(b *testing.B, n int) ([]plugins.Record, int64) {
	return jsonlRecords(b, n, "jsonl-summary", "jsonl-legacy-summary")
}

func jsonlRecords(b *testing.B, n int, cases ...string) (recs []plugins.Record, size int64) {
	b.Helper()
	var pool []plugins.Record
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join("testdata", c, "input.json"))
		if err != nil {
			b.Fatalf("read bench input: %v", err)
		}
		for _, r := range frameLines(data) {
			pool = append(pool, plugins.Record{Data: r.data, File: jsonlFile})
		}
	}
	for i := range n {
		r := pool[i%len(pool)]
		recs = append(recs, r)
		size += int64(len(r.Data)) + 1
	}
	return recs, size
}

// BenchmarkParseJSONL is BenchmarkParse for the lines of webhooks_*.json.
func BenchmarkParseJSONL(b *testing.B) {
	benchmarkParse(b, benchJSONLRecords)
}

// BenchmarkParseJSONLSummary measures the webhook_summary lines alone.
func BenchmarkParseJSONLSummary(b *testing.B) {
	benchmarkParse(b, benchSummaryRecords)
}

func benchmarkParse(b *testing.B, records func(*testing.B, int) ([]plugins.Record, int64)) {
	for _, n := range []int{1, 1000} {
		b.Run(map[int]string{1: "records=1", 1000: "records=1000"}[n], func(b *testing.B) {
			recs, size := records(b, n)
			p := webhookserver.New()
			req := &plugins.ParseRequest{Records: recs}
			dst := make([]plugins.Entry, 0, len(recs))
			b.ReportAllocs()
			b.SetBytes(size)
			loops := 0
			cpu0, cpuOK := webhookserver.ProcessCPU()
			for b.Loop() {
				var err error
				dst, err = p.Parse(b.Context(), req, dst[:0])
				if err != nil {
					b.Fatalf("Parse: %v", err)
				}
				loops++
			}
			b.ReportMetric(float64(loops*len(recs))/b.Elapsed().Seconds(), "records/s")
			if cpu1, ok := webhookserver.ProcessCPU(); ok && cpuOK {
				// GC work on other threads counts too; run with -cpu 1 to compare.
				b.ReportMetric(float64(cpu1-cpu0)/float64(loops*len(recs)), "cpu-ns/record")
			}
		})
	}
}

// BenchmarkIsRecordStart measures the framing test on the lines of the
// benchmark batch (headers and continuation lines).
func BenchmarkIsRecordStart(b *testing.B) {
	recs, size := benchRecords(b, 1000)
	var lines [][]byte
	for _, r := range recs {
		start := 0
		for i, c := range r.Data {
			if c == '\n' {
				lines = append(lines, r.Data[start:i])
				start = i + 1
			}
		}
		lines = append(lines, r.Data[start:])
	}
	p := webhookserver.New()
	b.ReportAllocs()
	b.SetBytes(size)
	starts := 0
	for b.Loop() {
		for _, l := range lines {
			if p.IsRecordStart(l) {
				starts++
			}
		}
	}
	if starts == 0 {
		b.Fatal("no record start found")
	}
}
