package sqlite_test

import (
	"context"
	"errors"
	"fmt"
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

// readFixture is a database filled through the bulk ingest path for the
// read benchmarks.
type readFixture struct {
	once  sync.Once
	path  string
	hooks []string
	err   error
}

// The read fixtures: 1M entries (20k with -short), built once per test
// binary in a directory TestMain removes; with HOOKTAIL_BENCH_10M=1 also
// 10M entries, built once into a file under os.TempDir() named for the
// generator version and kept for later runs (delete it to rebuild).
var (
	fixtureDir string
	fixture1M  readFixture
	fixture10M readFixture
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// benchFixture is one read fixture open for a benchmark.
type benchFixture struct {
	name  string
	s     *sqlite.Store
	hooks []string
}

// benchStores returns the read fixtures this run measures.
func benchStores(b *testing.B) []benchFixture {
	b.Helper()
	n, name := 1_000_000, "1M"
	if testing.Short() {
		n, name = 20_000, "20k"
	}
	fixture1M.once.Do(func() {
		fixtureDir, fixture1M.err = os.MkdirTemp("", "hooktail-bench-")
		if fixture1M.err == nil {
			fixture1M.path = filepath.Join(fixtureDir, "bench.db")
			fixture1M.hooks, fixture1M.err = buildFixture(b, fixture1M.path, n)
		}
	})
	if fixture1M.err != nil {
		b.Fatal(fixture1M.err)
	}
	out := []benchFixture{{name, openStore(b, fixture1M.path, sqlite.Options{DeliveryTimeout: 15 * time.Minute}), fixture1M.hooks}}
	if os.Getenv("HOOKTAIL_BENCH_10M") != "1" {
		return out
	}
	fixture10M.once.Do(func() {
		fixture10M.path = filepath.Join(os.TempDir(), fmt.Sprintf("hooktail-bench-gen%d-10M.db", genVersion))
		if _, err := os.Stat(fixture10M.path); err == nil {
			fixture10M.hooks, fixture10M.err = fixtureHooks(fixture10M.path)
			return
		}
		tmp := fixture10M.path + ".building"
		os.Remove(tmp)
		if fixture10M.hooks, fixture10M.err = buildFixture(b, tmp, 10_000_000); fixture10M.err == nil {
			fixture10M.err = os.Rename(tmp, fixture10M.path)
		}
	})
	if fixture10M.err != nil {
		b.Fatal(fixture10M.err)
	}
	return append(out, benchFixture{"10M", openStore(b, fixture10M.path, sqlite.Options{DeliveryTimeout: 15 * time.Minute}), fixture10M.hooks})
}

// buildFixture fills a new database at path with n entries of the
// generator, in batches of 10k through Ingest, and returns the hook_ids.
func buildFixture(b *testing.B, path string, n int) ([]string, error) {
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	g := newGen("webhook-server", start)
	began := time.Now()
	for stored := 0; stored < n; {
		batch := g.entries(10_000)
		if _, err := s.Ingest(context.Background(), &aggregator.Batch{Entries: batch}); err != nil {
			return nil, err
		}
		stored += len(batch) - countSummaries(batch)
	}
	st, err := s.Stats(context.Background())
	if err != nil {
		return nil, err
	}
	b.Logf("fixture %s: %d entries, %d deliveries, %d MiB, built in %s (%.0f entries/s)",
		filepath.Base(path), st.Entries, st.Deliveries, st.SizeBytes>>20, time.Since(began).Round(time.Millisecond),
		float64(st.Entries)/time.Since(began).Seconds())
	return fixtureHooksOf(g, g.n), nil
}

// fixtureHooks returns the hook_ids of a fixture built earlier: the
// generator's first Stats.Deliveries ones.
func fixtureHooks(path string) ([]string, error) {
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Logger: slog.New(slog.DiscardHandler), RetentionInterval: -1})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	st, err := s.Stats(context.Background())
	if err != nil {
		return nil, err
	}
	return fixtureHooksOf(newGen("webhook-server", start), int(st.Deliveries)), nil
}

func fixtureHooksOf(g *gen, n int) []string {
	hooks := make([]string, n)
	for i := range hooks {
		hooks[i] = g.hookID(i + 1)
	}
	return hooks
}

// reportLatency reports the median and the 99th percentile of the
// per-operation latencies.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// timed runs op in a b.Loop and reports its latencies.
func timed(b *testing.B, op func(i int) error) {
	var lat []time.Duration
	i := 0
	for b.Loop() {
		t := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
		i++
	}
	reportLatency(b, lat)
}

