package main

import (
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hooktail/hooktail/agent/pluginhost"
	"github.com/hooktail/hooktail/plugins"
)

// BenchmarkParse parses the same batch of the example format in-process
// and through the plugin binary over go-plugin gRPC, as the agent runs it.
func BenchmarkParse(b *testing.B) {
	sample := sampleRecords(b)
	const n = 2000
	var recs []plugins.Record
	for len(recs) < n {
		recs = append(recs, sample...)
	}
	recs = recs[:n]
	var size int64
	for _, r := range recs {
		size += int64(len(r.Data))
	}
	b.Run(fmt.Sprintf("records=%d/in-process", len(recs)), func(b *testing.B) {
		benchParse(b, parser{}, recs, size)
	})
	b.Run(fmt.Sprintf("records=%d/grpc", len(recs)), func(b *testing.B) {
		bin := filepath.Join(b.TempDir(), "example-plugin")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			b.Fatalf("build the plugin: %v\n%s", err, out)
		}
		h, err := pluginhost.Open(b.Context(), pluginhost.Options{
			Name: "example", Command: bin, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			b.Fatalf("start the plugin: %v", err)
		}
		defer h.Close()
		benchParse(b, h, recs, size)
	})
}

func benchParse(b *testing.B, p plugins.Parser, recs []plugins.Record, size int64) {
	req := &plugins.ParseRequest{Records: recs, Location: time.UTC}
	dst := make([]plugins.Entry, 0, len(recs))
	b.ReportAllocs()
	b.SetBytes(size)
	loops := 0
	for b.Loop() {
		var err error
		if dst, err = p.Parse(b.Context(), req, dst[:0]); err != nil || len(dst) != len(recs) {
			b.Fatalf("Parse: %d entries, %v", len(dst), err)
		}
		loops++
	}
	b.ReportMetric(float64(loops*len(recs))/b.Elapsed().Seconds(), "records/s")
}
