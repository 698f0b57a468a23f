package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooktail/hooktail/agent"
)

// modGranularity bounds the granularity of file modification times (a
// jiffy on Linux, 1-2 s on some file systems): a file modified more
// recently than that may have been modified again since without its
// modification time showing it.
const modGranularity = 2 * time.Second

// fileTailer follows one file (one inode) through its open descriptor, from
// discovery until it is given up: renamed or deleted away from every watched
// path and quiet at EOF for DrainIdle. It survives renames (the descriptor
// keeps reading the same inode) and detects copytruncate (the size drops
// below the read offset, or the first line changes), after which it reads
// the new content from 0 under a new FileID.
type fileTailer struct {
	t      *Tailer
	out    chan<- []agent.Record
	f      *os.File
	key    inode
	logger *slog.Logger
	// wake is a hint that the file may have changed; capacity 1.
	wake chan struct{}

	mu sync.Mutex
	// path is the latest matched path the file was found under.
	path string
	// reachable is false once a scan finds the file under no matched path;
	// unreachableSince is when that was first seen.
	reachable        bool
	unreachableSince time.Time
	// shownID, identified and startOff are what Files reports of id, hasID
	// and where reading began. They change together with readPos, so that
	// a snapshot never pairs one identity with another's offset.
	shownID    agent.FileID
	identified bool
	startOff   int64

	// Published without the lock, for Files and the runner: the size at the
	// last check, the read offset (only growing between identity changes),
	// and whether a step has succeeded.
	size, readPos atomic.Int64
	healthy       atomic.Bool
	// closed is set once run has returned without a failure: the
	// descriptor is closed and the inode number may already belong to a
	// new file, which the runner must not take for this one.
	closed atomic.Bool

	// The rest is owned by the tailer's goroutine.

	// endOff, when not negative, is where to start without a checkpoint
	// (StartAtEnd), for the first identity only.
	endOff int64
	// resume, when set, is where a failed tailer of the same file stopped:
	// where to start if the identity is the same, for the first identity
	// only.
	resume *resumePoint
	hasID  bool
	id     agent.FileID
	// partial is set when id was made from an incomplete first line.
	partial bool
	fr      *framer
	// readOff is the next byte to read: fr.off plus the carried partial line.
	readOff int64
	carry   []byte
	// checkedMod is the modification time of the file when its content
	// was last checked against its fingerprint.
	checkedMod time.Time
	// lastData is when bytes were last read (or the tailer started).
	lastData time.Time
	// chunkHint sizes the next chunk's record slice: the last chunk's count.
	chunkHint int
}

func newFileTailer(t *Tailer, out chan<- []agent.Record, f *os.File, key inode, path string, endOff int64) *fileTailer {
	isStart := t.opts.IsStart
	if t.opts.StartRuleFor != nil {
		isStart = t.opts.StartRuleFor(path)
	}
	return &fileTailer{
		t:         t,
		out:       out,
		f:         f,
		key:       key,
		logger:    t.logger.With("path", path),
		wake:      make(chan struct{}, 1),
		path:      path,
		reachable: true,
		endOff:    endOff,
		fr:        newFramer(isStart, t.opts.MaxRecordBytes),
		lastData:  time.Now(),
	}
}

// notify wakes the tailer without blocking.
func (ft *fileTailer) notify() {
	select {
	case ft.wake <- struct{}{}:
	default:
	}
}

// setLocation records where the latest scan found the file, if anywhere,
// and counts a rename: found under another path than before, or gone from
// every matched path while the file still has a name.
func (ft *fileTailer) setLocation(path string, reachable bool, now time.Time) {
	ft.mu.Lock()
	from := ft.path
	moved := reachable && path != ft.path
	left := !reachable && ft.reachable
	changed := moved || ft.reachable != reachable
	if reachable {
		ft.path = path
	} else if left {
		ft.unreachableSince = now
	}
	ft.reachable = reachable
	ft.mu.Unlock()
	if left {
		// Renamed away, or deleted? A closed descriptor (the tailer has just
		// ended) fails the stat and counts as neither.
		if fi, err := ft.f.Stat(); err == nil {
			if n, ok := linksOf(fi); ok && n > 0 {
				moved = true
			}
		}
	}
	if moved {
		ft.t.stats.rotations.Add(1)
		// ft.logger belongs to the tailer's goroutine.
		if reachable {
			ft.t.logger.Info("file renamed", "from", from, "to", path)
		} else {
			ft.t.logger.Info("file renamed away from the watched paths; draining", "path", from)
		}
	}
	if changed {
		ft.notify()
	}
}

