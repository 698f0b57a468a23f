package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/hooktail/hooktail/examples/logwriter"
	hooktailv1 "github.com/hooktail/hooktail/proto/hooktail/v1"
)

// TestKillNineLosesNothing writes rotating logs while the agent is killed
// with SIGKILL twice and the aggregator once, each restarted, and checks
// that every record written is stored exactly once: checkpoints advance
// only on acknowledgement, and the identity makes the re-sent records
// duplicates. TestChaos does the same at 200k records, with copytruncate
// and an outage; this one is the quick proof of the mechanism.
func TestKillNineLosesNothing(t *testing.T) {
	needBinaries(t)
	logs := filepath.Join(t.TempDir(), "logs")
	c := startCluster(t, fmt.Sprintf(`
source "live" {
  paths = ["%s/webhook-server.log*"]
}
`, logs))

	var manifest bytes.Buffer
	type result struct {
		stats logwriter.Stats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		st, err := logwriter.Run(t.Context(), logwriter.Options{
			Dir: logs, Seed: 11, Deliveries: 600, Concurrency: 6, FailureRate: 0.3,
			MaxBytes: 64 << 10, Backups: 10000, Rate: 3000, Manifest: &manifest,
		})
		done <- result{st, err}
	}()

	// Kill at points of progress, not at times: each happens while records
	// are still being written and shipped.
	c.waitTotal(t, 1500, 60*time.Second)
	c.agent.kill(t)
	c.startAgent(t)
	c.waitTotal(t, 4000, 60*time.Second)
	c.agg.kill(t)
	c.startAggregator(t)
	c.waitTotal(t, 6500, 60*time.Second)
	c.agent.kill(t)
	c.startAgent(t)

	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	m := readManifest(t, manifest.Bytes())
	t.Logf("written: %d records, %d rotations", len(m.records), res.stats.Rotations)
	eventually(t, 120*time.Second, fmt.Sprintf("%d entries stored", len(m.records)), func() error {
		n, err := c.total(t.Context())
		if err != nil {
			return err
		}
		if n != len(m.records) {
			return fmt.Errorf("%d stored", n)
		}
		return nil
	})
	got := c.allEntries(t)
	if len(got) != len(m.records) {
		t.Fatalf("listed %d entries, want %d", len(got), len(m.records))
	}
	checkRecords(t, indexEntries(t, got), "live", m.records, func(r logwriter.ManifestRecord) string { return r.Timestamp })
	checkDeliveries(t, c, m.deliveries)
}

// gatedIngest is an ingest server that acknowledges a push only once its
// gate is open, and remembers every entry it acknowledged, by identity.
type gatedIngest struct {
	hooktailv1.UnimplementedIngestServer

	gate chan struct{} // closed: pushes are answered

	mu      sync.Mutex
	acked   map[ingestKey]int // acknowledgements per entry
	pushes  int               // pushes acknowledged
	waiting int               // pushes held at the gate now
}

// ingestKey is an entry's identity (SPEC §4).
type ingestKey struct {
	source      string
	fingerprint uint64
	offset      int64
}

