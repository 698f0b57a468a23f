package parsertest

import (
	"testing"

	"github.com/hooktail/hooktail/plugins"
)

// BenchLines returns n records cycling through lines, and their size in
// bytes with a newline each.
func BenchLines(lines []string, n int) (recs []plugins.Record, size int64) {
	for i := range n {
		l := lines[i%len(lines)]
		recs = append(recs, plugins.Record{Data: []byte(l)})
		size += int64(len(l)) + 1
	}
	return recs, size
}

// BenchParse measures p parsing recs in one batch per iteration. Besides
// ns/op and allocs/op it reports records/s and cpu-ns/record: the CPU
// time of the whole process per record, GC included (run with -cpu 1 to
// compare with wall time). It fails if any record is a parse error, so
// that the figures are of parsed records.
func BenchParse(b *testing.B, p plugins.Parser, recs []plugins.Record, size int64) {
	b.Helper()
	req := &plugins.ParseRequest{Records: recs}
	dst := make([]plugins.Entry, 0, len(recs))
	dst, err := p.Parse(b.Context(), req, dst)
	if err != nil {
		b.Fatalf("Parse: %v", err)
	}
	for i := range dst {
		if dst[i].ParseError {
			b.Fatalf("record %q is a parse error", recs[i].Data)
		}
	}
	b.ReportAllocs()
	b.SetBytes(size)
	loops := 0
	cpu0, cpuOK := processCPU()
	for b.Loop() {
		dst, err = p.Parse(b.Context(), req, dst[:0])
		if err != nil {
			b.Fatalf("Parse: %v", err)
		}
		loops++
	}
	b.ReportMetric(float64(loops*len(recs))/b.Elapsed().Seconds(), "records/s")
	if cpu1, ok := processCPU(); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(loops*len(recs)), "cpu-ns/record")
	}
}
