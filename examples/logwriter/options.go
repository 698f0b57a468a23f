package logwriter

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Defaults applied by Run to zero Options fields.
const (
	DefaultFile        = "webhook-server.log"
	DefaultConcurrency = 4
	DefaultFailureRate = 0.25
	DefaultBackups     = 20
)

// Options configure Run. The zero value of every field but Dir is usable.
type Options struct {
	// Dir is the log directory; it is created if missing. Required.
	Dir string
	// File is the base file name (default "webhook-server.log"). It is also
	// the logger name of the records written before the first webhook
	// handler line, as upstream's logger is renamed to "GithubWebhook" then.
	File string
	// Seed makes the output deterministic: the same Seed, Clock and Options
	// give byte-identical files and manifest.
	Seed int64
	// Deliveries is how many webhook deliveries to write; 0 means until ctx
	// is cancelled.
	Deliveries int
	// Concurrency is how many deliveries are in flight (interleaved) at
	// once (default 4).
	Concurrency int
	// FailureRate is the share of deliveries that fail (default 0.25; a
	// negative value means none fail).
	FailureRate float64
	// Legacy writes the 4.0.x format: naive timestamps in Location, STEP and
	// SUCCESS levels, `[task_id=…] [task_type=…] [task_status=…]` markers
	// and no summary line.
	Legacy bool
	// Location is the zone of Legacy's naive timestamps (default UTC).
	// Non-legacy output is always UTC with a "+00:00" offset.
	Location *time.Location
	// MaxBytes makes the file rotate like Python's RotatingFileHandler:
	// before a record that would bring the file to MaxBytes or more (the
	// size in bytes plus the record's length in characters, as Python
	// compares) and unless the file is empty. 0 disables rotation.
	MaxBytes int64
	// Backups is how many rotated files (.1 … .N) are kept (default 20).
	Backups int
	// Rotation is how the file is rotated when MaxBytes says so:
	// RotateRename (the default, Python's RotatingFileHandler) or
	// RotateCopyTruncate (logrotate's copytruncate). Either way a record
	// of generation G is, after R rotations, in File.(R-G) at the offset it
	// was written at (see ManifestRecord).
	Rotation RotationMethod
	// JSONL also writes upstream's webhooks_YYYY-MM-DD.json in Dir, named
	// by the UTC date of each line (see JSONLMode). Not with Legacy: 4.0.x
	// wrote none.
	JSONL JSONLMode
	// Rate is records per second (real time); 0 writes as fast as possible.
	Rate int
	// BatchBytes, when > 0 and Rate is 0, gathers whole records into write
	// calls of up to BatchBytes bytes. Otherwise every record is written
	// with exactly one write call, as Python's stream.write+flush does.
	// Either way no write call ever holds part of a record.
	BatchBytes int
	// Clock anchors simulated time: it is read once at the start. When
	// Rate > 0 it is read again for each record, which is stamped with it
	// (as Python stamps record.created), so live logs carry wall-clock
	// times; summary durations still come from the simulated script.
	// Timestamps always strictly increase (bumped by 1µs on ties).
	// Default time.Now.
	Clock func() time.Time
	// Manifest, when set, receives one JSON line per record written and one
	// per finished delivery (see the package documentation).
	Manifest io.Writer
	// OnRecord and OnDelivery, when set, receive the same lines as values,
	// in the same order and at the same moments (once the records they
	// describe are in the file): cheaper than decoding Manifest back. They
	// are called from Run's goroutine.
	OnRecord   func(ManifestRecord)
	OnDelivery func(ManifestDelivery)
}

// Stats count what Run wrote.
type Stats struct {
	// Records written (records dropped by the DuplicateFilter excluded).
	Records int64
	// Duplicates dropped by the simulated DuplicateFilter.
	Duplicates int64
	// Deliveries finished, and how many of them failed.
	Deliveries int64
	Failed     int64
	// Rotations performed, by Options.Rotation's method.
	Rotations int64
	// Bytes written to log files, and the number of write calls.
	Bytes  int64
	Writes int64
	// JSONLEntries and JSONLSummaries count the log_entry and
	// webhook_summary lines written, JSONLFiles the JSONL files opened.
	JSONLEntries, JSONLSummaries, JSONLFiles int64
}

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("logwriter: Options.Dir is required")
	}
	if o.File == "" {
		o.File = DefaultFile
	}
	if o.Deliveries < 0 || o.Concurrency < 0 || o.MaxBytes < 0 || o.Rate < 0 || o.BatchBytes < 0 || o.Backups < 0 {
		return o, fmt.Errorf("logwriter: negative option in %+v", o)
	}
	if o.JSONL > JSONLLegacy {
		return o, fmt.Errorf("logwriter: unknown JSONL mode %v", o.JSONL)
	}
	if o.JSONL != JSONLOff && o.Legacy {
		return o, errors.New("logwriter: 4.0.x (Legacy) wrote no JSONL file")
	}
	if o.Rotation > RotateCopyTruncate {
		return o, fmt.Errorf("logwriter: unknown rotation method %v", o.Rotation)
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	switch {
	case o.FailureRate == 0:
		o.FailureRate = DefaultFailureRate
	case o.FailureRate < 0:
		o.FailureRate = 0
	case o.FailureRate > 1:
		return o, fmt.Errorf("logwriter: failure rate %v above 1", o.FailureRate)
	}
	if o.Backups == 0 {
		o.Backups = DefaultBackups
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o, nil
}
