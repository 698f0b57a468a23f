// Package tail discovers a source's log files, follows each one across
// rename rotation and copytruncate, and frames its bytes into records
// (SPEC §6).
//
// Discovery globs Options.Paths minus Options.Exclude on start, on every
// fsnotify event of a watched directory (events are only hints) and every
// RescanInterval. Each file is followed by one tailer per inode, through its
// open descriptor, so a renamed file keeps being read under its new name (or
// under no watched name at all) until it is drained; a file found again
// under another matched name is recognised by its inode and never read
// twice.
//
// A file's identity is agent.FileID: device, inode and a fingerprint of its
// first line (at most 256 bytes). A file whose first line is still
// incomplete and shorter than that is not read until it is complete. Reading
// resumes at Options.Positions' checkpoint for the FileID, else at 0, else,
// with StartAtEnd, for files present at startup, at the end. Every piece
// read is checked against the fingerprint and the file's size before it is
// framed, and a file that is smaller than what was read, or of the same size
// but modified, is checked too: content replaced under the same inode
// (copytruncate, however much is written after it; an in-place rewrite) is
// read from 0 under its new FileID and counted in Stats.Truncations. The
// piece that found it is dropped, and so is an incomplete last line read of
// the old content: with copytruncate the copy holds both, whole.
//
// Tailer.Stats and Tailer.Files report counters and each followed file's
// size and offsets, for metrics.
//
// Records are sent on the output channel in chunks, one []agent.Record per
// read, in file order per file. Sending blocks: a slow consumer holds the
// tailers back and memory stays bounded by one chunk and one partial line
// per file, plus one read buffer per file being read at the moment (a
// tailer blocked in a send has handed its buffer back). Checkpoints are not this package's concern: the consumer commits
// Record.End once the aggregator acknowledges.
package tail

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooktail/hooktail/agent"
)

// Defaults for zero Options fields.
const (
	DefaultRescanInterval = 10 * time.Second
	DefaultIdleFlush      = 250 * time.Millisecond
	DefaultDrainIdle      = 5 * time.Second
	DefaultPollInterval   = 250 * time.Millisecond
	DefaultMaxRecordBytes = 1 << 20
	// ReadBufferSize is the size of one read, and so the most bytes of one
	// line that IsStart may see when the line is longer.
	ReadBufferSize = 256 << 10
)

// Positions is where tailing resumes: the acknowledged offset of a file.
// *positions.Store implements it. It must be safe for concurrent use.
type Positions interface {
	Get(id agent.FileID) (offset int64, ok bool)
}

// Options configures one source's tailing. Zero durations take the defaults.
type Options struct {
	// Source names the source; it is copied into every record.
	Source string
	// Paths and Exclude are absolute filepath.Match globs. A file is tailed
	// when it matches a Paths glob and no Exclude glob.
	Paths, Exclude []string
	// StartAtEnd starts a file found by the first scan and never seen
	// before (no checkpoint) at its end instead of its beginning. Files that
	// appear later always start at the beginning.
	StartAtEnd bool
	// IsStart reports whether a line (without its '\n') starts a record.
	// Nil: every line does. A line longer than ReadBufferSize is judged by
	// its first ReadBufferSize bytes. It is called from several goroutines.
	IsStart func(line []byte) bool
	// StartRuleFor, if set, replaces IsStart: it gives the start rule of a
	// file from the path the file is found under (nil: every line starts a
	// record), so that one source may tail multi-line text logs and JSON
	// lines side by side.
	StartRuleFor func(path string) func(line []byte) bool
	// MaxRecordBytes caps Record.Data; longer records are cut (at a UTF-8
	// rune boundary, at most 3 bytes earlier) and flagged Truncated, the
	// rest of their bytes skipped. Zero means DefaultMaxRecordBytes.
	MaxRecordBytes int
	// Positions gives the offset to resume each file at; nil: none.
	Positions Positions
	// RescanInterval is the period of the full rescan (default 10s).
	RescanInterval time.Duration
	// IdleFlush is how long a file must be quiet at EOF before its open
	// record is emitted (default 250ms). It bounds how late the last record
	// of a quiet file is shipped; a logger writes a whole record, traceback
	// included, in one write, so waiting longer only adds latency.
	IdleFlush time.Duration
	// DrainIdle is how long a file found under no matched path must be
	// quiet at EOF before it is given up and closed (default 5s).
	DrainIdle time.Duration
	// PollInterval is how often an open file is checked for new data when
	// no fsnotify event says so (default 250ms).
	PollInterval time.Duration
	// Logger receives the package's logs; nil means slog.Default().
	Logger *slog.Logger

	// noWatch disables fsnotify (tests under testing/synctest, where a
	// goroutine blocked in a syscall would stop the fake clock).
	noWatch bool
}

// Stats are cumulative counters of one Tailer.
type Stats struct {
	// FilesOpen is the number of files currently followed.
	FilesOpen int64
	// Records and Bytes count records sent and bytes read.
	Records, Bytes int64
	// TruncatedRecords counts records cut at MaxRecordBytes.
	TruncatedRecords int64
	// Truncations counts files truncated or rewritten in place.
	Truncations int64
	// FilesDrained counts files given up after rotation or deletion.
	FilesDrained int64
	// Rotations counts renames of followed files: each time a scan finds a
	// file under another matched path than before, or finds it gone from
	// every matched path while it still has a name (renamed away, not
	// deleted). A rename is counted once, on the scan that observes it.
	Rotations int64
	// Errors counts failures to stat, open or read a file or to read a
	// directory: once per path and distinct error, while it persists (a
	// file failing the same way on every rescan counts once, and is logged
	// at Warn once), and again after the path has recovered.
	Errors int64
	// Scans counts completed discovery scans.
	Scans int64
}

