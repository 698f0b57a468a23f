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
	"time"

	"github.com/hooktail/hooktail/agent"
)

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

	// The rest is owned by the tailer's goroutine.

	// endOff, when not negative, is where to start without a checkpoint
	// (StartAtEnd), for the first identity only.
	endOff int64
	hasID  bool
	id     agent.FileID
	fr     *framer
	// readOff is the next byte to read: fr.off plus the carried partial line.
	readOff int64
	carry   []byte
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

// setLocation records where the latest scan found the file, if anywhere.
func (ft *fileTailer) setLocation(path string, reachable bool, now time.Time) {
	ft.mu.Lock()
	changed := ft.reachable != reachable || (reachable && path != ft.path)
	if reachable {
		ft.path = path
	} else if ft.reachable {
		ft.unreachableSince = now
	}
	ft.reachable = reachable
	ft.mu.Unlock()
	if changed {
		ft.notify()
	}
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
			// Hand on what is complete; the file is retried by a later scan
			// from its checkpoint.
			_ = ft.send(ctx, ft.fr.flush(nil, false))
			return err
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
		if err := ft.identify(false); err != nil || !ft.hasID {
			return err
		}
	}
	fi, err := ft.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %q: %w", ft.f.Name(), err)
	}
	size := fi.Size()
	if size == ft.readOff {
		return nil
	}
	// The file changed. Before reading on, make sure it is still the same
	// content: smaller than what was read, or a different first line, is
	// copytruncate (possibly followed by new writes).
	same := size > ft.readOff
	if same {
		fp, ok, err := fingerprint(ft.f, false)
		if err != nil {
			return err
		}
		same = ok && fp == ft.id.Fingerprint
	}
	if !same {
		if err := ft.truncated(ctx, size); err != nil || !ft.hasID {
			return err
		}
	}
	return ft.read(ctx)
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
	fi, err := ft.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %q: %w", ft.f.Name(), err)
	}
	id := agent.FileID{Dev: ft.key.dev, Ino: ft.key.ino, Fingerprint: fp}
	var off int64
	how := "beginning"
	if cp, ok := ft.checkpoint(id); ok {
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
	ft.id, ft.hasID = id, true
	ft.logger = ft.t.logger.With("path", ft.currentPath(), "file", id.String())
	ft.fr.tmpl = agent.Record{Source: ft.t.opts.Source, File: id}
	ft.fr.reset(off)
	ft.readOff = off
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

// truncated handles content replaced under the same inode: what was read of
// the old content is emitted, and the new content is read from 0 under its
// own identity.
func (ft *fileTailer) truncated(ctx context.Context, size int64) error {
	ft.logger.Warn("file truncated or rewritten in place; reading the new content from the beginning",
		"offset", ft.readOff, "size", size)
	ft.t.stats.truncations.Add(1)
	recs, _ := ft.fr.feed(ft.carry, true, nil)
	if err := ft.send(ctx, ft.fr.flush(recs, true)); err != nil {
		return err
	}
	ft.hasID = false
	ft.carry = ft.carry[:0]
	ft.readOff = 0
	ft.fr.reset(0)
	return ft.identify(false)
}

// read reads from readOff to EOF in buffer-sized pieces, framing each and
// sending its records before reading the next, so a slow consumer holds the
// tailer back rather than growing memory.
func (ft *fileTailer) read(ctx context.Context) error {
	bp := ft.t.getBuf()
	defer ft.t.putBuf(bp)
	buf := *bp
	ft.fr.tmpl.Path = ft.currentPath()
	n := copy(buf, ft.carry)
	for {
		m, err := ft.f.ReadAt(buf[n:], ft.readOff)
		if err != nil && !errors.Is(err, io.EOF) {
			ft.carry = append(ft.carry[:0], buf[:n]...)
			return fmt.Errorf("read %q at %d: %w", ft.f.Name(), ft.readOff, err)
		}
		if m > 0 {
			ft.readOff += int64(m)
			ft.lastData = time.Now()
			ft.t.stats.bytes.Add(int64(m))
			p := buf[:n+m]
			recs, c := ft.fr.feed(p, false, make([]agent.Record, 0, max(ft.chunkHint, 16)))
			if c == 0 && len(p) == len(buf) {
				// One line fills the whole buffer: take it in pieces.
				recs, c = ft.fr.feed(p, true, recs)
			}
			n = copy(buf, p[c:])
			ft.chunkHint = len(recs)
			if err := ft.send(ctx, recs); err != nil {
				ft.carry = append(ft.carry[:0], buf[:n]...)
				return err
			}
		}
		if m == 0 || err != nil {
			break
		}
	}
	ft.carry = append(ft.carry[:0], buf[:n]...)
	return nil
}

// giveUp ends a file that is gone from every watched path and has been
// drained: everything left, a partial last line included, is emitted.
func (ft *fileTailer) giveUp(ctx context.Context) error {
	if !ft.hasID {
		// Gone before its first line was complete: still, nothing is dropped.
		if err := ft.identify(true); err != nil {
			return err
		}
		if ft.hasID {
			if err := ft.read(ctx); err != nil {
				return err
			}
		}
	}
	if ft.hasID {
		recs, _ := ft.fr.feed(ft.carry, true, nil)
		if err := ft.send(ctx, ft.fr.flush(recs, true)); err != nil {
			return nil
		}
	}
	ft.t.stats.drained.Add(1)
	ft.logger.Info("file drained and gone from the watched paths; closing", "offset", ft.readOff)
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
