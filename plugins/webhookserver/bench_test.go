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
	for _, n := range []int{1, 1000} {
		b.Run(map[int]string{1: "records=1", 1000: "records=1000"}[n], func(b *testing.B) {
			recs, size := benchRecords(b, n)
			p := webhookserver.New()
			req := &plugins.ParseRequest{Records: recs}
			dst := make([]plugins.Entry, 0, len(recs))
			b.ReportAllocs()
			b.SetBytes(size)
			loops := 0
			cpu0, cpuOK := processCPU()
			for b.Loop() {
				var err error
				dst, err = p.Parse(b.Context(), req, dst[:0])
				if err != nil {
					b.Fatalf("Parse: %v", err)
				}
				loops++
			}
			b.ReportMetric(float64(loops*len(recs))/b.Elapsed().Seconds(), "records/s")
			if cpu1, ok := processCPU(); ok && cpuOK {
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
