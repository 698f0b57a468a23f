package e2e_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hooktail/hooktail/examples/logwriter"
)

// TestKillNineLosesNothing writes rotating logs while the agent is killed
// with SIGKILL twice and the aggregator once, each restarted, and checks
// that every record written is stored exactly once: checkpoints advance
// only on acknowledgement, and the identity makes the re-sent records
// duplicates. (The long chaos test with outages is a later milestone; this
// one proves the mechanism on every `make test`.)
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
