//go:build unix

package pluginhost_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hooktail/hooktail/agent/pluginhost"
	"github.com/hooktail/hooktail/plugins"
	"github.com/hooktail/hooktail/plugins/webhookserver"
)

// benchBatch is n realistic records: the example webhook-server logs,
// framed as the agent frames them, over and over.
func benchBatch(b *testing.B, n int) ([]plugins.Record, int64) {
	b.Helper()
	p := webhookserver.New()
	var pool []plugins.Record
	for _, f := range []string{"webhook-server.log", "webhook-server.log.1", "legacy-4.0/webhook-server.log"} {
		path := filepath.Join("..", "..", "examples", "logs", f)
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatalf("read bench input: %v", err)
		}
		var cur []byte
		var off int64
		for line := range bytes.Lines(data) {
			line = bytes.TrimSuffix(line, []byte("\n"))
			if cur != nil && p.IsRecordStart(line) {
				pool = append(pool, plugins.Record{Data: cur, File: path, Offset: off})
				off += int64(len(cur)) + 1
				cur = nil
			}
			if cur != nil {
				cur = append(cur, '\n')
			}
			cur = append(cur, line...)
		}
		if cur != nil {
			pool = append(pool, plugins.Record{Data: cur, File: path, Offset: off})
		}
	}
	recs := make([]plugins.Record, n)
	var size int64
	for i := range recs {
		recs[i] = pool[i%len(pool)]
		size += int64(len(recs[i].Data)) + 1
	}
	return recs, size
}

// BenchmarkParse parses the same batch of realistic webhook-server
// records in-process and through a plugin process over gRPC, for batch
// sizes from one record to ten times the default batch. cpu-ns/record
// counts the CPU of both processes.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1, 100, 2000, 20000} {
		recs, size := benchBatch(b, n)
		b.Run(fmt.Sprintf("records=%d/in-process", n), func(b *testing.B) {
			benchParse(b, webhookserver.New(), nil, recs, size)
		})
		b.Run(fmt.Sprintf("records=%d/grpc", n), func(b *testing.B) {
			h, err := pluginhost.Open(b.Context(), pluginhost.Options{
				Name: "bench", Command: testPlugin, Args: []string{"-builtin", webhookserver.Name},
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				b.Fatalf("Open: %v", err)
			}
			benchParse(b, h, h, recs, size)
		})
	}
}

func benchParse(b *testing.B, p plugins.Parser, h *pluginhost.Host, recs []plugins.Record, size int64) {
	req := &plugins.ParseRequest{Records: recs, Location: time.UTC}
	dst := make([]plugins.Entry, 0, len(recs))
	b.ReportAllocs()
	b.SetBytes(size)
	self0, children0 := cpuTime()
	loops := 0
	for b.Loop() {
		var err error
		dst, err = p.Parse(b.Context(), req, dst[:0])
		if err != nil || len(dst) != len(recs) {
			b.Fatalf("Parse: %d entries, %v", len(dst), err)
		}
		loops++
	}
	elapsed := b.Elapsed()
	if h != nil {
		// The plugin's CPU time is known once it has exited and been
		// waited for.
		_ = h.Close()
		if s := h.Stats(); s.Restarts+s.Crashes+s.Timeouts+s.PoisonedBatches+s.MalformedBatches > 0 {
			b.Fatalf("the plugin misbehaved during the benchmark: %+v", s)
		}
	}
	self1, children1 := cpuTime()
	n := float64(loops * len(recs))
	b.ReportMetric(n/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64((self1-self0)+(children1-children0))/n, "cpu-ns/record")
	if h != nil {
		b.ReportMetric(float64(children1-children0)/n, "plugin-cpu-ns/record")
	}
}

// cpuTime is the CPU time of this process and of its children that have
// been waited for, in nanoseconds.
func cpuTime() (self, children int64) {
	var s, c syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &s) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c) != nil {
		return 0, 0
	}
	ns := func(r *syscall.Rusage) int64 { return r.Utime.Nano() + r.Stime.Nano() }
	return ns(&s), ns(&c)
}