func BenchmarkDelivery(b *testing.B) {
	for _, fx := range benchStores(b) {
		b.Run(fx.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			timed(b, func(int) error {
				d, err := fx.s.Delivery(b.Context(), fx.hooks[rng.IntN(len(fx.hooks))])
				if err == nil && len(d.Steps) == 0 {
					err = errors.New("delivery without steps")
				}
				return err
			})
		})
	}
}

func BenchmarkEntriesByHook(b *testing.B) {
	for _, fx := range benchStores(b) {
		b.Run(fx.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(2, 2))
			timed(b, func(int) error {
				page, err := fx.s.Entries(b.Context(), aggregator.EntryQuery{
					Filter: aggregator.EntryFilter{HookID: fx.hooks[rng.IntN(len(fx.hooks))]},
					Limit:  1000, Order: aggregator.OldestFirst,
				})
				if err == nil && len(page.Entries) == 0 {
					err = errors.New("no entries")
				}
				return err
			})
		})
	}
}

// BenchmarkEntriesStepWindow reads the entries of one attempt within a
// step's time window, as step-logs does.
func BenchmarkEntriesStepWindow(b *testing.B) {
	for _, fx := range benchStores(b) {
		b.Run(fx.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 3))
			filters := make([]aggregator.EntryFilter, 512)
			for i := range filters {
				d, err := fx.s.Delivery(b.Context(), fx.hooks[rng.IntN(len(fx.hooks))])
				if err != nil {
					b.Fatal(err)
				}
				span := d.LastEntryAt.Sub(d.FirstEntryAt)
				filters[i] = aggregator.EntryFilter{HookID: d.HookID, Attempt: d.Attempt,
					Since: d.FirstEntryAt.Add(span / 4), Until: d.FirstEntryAt.Add(span * 3 / 4)}
			}
			timed(b, func(i int) error {
				page, err := fx.s.Entries(b.Context(), aggregator.EntryQuery{
					Filter: filters[i%len(filters)], Limit: 1000, Order: aggregator.OldestFirst})
				if err == nil && len(page.Entries) == 0 {
					err = errors.New("no entries")
				}
				return err
			})
		})
	}
}

func BenchmarkDeliveries(b *testing.B) {
	yes := true
	cases := []struct {
		name   string
		filter aggregator.DeliveryFilter
		offset int
	}{
		{"first page", aggregator.DeliveryFilter{}, 0},
		{"offset 10000", aggregator.DeliveryFilter{}, 10_000},
		{"repo+errors", aggregator.DeliveryFilter{Repository: "docsig", HasErrors: &yes}, 0},
		{"pr", aggregator.DeliveryFilter{PRNumber: 105}, 0},
		{"search", aggregator.DeliveryFilter{Search: "RuntimeError"}, 0},
		{"search+repo", aggregator.DeliveryFilter{Search: "couldn", Repository: "github-webhook-server"}, 0},
	}
	for _, fx := range benchStores(b) {
		for _, c := range cases {
			b.Run(fx.name+"/"+c.name, func(b *testing.B) {
				timed(b, func(int) error {
					page, err := fx.s.Deliveries(b.Context(), aggregator.DeliveryQuery{Filter: c.filter, Limit: 50, Offset: c.offset})
					if err == nil && len(page.Deliveries) == 0 {
						err = errors.New("no deliveries")
					}
					return err
				})
			})
		}
	}
}

// BenchmarkEntriesSearch reads a /logs page (50, newest first) with its
// exact total: selective searches (under 1% of the entries) with and
// without other filters, and broad filters whose count is the cost.
func BenchmarkEntriesSearch(b *testing.B) {
	cases := []struct {
		name   string
		filter aggregator.EntryFilter
	}{
		// 0.25% of the entries each.
		{"search", aggregator.EntryFilter{Search: "couldn"}},
		{"search+level+repo", aggregator.EntryFilter{Search: "RuntimeError", Levels: []string{"ERROR"}, Repository: "github-webhook-server"}},
		{"phrase+service", aggregator.EntryFilter{Search: `"RuntimeError: Failed"`, Services: []string{"webhook-server"}}},
		// Selective, but "remote*" expands to words of 80% of the entries.
		{"common prefix", aggregator.EntryFilter{Search: "couldn remote"}},
		{"broad level", aggregator.EntryFilter{Levels: []string{"DEBUG"}}},
	}
	for _, fx := range benchStores(b) {
		for _, c := range cases {
			b.Run(fx.name+"/"+c.name, func(b *testing.B) {
				timed(b, func(int) error {
					page, err := fx.s.Entries(b.Context(), aggregator.EntryQuery{Filter: c.filter, Limit: 50})
					if err == nil && len(page.Entries) == 0 {
						err = errors.New("no entries")
					}
					return err
				})
			})
		}
	}
}
