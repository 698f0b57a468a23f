// Package metrics exposes the agent's counters as Prometheus metrics: a
// Collector built from the snapshots of the pipeline, the tailers, the
// aggregator client, the redactor and the checkpoint store (the packages
// that count keep to cheap atomics and never import Prometheus), and the
// HTTP handler of /metrics, /healthz and /readyz.
//
// Every metric is named hooktail_agent_*; the per-source ones carry a
// "source" label. The Collector is registered on a registry the caller
// creates (never the default one).
//
// Lag. hooktail_agent_lag_bytes{source} is Σ(size − acknowledged offset)
// over the files the source follows now, where the acknowledged offset is
// the file's checkpoint, or where reading began when it has none.
// hooktail_agent_lag_seconds{source} is, over the same files, the longest
// time a file has been behind: for each file, the time since the earliest
// observation (a scrape) at which the file held bytes that are still
// unacknowledged. A file that is caught up at a scrape starts again from
// zero; its precision is the scrape interval.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/pipeline"
	"github.com/hooktail/hooktail/agent/positions"
	"github.com/hooktail/hooktail/agent/redact"
	"github.com/hooktail/hooktail/agent/ship"
)

// Pipeline is what the Collector reads from the pipeline;
// *pipeline.Pipeline is one.
type Pipeline interface {
	Stats() pipeline.Stats
	Files() []pipeline.FileStatus
}

// Shipper is what the Collector reads from the aggregator client;
// *ship.Client is one.
type Shipper interface {
	Stats() ship.Stats
}

// Redactor is what the Collector reads from the redactor; *redact.Redactor
// is one.
type Redactor interface {
	Stats() redact.Stats
}

// Checkpoints is what the Collector reads from the checkpoint store;
// *positions.Store is one.
type Checkpoints interface {
	Stats() positions.Stats
}

// Options configure a Collector. Pipeline is required; the metrics of a nil
// Shipper, Redactor or Checkpoints are left out.
type Options struct {
	Pipeline    Pipeline
	Shipper     Shipper
	Redactor    Redactor
	Checkpoints Checkpoints
	// Now is the clock of the lag in seconds (default time.Now).
	Now func() time.Time
}