// resumePoint is where a tailer stopped: the identity it was reading and
// the offset of the first byte it has not sent.
type resumePoint struct {
	id  agent.FileID
	off int64
}

// stoppedAt returns where the tailer stopped, once it has returned: the
// start of the record still open, else of the bytes not yet framed.
func (ft *fileTailer) stoppedAt() (resumePoint, bool) {
	if !ft.hasID {
		return resumePoint{}, false
	}
	off := ft.fr.off
	if ft.fr.open {
		off = ft.fr.recOff
	}
	return resumePoint{ft.id, off}, true
}

// state is the file's snapshot for Tailer.Files.
func (ft *fileTailer) state() FileState {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	s := FileState{
		Path:        ft.path,
		ID:          ft.shownID,
		Identified:  ft.identified,
		Reachable:   ft.reachable,
		StartOffset: ft.startOff,
		ReadOffset:  ft.readPos.Load(),
		Size:        ft.size.Load(),
	}
	// The size is older than the offset when the file grew since the stat,
	// or newer when it has just been truncated: never report a negative lag.
	s.Size = max(s.Size, s.ReadOffset)
	return s
}

// setIdentity sets or clears the file's identity and where reading it
// starts, and publishes both.
func (ft *fileTailer) setIdentity(id agent.FileID, ok bool, start, size int64) {
	ft.id, ft.hasID = id, ok
	ft.readOff = start
	ft.mu.Lock()
	ft.shownID, ft.identified, ft.startOff = id, ok, start
	ft.readPos.Store(start)
	ft.size.Store(size)
	ft.mu.Unlock()
}

func (ft *fileTailer) location() (path string, reachable bool, since time.Time) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.path, ft.reachable, ft.unreachableSince
}

// run follows the file until ctx is done, the file is given up, or reading
// it fails. The descriptor is closed on return.
func (ft *fileTailer) run(ctx context.Context) error {
	defer ft.f.Close()
	opts := &ft.t.opts
	timer := time.NewTimer(opts.PollInterval)
	defer timer.Stop()
	for {
		if err := ft.step(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Hand on what is complete; a later scan follows the file again
			// from where this tailer stopped (see stoppedAt).
			_ = ft.send(ctx, ft.fr.flush(nil, false))
			return err
		}
		if !ft.healthy.Load() {
			ft.healthy.Store(true)
		}

		now := time.Now()
		wait := opts.PollInterval
		if ft.fr.flushable() {
			if idle := now.Sub(ft.lastData); idle >= opts.IdleFlush {
				if err := ft.send(ctx, ft.fr.flush(nil, false)); err != nil {
					return nil
				}
			} else {
				wait = min(wait, opts.IdleFlush-idle)
			}
		}
		if _, reachable, since := ft.location(); !reachable {
			quiet := now.Sub(later(ft.lastData, since))
			if quiet >= opts.DrainIdle {
				return ft.giveUp(ctx)
			}
			wait = min(wait, opts.DrainIdle-quiet)
		}

		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-ft.wake:
		case <-timer.C:
		}
	}
}

// step establishes the file's identity if needed, checks for truncation and
// reads everything up to EOF.
func (ft *fileTailer) step(ctx context.Context) error {
	if !ft.hasID {
		if err := ft.identify(false); err != nil {
			return err
		}
		if !ft.hasID {
			// Still no complete first line: only its size is news.
			fi, err := ft.f.Stat()
			if err != nil {
				return fmt.Errorf("stat %q: %w", ft.f.Name(), err)
			}
			ft.size.Store(fi.Size())
			return nil
		}
	}
	fi, err := ft.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %q: %w", ft.f.Name(), err)
	}
	size, mod := fi.Size(), fi.ModTime()
	ft.size.Store(size)
	switch {
	case size < ft.readOff:
		// Smaller than what was read: copytruncate, or a rewrite.
		if err := ft.truncated(ctx, size); err != nil || !ft.hasID {
			return err
		}
	case size == ft.readOff:
		// Nothing new, unless the content was rewritten in place by as many
		// bytes. The modification time tells when it moved since the last
		// look, or is too recent for a later write within the timestamp's
		// granularity to show; then the first line is compared.
		if mod.Equal(ft.checkedMod) && time.Since(mod) > modGranularity {
			return nil
		}
		ft.checkedMod = mod
		same, err := ft.sameContent()
		if err != nil || same {
			return err
		}
		if err := ft.truncated(ctx, size); err != nil || !ft.hasID {
			return err
		}
	}
	ft.checkedMod = mod
	// read checks every piece it reads against the fingerprint, so that a
	// copytruncate that writes past the read offset before this look, or
	// while a send blocks, is caught before its bytes are taken for the old
	// content's. A file rewritten again and again is taken up at the next
	// step.
	for range 3 {
		rewritten, err := ft.read(ctx)
		if err != nil || !rewritten {
			return err
		}
		fi, err := ft.f.Stat()
		if err != nil {
			return fmt.Errorf("stat %q: %w", ft.f.Name(), err)
		}
		if err := ft.truncated(ctx, fi.Size()); err != nil || !ft.hasID {
			return err
		}
	}
	return nil
}