func (g *gatedIngest) Push(ctx context.Context, req *hooktailv1.PushRequest) (*hooktailv1.PushResponse, error) {
	g.mu.Lock()
	g.waiting++
	g.mu.Unlock()
	select {
	case <-g.gate:
	case <-ctx.Done():
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
		return nil, ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting--
	g.pushes++
	for _, e := range req.GetEntries() {
		g.acked[ingestKey{e.GetSource(), e.GetFingerprint(), e.GetOffset()}]++
	}
	return &hooktailv1.PushResponse{BatchId: req.GetBatchId(), Stored: uint32(len(req.GetEntries()))}, nil
}

func (g *gatedIngest) snapshot() (waiting, pushes int, acked map[ingestKey]int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting, g.pushes, maps.Clone(g.acked)
}

// TestGracefulShutdown: on SIGTERM the agent stops reading, pushes the
// batches it has already parsed — here held by the aggregator until after
// the signal — writes the checkpoints of what was acknowledged and exits 0
// within its shutdown deadline. Restarted, it sends none of it again: only
// the records it had not shipped, and new ones.
func TestGracefulShutdown(t *testing.T) {
	needBinaries(t)
	ingest := &gatedIngest{gate: make(chan struct{}), acked: map[ingestKey]int{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(256 << 20))
	hooktailv1.RegisterIngestServer(srv, ingest)
	go srv.Serve(lis)
	defer srv.Stop()

	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	dataDir := filepath.Join(dir, "agent")
	agentCfg := filepath.Join(dir, "agent.hcl")
	writeFile(t, agentCfg, fmt.Sprintf(`
data_dir = %q
aggregator {
  address           = %q
  batch_max_entries = 500
  batch_max_wait    = "50ms"
}
source "live" {
  paths = [%q]
}
`, dataDir, lis.Addr().String(), filepath.Join(logs, "webhook-server.log")))

	var records []logwriter.ManifestRecord
	write := func(seed int64, deliveries int) {
		t.Helper()
		if _, err := logwriter.Run(t.Context(), logwriter.Options{
			Dir: logs, Seed: seed, Deliveries: deliveries, BatchBytes: 64 << 10,
			OnRecord: func(r logwriter.ManifestRecord) { records = append(records, r) },
		}); err != nil {
			t.Fatal(err)
		}
	}
	// More records than the agent's pipeline holds (3 pushes of 500 in
	// flight, 2 batches queued, 4 chunks read): some are left unread at
	// the signal.
	write(31, 600)

	// Phase 1: the aggregator holds every push until the agent has been
	// told to stop.
	agent := startProc(t, dir, "hooktail-agent", "-config", agentCfg)
	eventually(t, 60*time.Second, "pushes held at the gate", func() error {
		if w, _, _ := ingest.snapshot(); w == 0 {
			return errors.New("no push yet")
		}
		return nil
	})
	if err := agent.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	heldAtSignal, _, _ := ingest.snapshot()
	close(ingest.gate)
	select {
	case <-agent.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not exit within 20s of SIGTERM (its shutdown deadline is 10s)")
	}
	if agent.err != nil {
		t.Fatalf("agent exit after SIGTERM: %v", agent.err)
	}
	_, pushes1, acked1 := ingest.snapshot()
	if pushes1 < heldAtSignal {
		t.Fatalf("%d pushes acknowledged, %d were held when SIGTERM came: the held batches were dropped", pushes1, heldAtSignal)
	}
	if len(acked1) == 0 || len(acked1) >= len(records) {
		t.Fatalf("%d of %d records acknowledged before the agent exited: the test wants some, not all", len(acked1), len(records))
	}

	// The checkpoint is the end of the last record acknowledged.
	end := func() map[int64]int64 {
		m := map[int64]int64{}
		for _, r := range records {
			m[r.Offset] = r.Offset + r.Length
		}
		return m
	}
	var last int64
	ends := end()
	for k := range acked1 {
		last = max(last, ends[k.offset])
	}
	if got := checkpointOf(t, filepath.Join(dataDir, "checkpoints.json"), "live"); got != last {
		t.Errorf("checkpoint after SIGTERM at %d, want %d (the end of the last acknowledged record)", got, last)
	}

	// Phase 2: restarted, with more records written meanwhile, the agent
	// sends every record not yet acknowledged, and nothing else.
	write(32, 40)
	agent = startProc(t, dir, "hooktail-agent", "-config", agentCfg)
	eventually(t, 60*time.Second, "every record acknowledged", func() error {
		if _, _, acked := ingest.snapshot(); len(acked) < len(records) {
			return fmt.Errorf("%d of %d", len(acked), len(records))
		}
		return nil
	})
	agent.stop(t)
	_, pushes2, acked := ingest.snapshot()
	resent, unknown := 0, 0
	ends = end()
	for k, n := range acked {
		if n > 1 {
			resent += n - 1
		}
		if _, ok := ends[k.offset]; !ok {
			unknown++
		}
	}
	t.Logf("%d records: %d acknowledged in %d pushes between SIGTERM and the exit (%d held at the signal), the rest in %d pushes after the restart; %d sent twice",
		len(records), len(acked1), pushes1, heldAtSignal, pushes2-pushes1, resent)
	if resent != 0 || unknown != 0 || len(acked) != len(records) {
		t.Errorf("%d entries acknowledged for %d records: %d sent again after the restart, %d at offsets never written", len(acked), len(records), resent, unknown)
	}
}

// checkpointOf reads the agent's checkpoint file and returns the offset of
// the source's one file.
func checkpointOf(t *testing.T, path, source string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read checkpoints: %v", err)
	}
	var doc struct {
		Files []struct {
			Source string `json:"source"`
			Offset int64  `json:"offset"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("checkpoints %s: %v", b, err)
	}
	var offsets []int64
	for _, f := range doc.Files {
		if f.Source == source {
			offsets = append(offsets, f.Offset)
		}
	}
	if len(offsets) != 1 {
		t.Fatalf("checkpoints of source %q: %v, want one file: %s", source, offsets, b)
	}
	return offsets[0]
}