// Collector is a prometheus.Collector of the agent's metrics. Each Collect
// takes fresh snapshots; it is safe for concurrent use.
type Collector struct {
	opts Options

	mu sync.Mutex
	// behind tracks, per followed file, when its unacknowledged bytes were
	// first observed (see the package documentation).
	behind map[fileKey]*lagMarks
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector reading from opts.
func NewCollector(opts Options) *Collector {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Collector{opts: opts, behind: make(map[fileKey]*lagMarks)}
}

// Register registers a Collector for opts on reg, with the Go runtime and
// process collectors.
func Register(reg prometheus.Registerer, opts Options) (*Collector, error) {
	c := NewCollector(opts)
	for _, col := range []prometheus.Collector{
		c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("hooktail_agent_"+name, help, labels, nil)
}

// The metrics. Per-source ones have the label "source".
var (
	descSourceRunning  = desc("source_running", "1 while the source is tailing, 0 once removed (or while it drains before a restart).", "source")
	descSourceDraining = desc("source_draining", "Stopped runs of the source (removed or changed by a reload) whose records are not all acknowledged yet.", "source")
	descFilesWatched   = desc("files_watched", "Files the source follows now, rotated ones being drained included.", "source")
	descReadBytes      = desc("read_bytes_total", "Bytes read from the source's files.", "source")
	descRecordsRead    = desc("records_read_total", "Records framed from the source's files.", "source")
	descRecordsShipped = desc("records_shipped_total", "Records acknowledged by the aggregator.", "source")
	descDuplicates     = desc("records_duplicate_total", "Records acknowledged that the aggregator already had (re-sent after a lost acknowledgement or a restart).", "source")
	descRecordsCut     = desc("records_cut_total", "Records cut at max_record_bytes.", "source")
	descParseErrors    = desc("parse_errors_total", "Records shipped flagged parse_error (stored raw).", "source")
	descParseFailures  = desc("parse_failures_total", "Batches the parser failed on as a whole; their records went out raw.", "source")
	descSentRaw        = desc("records_sent_raw_total", "Records sent again raw after the aggregator rejected their parsed form.", "source")
	descDropped        = desc("records_dropped_total", "Records left out because the aggregator rejected them even raw.", "source")
	descRotations      = desc("rotations_total", "Rotations seen: files renamed away from a watched name.", "source")
	descTruncations    = desc("truncations_total", "Files truncated or rewritten in place (copytruncate).", "source")
	descFilesDrained   = desc("files_drained_total", "Rotated or deleted files read to the end and closed.", "source")
	descReadErrors     = desc("read_errors_total", "Failures to stat, open or read a file (retried).", "source")
	descLagBytes       = desc("lag_bytes", "Bytes of the followed files not yet acknowledged by the aggregator.", "source")
	descLagSeconds     = desc("lag_seconds", "Longest time a followed file has held unacknowledged bytes, as seen by the scrapes.", "source")

	descPipelineRunning = desc("pipeline_running", "1 while the pipeline runs.")
	descBatchesShipped  = desc("batches_shipped_total", "Batches acknowledged by the aggregator.")
	descBatchesInFlight = desc("batches_in_flight", "Batches being pushed now.")
	descLastAck         = desc("last_ack_timestamp_seconds", "When the aggregator last acknowledged a batch (Unix time; absent before the first).")
	descPruned          = desc("checkpoints_pruned_total", "Checkpoints forgotten because no tailer followed their file for the grace period.")

	descPushAttempts   = desc("push_attempts_total", "Push calls made to the aggregator.")
	descPushRetries    = desc("push_retries_total", "Push calls made after the first of their batch.")
	descBatchesRetried = desc("batches_retried_total", "Batches that needed more than one push.")
	descFailovers      = desc("push_failovers_total", "Moves to another aggregator address after a failed push.")
	descPushErrors     = desc("push_errors_total", "Failed push calls, by kind.", "kind")
	descChecks         = desc("health_checks_total", "Health checks of the aggregator (empty pushes for /readyz).")
	descReachable      = desc("aggregator_reachable", "1 when the last push or health check was acknowledged, 0 when it failed (absent before the first).")

	descRedactions = desc("redactions_total", "Secrets masked before shipping, by rule.", "rule")

	descCheckpoints       = desc("checkpoints", "Checkpoints held (one per file identity).")
	descCheckpointWrites  = desc("checkpoint_writes_total", "Checkpoint files written.")
	descCheckpointFailure = desc("checkpoint_write_failures_total", "Failed checkpoint writes (retried at the next flush).")
)

var allDescs = []*prometheus.Desc{
	descSourceRunning, descSourceDraining, descFilesWatched, descReadBytes, descRecordsRead, descRecordsShipped,
	descDuplicates, descRecordsCut, descParseErrors, descParseFailures, descSentRaw, descDropped,
	descRotations, descTruncations, descFilesDrained, descReadErrors, descLagBytes, descLagSeconds,
	descPipelineRunning, descBatchesShipped, descBatchesInFlight, descLastAck, descPruned,
	descPushAttempts, descPushRetries, descBatchesRetried, descFailovers, descPushErrors, descChecks, descReachable,
	descRedactions,
	descCheckpoints, descCheckpointWrites, descCheckpointFailure,
}

// Describe sends the descriptions of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect takes fresh snapshots and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	ps := c.opts.Pipeline.Stats()
	lagBytes, lagSeconds := c.lag(c.opts.Pipeline.Files())
	for _, s := range ps.Sources {
		gauge(descSourceRunning, boolValue(s.Running), s.Name)
		gauge(descSourceDraining, float64(s.Draining), s.Name)
		gauge(descFilesWatched, float64(s.Tail.FilesOpen), s.Name)
		counter(descReadBytes, s.Tail.Bytes, s.Name)
		counter(descRecordsRead, s.Tail.Records, s.Name)
		counter(descRecordsShipped, s.Entries, s.Name)
		counter(descDuplicates, s.Duplicates, s.Name)
		counter(descRecordsCut, s.Tail.TruncatedRecords, s.Name)
		counter(descParseErrors, s.ParseErrors, s.Name)
		counter(descParseFailures, s.ParseFailures, s.Name)
		counter(descSentRaw, s.SentRaw, s.Name)
		counter(descDropped, s.Dropped, s.Name)
		counter(descRotations, s.Tail.Rotations, s.Name)
		counter(descTruncations, s.Tail.Truncations, s.Name)
		counter(descFilesDrained, s.Tail.FilesDrained, s.Name)
		counter(descReadErrors, s.Tail.Errors, s.Name)
		gauge(descLagBytes, float64(lagBytes[s.Name]), s.Name)
		gauge(descLagSeconds, lagSeconds[s.Name].Seconds(), s.Name)
	}
	gauge(descPipelineRunning, boolValue(ps.Running))
	counter(descBatchesShipped, ps.Batches)
	gauge(descBatchesInFlight, float64(ps.BatchesInFlight))
	if !ps.LastAck.IsZero() {
		gauge(descLastAck, float64(ps.LastAck.UnixNano())/1e9)
	}
	counter(descPruned, ps.CheckpointsPruned)

	if c.opts.Shipper != nil {
		ss := c.opts.Shipper.Stats()
		counter(descPushAttempts, ss.Attempts)
		counter(descPushRetries, ss.Retries)
		counter(descBatchesRetried, ss.RetriedBatches)
		counter(descFailovers, ss.Failovers)
		for _, k := range ship.ErrorKinds() {
			counter(descPushErrors, ss.Errors[k], k.String())
		}
		counter(descChecks, ss.Checks)
		if lc := ss.LastContact; lc != nil {
			gauge(descReachable, boolValue(lc.Err == nil))
		}
	}
	if c.opts.Redactor != nil {
		rs := c.opts.Redactor.Stats()
		for _, r := range redact.Rules() {
			counter(descRedactions, rs.Redactions[r], r.String())
		}
	}
	if c.opts.Checkpoints != nil {
		cs := c.opts.Checkpoints.Stats()
		gauge(descCheckpoints, float64(cs.Entries))
		counter(descCheckpointWrites, cs.Writes)
		counter(descCheckpointFailure, cs.WriteErrors)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// fileKey identifies a followed file for the lag: its identity, or its path
// while it has none.
type fileKey struct {
	source string
	id     agent.FileID
	path   string
}

// maxMarks bounds the observations kept per file. Past it the two oldest
// merge, keeping the older time: the lag may then read high, never low.
const maxMarks = 64

// lagMarks are the observations of one file while it is behind: at each
// time, the size it had; sizes ascending.
type lagMarks []lagMark

type lagMark struct {
	at   time.Time
	size int64
}

// lag returns, per source, the bytes not yet acknowledged and the longest
// time a file has been behind, and updates the observations.
func (c *Collector) lag(files []pipeline.FileStatus) (map[string]int64, map[string]time.Duration) {
	now := c.opts.Now()
	bytes := make(map[string]int64)
	seconds := make(map[string]time.Duration)
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := make(map[fileKey]bool, len(files))
	for i := range files {
		f := &files[i]
		key := fileKey{source: f.Source, id: f.ID}
		if !f.Identified {
			key = fileKey{source: f.Source, path: f.Path}
		}
		seen[key] = true
		behind := max(f.Size-f.Acked, 0)
		bytes[f.Source] += behind
		if behind == 0 {
			delete(c.behind, key)
			continue
		}
		m := c.behind[key]
		if m == nil {
			m = new(lagMarks)
			c.behind[key] = m
		}
		if d := m.observe(now, f.Size, f.Acked); d > seconds[f.Source] {
			seconds[f.Source] = d
		}
	}
	for key := range c.behind {
		if !seen[key] {
			delete(c.behind, key)
		}
	}
	return bytes, seconds
}

// observe records that the file had size bytes, acked of them acknowledged,
// at now, and returns how long it has been behind (size > acked).
func (m *lagMarks) observe(now time.Time, size, acked int64) time.Duration {
	marks := *m
	// Marks whose bytes are all acknowledged are done with.
	i := 0
	for i < len(marks) && marks[i].size <= acked {
		i++
	}
	marks = append(marks[:0], marks[i:]...)
	if len(marks) == 0 || marks[len(marks)-1].size < size {
		marks = append(marks, lagMark{at: now, size: size})
	}
	if len(marks) > maxMarks {
		marks[1].at = marks[0].at
		marks = append(marks[:0], marks[1:]...)
	}
	*m = marks
	return now.Sub(marks[0].at)
}