// sameContent reports whether the file still starts with the first line
// its identity was made from. A file identified from an incomplete first
// line (when given up) is not checked.
func (ft *fileTailer) sameContent() (bool, error) {
	if ft.partial {
		return true, nil
	}
	fp, ok, err := fingerprint(ft.f, false)
	if err != nil {
		return false, err
	}
	return ok && fp == ft.id.Fingerprint, nil
}

// identify computes the file's FileID and where to start reading it: its
// checkpoint, else endOff when set, else 0.
// Without a complete first line it leaves hasID false and reads nothing,
// unless partial (see fingerprint).
func (ft *fileTailer) identify(partial bool) error {
	fp, ok, err := fingerprint(ft.f, partial)
	if err != nil || !ok {
		return err
	}
	ft.partial = partial
	fi, err := ft.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %q: %w", ft.f.Name(), err)
	}
	id := agent.FileID{Dev: ft.key.dev, Ino: ft.key.ino, Fingerprint: fp}
	var off int64
	how := "beginning"
	if r := ft.resume; r != nil && r.id == id && r.off <= fi.Size() {
		// Sent up to there before the previous tailer failed.
		off, how = r.off, "where the failed tailer stopped"
	} else if cp, ok := ft.checkpoint(id); ok {
		how = "checkpoint"
		off = cp
		if cp > fi.Size() {
			ft.logger.Warn("checkpoint is past the end of the file; reading from the beginning",
				"file", id.String(), "checkpoint", cp, "size", fi.Size())
			off, how = 0, "beginning"
		}
	} else if ft.endOff >= 0 && ft.endOff <= fi.Size() {
		off, how = ft.endOff, "end"
	}
	ft.endOff = -1
	ft.resume = nil
	ft.setIdentity(id, true, off, fi.Size())
	ft.logger = ft.t.logger.With("path", ft.currentPath(), "file", id.String())
	ft.fr.tmpl = agent.Record{Source: ft.t.opts.Source, File: id}
	ft.fr.reset(off)
	ft.carry = ft.carry[:0]
	ft.logger.Info("tailing file", "from", how, "offset", off)
	return nil
}

func (ft *fileTailer) checkpoint(id agent.FileID) (int64, bool) {
	if ft.t.opts.Positions == nil {
		return 0, false
	}
	return ft.t.opts.Positions.Get(id)
}

func (ft *fileTailer) currentPath() string {
	p, _, _ := ft.location()
	return p
}

// truncated handles content replaced under the same inode: the open record
// of the old content is emitted if its lines are complete, and the new
// content is read from 0 under its own identity. An incomplete last line
// read of the old content (the carry, or a long line taken in pieces) is
// dropped, not emitted cut short: with copytruncate the copy holds the whole
// line at the same offset under the same fingerprint, and a cut record sent
// first would take the place of the whole one downstream.
func (ft *fileTailer) truncated(ctx context.Context, size int64) error {
	ft.logger.Warn("file truncated or rewritten in place; reading the new content from the beginning",
		"offset", ft.readOff, "size", size, "dropped_partial_line_bytes", len(ft.carry))
	ft.t.stats.truncations.Add(1)
	if err := ft.send(ctx, ft.fr.flush(nil, false)); err != nil {
		return err
	}
	ft.setIdentity(agent.FileID{}, false, 0, size)
	ft.carry = ft.carry[:0]
	ft.fr.reset(0)
	return ft.identify(false)
}

// read reads from readOff to EOF in buffer-sized pieces, framing each and
// sending its records before reading the next, so a slow consumer holds the
// tailer back rather than growing memory. The read buffer is handed back
// before each send: a tailer blocked on a slow consumer holds one chunk of
// records and its partial last line, never a read buffer. After each piece
// it checks that the file is still the generation it was reading;
// rewritten is true, and the piece dropped, when it is not.
func (ft *fileTailer) read(ctx context.Context) (rewritten bool, err error) {
	ft.fr.tmpl.Path = ft.currentPath()
	for {
		recs, eof, rewritten, err := ft.readPiece()
		if err != nil || rewritten {
			return rewritten, err
		}
		if err := ft.send(ctx, recs); err != nil {
			return false, err
		}
		if len(recs) > 0 {
			// Time spent blocked in send is not quiet time: the drain
			// timer counts from when the data was handed on.
			ft.lastData = time.Now()
		}
		if eof {
			break
		}
	}
	if ft.readOff > ft.size.Load() {
		// The file grew since the stat.
		ft.size.Store(ft.readOff)
	}
	return false, nil
}