type counters struct {
	filesOpen, records, bytes, truncatedRecords, truncations, drained, rotations, errors, scans atomic.Int64
}

// FileState is a snapshot of one file the Tailer follows.
type FileState struct {
	// Path is where the file was last seen under a matched glob: its
	// current name while Reachable, else the last matched name it had.
	Path string
	// ID is the file's identity; zero until Identified.
	ID         agent.FileID
	Identified bool
	// Reachable is false once the file is under no matched path (renamed
	// away or deleted) and is being drained.
	Reachable bool
	// Size is the file's size at the last check; ReadOffset how far it has
	// been read; StartOffset where reading began (checkpoint, 0, or the
	// end for start_at = "end"). The lag of a file is Size - ReadOffset.
	// After a truncation, StartOffset is 0 and ReadOffset counts in the new
	// content.
	Size, ReadOffset, StartOffset int64
}

// Tailer tails one source. Create it with New, then call Run once.
type Tailer struct {
	opts   Options
	logger *slog.Logger
	bufs   sync.Pool // *[]byte of ReadBufferSize
	// bufsHeld counts the read buffers taken from bufs and not handed back:
	// the tailers reading at this moment, never those blocked in a send.
	bufsHeld atomic.Int64
	stats    counters

	// beforeRead, when set (by tests only), is called by a file's tailer
	// just before each read, after step's checks: a seam to change the file
	// in between.
	beforeRead func(ft *fileTailer)

	// live holds the running file tailers, for Files. It changes only when
	// a file is opened or closed.
	mu   sync.Mutex
	live map[*fileTailer]struct{}
}

// New validates opts and returns a Tailer. It does no I/O.
func New(opts Options) (*Tailer, error) {
	if len(opts.Paths) == 0 {
		return nil, errors.New("tail: no paths")
	}
	for _, list := range [][]string{opts.Paths, opts.Exclude} {
		for _, p := range list {
			if !filepath.IsAbs(p) {
				return nil, fmt.Errorf("tail: glob %q is not absolute", p)
			}
			if _, err := filepath.Match(p, ""); err != nil {
				return nil, fmt.Errorf("tail: glob %q: %w", p, err)
			}
		}
	}
	if opts.MaxRecordBytes < 0 {
		return nil, fmt.Errorf("tail: negative MaxRecordBytes %d", opts.MaxRecordBytes)
	}
	setDefault(&opts.RescanInterval, DefaultRescanInterval)
	setDefault(&opts.IdleFlush, DefaultIdleFlush)
	setDefault(&opts.DrainIdle, DefaultDrainIdle)
	setDefault(&opts.PollInterval, DefaultPollInterval)
	if opts.MaxRecordBytes == 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	t := &Tailer{
		opts:   opts,
		logger: logger.With("component", "tail", "source", opts.Source),
		live:   make(map[*fileTailer]struct{}),
	}
	t.bufs.New = func() any {
		b := make([]byte, ReadBufferSize)
		return &b
	}
	return t, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Run is New followed by Tailer.Run.
func Run(ctx context.Context, opts Options, out chan<- []agent.Record) error {
	t, err := New(opts)
	if err != nil {
		return err
	}
	return t.Run(ctx, out)
}

// Stats returns a snapshot of the counters. Safe to call while Run runs.
func (t *Tailer) Stats() Stats {
	s := &t.stats
	return Stats{
		FilesOpen:        s.filesOpen.Load(),
		Records:          s.records.Load(),
		Bytes:            s.bytes.Load(),
		TruncatedRecords: s.truncatedRecords.Load(),
		Truncations:      s.truncations.Load(),
		FilesDrained:     s.drained.Load(),
		Rotations:        s.rotations.Load(),
		Errors:           s.errors.Load(),
		Scans:            s.scans.Load(),
	}
}

// Files returns a snapshot of the files being followed, ordered by path
// then identity. Safe to call while Run runs; after Run returns it is
// empty. It takes no lock the read path takes per read: offsets and sizes
// are atomics of each file's tailer.
func (t *Tailer) Files() []FileState {
	t.mu.Lock()
	fts := make([]*fileTailer, 0, len(t.live))
	for ft := range t.live {
		fts = append(fts, ft)
	}
	t.mu.Unlock()
	states := make([]FileState, 0, len(fts))
	for _, ft := range fts {
		states = append(states, ft.state())
	}
	slices.SortFunc(states, func(a, b FileState) int {
		if c := cmp.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		if c := cmp.Compare(a.ID.Dev, b.ID.Dev); c != 0 {
			return c
		}
		return cmp.Compare(a.ID.Ino, b.ID.Ino)
	})
	return states
}

func (t *Tailer) addLive(ft *fileTailer) {
	t.mu.Lock()
	t.live[ft] = struct{}{}
	t.mu.Unlock()
}

func (t *Tailer) removeLive(ft *fileTailer) {
	t.mu.Lock()
	delete(t.live, ft)
	t.mu.Unlock()
}

func (t *Tailer) getBuf() *[]byte {
	t.bufsHeld.Add(1)
	return t.bufs.Get().(*[]byte)
}

func (t *Tailer) putBuf(b *[]byte) {
	t.bufsHeld.Add(-1)
	t.bufs.Put(b)
}

// Run tails until ctx is done, sending records on out, and returns nil
// then. Problems with single files are logged and retried on the next
// rescan; they never stop the other files. On return every file is closed
// and nothing is sent on out any more.
func (t *Tailer) Run(ctx context.Context, out chan<- []agent.Record) error {
	ctx, cancel := context.WithCancel(ctx)
	r := newRunner(t, out)
	defer r.wg.Wait()
	defer cancel()
	return r.run(ctx)
}
