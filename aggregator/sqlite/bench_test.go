package sqlite_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/sqlite"
)

func BenchmarkIngest(b *testing.B) {
	s := openStore(b, "", sqlite.Options{})
	g := newGen("webhook-server", start)
	ctx := b.Context()
	var (
		total int
		cpu   time.Duration
	)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		batch := g.entries(1000)
		c0 := cpuTime()
		b.StartTimer()
		res, err := s.Ingest(ctx, &aggregator.Batch{AgentID: "agent-1", Entries: batch})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - c0
		b.StartTimer()
		if res.Stored != len(batch) {
			b.Fatalf("stored %d of %d", res.Stored, len(batch))
		}
		total += len(batch)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "entries/s")
	// CPU time per entry (user+system, whole process, GC included) is
	// steadier than wall time on a shared machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(total), "cpu-ns/entry")
}

// cpuTime is the CPU time (user+system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngestDuplicates re-sends batches that are stored already (an
// agent that lost its checkpoints).
func BenchmarkIngestDuplicates(b *testing.B) {
	s := openStore(b, "", sqlite.Options{})
	g := newGen("webhook-server", start)
	batches := make([][]aggregator.Entry, 20)
	for i := range batches {
		batches[i] = g.entries(1000)
		ingest(b, s, batches[i])
	}
	var total, i int
	for b.Loop() {
		batch := batches[i%len(batches)]
		i++
		if _, err := s.Ingest(b.Context(), &aggregator.Batch{Entries: batch}); err != nil {
			b.Fatal(err)
		}
		total += len(batch)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "entries/s")
}

// readFixture is a database filled once per test binary for the read
// benchmarks: 1M entries (20k with -short).
type readFixture struct {
	once  sync.Once
	dir   string
	path  string
	hooks []string
	err   error
}

var fixture readFixture // shared by the read benchmarks; removed by TestMain

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

func benchStore(b *testing.B) (*sqlite.Store, []string) {
	b.Helper()
	fixture.once.Do(func() {
		n := 1_000_000
		if testing.Short() {
			n = 20_000
		}
		fixture.dir, fixture.err = os.MkdirTemp("", "hooktail-bench-")
		if fixture.err != nil {
			return
		}
		fixture.path = filepath.Join(fixture.dir, "bench.db")
		s, err := sqlite.Open(context.Background(), fixture.path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			fixture.err = err
			return
		}
		defer s.Close()
		g := newGen("webhook-server", start)
		began := time.Now()
		for stored := 0; stored < n; {
			batch := g.entries(10_000)
			if _, err := s.Ingest(context.Background(), &aggregator.Batch{Entries: batch}); err != nil {
				fixture.err = err
				return
			}
			for _, e := range batch {
				if !e.Summary {
					stored++
				}
				if e.HookID != "" && (len(fixture.hooks) == 0 || fixture.hooks[len(fixture.hooks)-1] != e.HookID) {
					fixture.hooks = append(fixture.hooks, e.HookID)
				}
			}
		}
		fixture.hooks = slices.Compact(fixture.hooks)
		st, _ := s.Stats(context.Background())
		b.Logf("fixture: %d entries, %d deliveries, %d MiB, built in %s (%.0f entries/s)",
			st.Entries, st.Deliveries, st.SizeBytes>>20, time.Since(began).Round(time.Millisecond),
			float64(st.Entries)/time.Since(began).Seconds())
	})
	if fixture.err != nil {
		b.Fatal(fixture.err)
	}
	return openStore(b, fixture.path, sqlite.Options{DeliveryTimeout: 15 * time.Minute}), fixture.hooks
}

// reportP99 reports the 99th percentile of the per-operation latencies.
func reportP99(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

func BenchmarkDelivery(b *testing.B) {
	s, hooks := benchStore(b)
	rng := rand.New(rand.NewPCG(1, 1))
	var lat []time.Duration
	for b.Loop() {
		t := time.Now()
		d, err := s.Delivery(b.Context(), hooks[rng.IntN(len(hooks))])
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Steps) == 0 {
			b.Fatal("delivery without steps")
		}
		lat = append(lat, time.Since(t))
	}
	reportP99(b, lat)
}

func BenchmarkEntriesByHook(b *testing.B) {
	s, hooks := benchStore(b)
	rng := rand.New(rand.NewPCG(2, 2))
	var lat []time.Duration
	for b.Loop() {
		t := time.Now()
		page, err := s.Entries(b.Context(), aggregator.EntryQuery{
			Filter: aggregator.EntryFilter{HookID: hooks[rng.IntN(len(hooks))]},
			Limit:  1000, Order: aggregator.OldestFirst,
		})
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Entries) == 0 {
			b.Fatal("no entries")
		}
		lat = append(lat, time.Since(t))
	}
	reportP99(b, lat)
}