// readPiece reads one buffer from readOff, after the carried partial line,
// and frames it: the records it closes are returned, the new partial line
// is carried. eof is true when the read reached the end of the file. When
// the file is no longer the generation being read (see sameGeneration),
// rewritten is true and nothing read is kept.
func (ft *fileTailer) readPiece() (recs []agent.Record, eof, rewritten bool, err error) {
	bp := ft.t.getBuf()
	defer ft.t.putBuf(bp)
	buf := *bp
	n := copy(buf, ft.carry)
	if hook := ft.t.beforeRead; hook != nil {
		hook(ft)
	}
	m, err := ft.f.ReadAt(buf[n:], ft.readOff)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, false, fmt.Errorf("read %q at %d: %w", ft.f.Name(), ft.readOff, err)
	}
	eof = m == 0 || err != nil
	if m == 0 {
		return nil, true, false, nil
	}
	if same, err := ft.sameGeneration(ft.readOff + int64(m)); err != nil || !same {
		return nil, false, !same, err
	}
	ft.readOff += int64(m)
	ft.readPos.Store(ft.readOff)
	ft.lastData = time.Now()
	ft.t.stats.bytes.Add(int64(m))
	p := buf[:n+m]
	recs, c := ft.fr.feed(p, false, make([]agent.Record, 0, max(ft.chunkHint, 16)))
	if c == 0 && len(p) == len(buf) {
		// One line fills the whole buffer: take it in pieces.
		recs, c = ft.fr.feed(p, true, recs)
	}
	rest := p[c:]
	if cap(ft.carry) > 64<<10 && len(rest) < 4<<10 {
		// Do not keep a long line's room for the life of the file.
		ft.carry = nil
	}
	ft.carry = append(ft.carry[:0], rest...)
	ft.chunkHint = len(recs)
	return recs, eof, false, nil
}

// sameGeneration reports whether the file, after bytes up to end were read
// from it, is still the content being read: it starts with the same first
// line and is not smaller than end. Checked after every read, it catches a
// copytruncate that lands between the checks of step and the read, or
// during the read, whose bytes would otherwise be taken for the old
// content's at the old content's offsets.
func (ft *fileTailer) sameGeneration(end int64) (bool, error) {
	same, err := ft.sameContent()
	if err != nil || !same {
		return false, err
	}
	fi, err := ft.f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat %q: %w", ft.f.Name(), err)
	}
	return fi.Size() >= end, nil
}

// giveUp ends a file that is gone from every watched path and has been
// drained: it is read to its end once more through the descriptor (a writer
// may have written since the last step's read), and everything left, a
// partial last line included, is emitted.
func (ft *fileTailer) giveUp(ctx context.Context) error {
	if !ft.hasID {
		// Gone before its first line was complete: still, nothing is dropped.
		if err := ft.identify(true); err != nil {
			return err
		}
	}
	if ft.hasID {
		if err := ft.step(ctx); err != nil {
			return err
		}
	}
	if ft.hasID {
		recs, _ := ft.fr.feed(ft.carry, true, nil)
		if err := ft.send(ctx, ft.fr.flush(recs, true)); err != nil {
			return nil
		}
	}
	ft.t.stats.drained.Add(1)
	size := int64(-1)
	if fi, err := ft.f.Stat(); err == nil {
		size = fi.Size()
	}
	ft.logger.Info("file drained and gone from the watched paths; closing", "offset", ft.readOff, "size", size)
	return nil
}

// send hands one chunk of records to the consumer, blocking until it takes
// them or ctx is done.
func (ft *fileTailer) send(ctx context.Context, recs []agent.Record) error {
	if len(recs) == 0 {
		return nil
	}
	var cut int64
	for i := range recs {
		if recs[i].Truncated {
			cut++
		}
	}
	select {
	case ft.out <- recs:
	case <-ctx.Done():
		return ctx.Err()
	}
	ft.t.stats.records.Add(int64(len(recs)))
	ft.t.stats.truncatedRecords.Add(cut)
	return nil
}

// lastLineEnd returns the offset just past the last '\n' before size, looking
// back at most 64 KiB; size itself if there is none that close.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	const window = 64 << 10
	from := max(0, size-window)
	b := make([]byte, size-from)
	if _, err := f.ReadAt(b, from); err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read end of %q: %w", f.Name(), err)
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return from + int64(i) + 1, nil
	}
	return size, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
