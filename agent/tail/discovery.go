package tail

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hooktail/hooktail/agent"
)

// runner is one Run of a Tailer: discovery and the set of file tailers. Its
// maps are owned by the goroutine in run.
type runner struct {
	t   *Tailer
	out chan<- []agent.Record
	wg  sync.WaitGroup

	watcher *fsnotify.Watcher
	// files holds the live tailers by inode; byPath maps every matched
	// path of the latest scan to its tailer, to route fsnotify writes.
	files  map[inode]*fileTailer
	byPath map[string]*fileTailer
	exited chan exit
	// warned holds the cause of the last problem of each kind logged per
	// path, so that a file that keeps failing the same way is logged and
	// counted once, not on every rescan.
	warned map[warnKey]string
	// resume holds where the tailers that failed stopped, so that the
	// tailer restarted for the same file goes on from there instead of its
	// checkpoint: nothing sent is sent twice.
	resume map[inode]resumePoint
}

// exit is a file tailer that has returned, and why.
type exit struct {
	ft  *fileTailer
	err error
}

// warnKey is a kind of problem (its log message) on one path.
type warnKey struct {
	path, msg string
}

// The problems logged per path.
const (
	msgStat  = "cannot stat file; retrying on the next rescan"
	msgOpen  = "cannot open file; retrying on the next rescan"
	msgRead  = "file tailing failed; retrying on the next rescan"
	msgDir   = "cannot read directory; retrying on the next rescan"
	msgWatch = "cannot watch directory; relying on rescans"
)

func newRunner(t *Tailer, out chan<- []agent.Record) *runner {
	return &runner{
		t:      t,
		out:    out,
		files:  make(map[inode]*fileTailer),
		byPath: make(map[string]*fileTailer),
		exited: make(chan exit),
		warned: make(map[warnKey]string),
		resume: make(map[inode]resumePoint),
	}
}

func (r *runner) run(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if !r.t.opts.noWatch {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			r.t.logger.Warn("fsnotify unavailable; relying on polling and rescans", "error", err)
		} else {
			r.watcher = w
			defer w.Close()
			events, errs = w.Events, w.Errors
		}
	}
	r.scan(ctx, true)
	ticker := time.NewTicker(r.t.opts.RescanInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			r.scan(ctx, false)
		case e := <-r.exited:
			r.remove(e)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// Typically a queue overflow: events were lost, so look at
			// everything again.
			r.t.logger.Warn("fsnotify error; rescanning", "error", err)
			r.scan(ctx, false)
			for _, ft := range r.files {
				ft.notify()
			}
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// Take every queued event, then rescan at most once.
			rescan := r.event(ev)
			for more := true; more; {
				select {
				case ev, ok := <-events:
					if !ok {
						events, more = nil, false
						break
					}
					rescan = r.event(ev) || rescan
				default:
					more = false
				}
			}
			if rescan {
				r.scan(ctx, false)
			}
		}
	}
}

// event routes a write to its tailer and reports whether the event changes
// the set of files (create, rename, remove, chmod), which needs a rescan.
func (r *runner) event(ev fsnotify.Event) bool {
	if ev.Has(fsnotify.Write) {
		if ft := r.byPath[ev.Name]; ft != nil {
			ft.notify()
		}
	}
	return ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Chmod)
}

// scan globs every pattern, starts a tailer for each new inode, tells every
// tailer where it is now (or that it is under no matched path any more) and
// keeps the directory watches in step.
func (r *runner) scan(ctx context.Context, startup bool) {
	opts := &r.t.opts
	byPath := make(map[string]*fileTailer, len(r.byPath))
	dirs := make(map[string]bool)
	matched := make(map[string]bool)
	checked := make(map[string]bool)
	inodes := make(map[inode]bool)
	for _, pattern := range opts.Paths {
		ds, _ := filepath.Glob(filepath.Dir(pattern))
		listed := hasMeta(filepath.Base(pattern))
		for _, d := range ds {
			if listed && !checked[d] {
				checked[d] = true
				r.checkDir(d)
			}
			dirs[d] = true
		}
		matches, _ := filepath.Glob(pattern) // patterns are validated by New
		for _, path := range matches {
			if matched[path] || r.excluded(path) {
				continue
			}
			matched[path] = true
			fi, err := os.Stat(path)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					r.problem(path, msgStat, err)
				}
				continue
			}
			r.solved(path, msgStat)
			if !fi.Mode().IsRegular() {
				continue
			}
			key := inodeOf(fi)
			inodes[key] = true
			ft := r.files[key]
			if ft == nil || ft.closed.Load() {
				// New, or its inode number reused by a new file while the
				// tailer of the old one, given up and closed, waits to be
				// removed: the new file is started now, not a scan later,
				// when it may be rotated away and deleted.
				if ft = r.start(ctx, path, key, startup); ft == nil {
					continue
				}
			}
			if ft.healthy.Load() {
				r.solved(path, msgRead)
			}
			byPath[path] = ft
		}
	}
	r.byPath = byPath
	// Forget the problems of paths that are gone, and where the failed
	// tailers of files that are gone stopped.
	for k := range r.warned {
		if !matched[k.path] && !dirs[k.path] {
			delete(r.warned, k)
		}
	}
	for key := range r.resume {
		if !inodes[key] {
			delete(r.resume, key)
		}
	}

	// Where is each tailer now? Keep its current path while that still
	// maps to it, else take any path that does.
	found := make(map[*fileTailer]string, len(r.files))
	for path, ft := range byPath {
		if cur, ok := found[ft]; !ok || path < cur {
			found[ft] = path
		}
	}
	now := time.Now()
	for _, ft := range r.files {
		path, ok := found[ft]
		if cur := ft.currentPath(); ok && byPath[cur] == ft {
			path = cur
		}
		ft.setLocation(path, ok, now)
	}
	r.syncWatches(dirs)
	r.t.stats.scans.Add(1)
}

func (r *runner) excluded(path string) bool {
	for _, ex := range r.t.opts.Exclude {
		if ok, _ := filepath.Match(ex, path); ok {
			return true
		}
	}
	return false
}

// start opens a newly found file and starts its tailer. It returns nil when
// the file could not be opened or was replaced between stat and open; the
// next scan tries again.
func (r *runner) start(ctx context.Context, path string, key inode, startup bool) *fileTailer {
	f, err := os.Open(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.problem(path, msgOpen, err)
		}
		return nil
	}
	r.solved(path, msgOpen)
	fi, err := f.Stat()
	if err != nil || inodeOf(fi) != key {
		f.Close()
		return nil
	}
	// StartAtEnd is for files present, with an identity, at startup; a
	// file still without a complete first line is new content. The end is
	// taken now, so that lines written from here on are read.
	endOff := int64(-1)
	if startup && r.t.opts.StartAtEnd {
		if _, ok, _ := fingerprint(f, false); ok {
			if off, err := lastLineEnd(f, fi.Size()); err == nil {
				endOff = off
			}
		}
	}
	ft := newFileTailer(r.t, r.out, f, key, path, endOff)
	if p, ok := r.resume[key]; ok {
		ft.resume = &p
		delete(r.resume, key)
	}
	r.files[key] = ft
	r.t.stats.filesOpen.Add(1)
	r.t.addLive(ft)
	r.wg.Go(func() {
		err := ft.run(ctx)
		if err == nil {
			ft.closed.Store(true)
		}
		r.t.removeLive(ft)
		select {
		case r.exited <- exit{ft, err}:
		case <-ctx.Done():
			r.t.stats.filesOpen.Add(-1)
		}
	})
	return ft
}

// remove forgets a tailer that has returned, and reports its failure.
func (r *runner) remove(e exit) {
	ft := e.ft
	if e.err != nil {
		r.problem(ft.currentPath(), msgRead, e.err)
		// The tailer has returned: its state is the runner's to read.
		if p, ok := ft.stoppedAt(); ok {
			r.resume[ft.key] = p
		}
	}
	if r.files[ft.key] == ft {
		delete(r.files, ft.key)
	}
	for path, t := range r.byPath {
		if t == ft {
			delete(r.byPath, path)
		}
	}
	r.t.stats.filesOpen.Add(-1)
}

// syncWatches watches every existing directory a pattern can match in and
// drops the watches of the others. A directory that does not exist yet is
// picked up by a later scan.
func (r *runner) syncWatches(dirs map[string]bool) {
	if r.watcher == nil {
		return
	}
	watched := make(map[string]bool)
	for _, d := range r.watcher.WatchList() {
		watched[d] = true
		if !dirs[d] {
			_ = r.watcher.Remove(d)
		}
	}
	for d := range dirs {
		if watched[d] {
			continue
		}
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			continue
		}
		if err := r.watcher.Add(d); err != nil {
			r.problem(d, msgWatch, err)
			continue
		}
		r.solved(d, msgWatch)
		r.t.logger.Debug("watching directory", "dir", d)
	}
}

// checkDir reports a directory whose entries cannot be listed: a glob
// silently matches nothing in it.
func (r *runner) checkDir(d string) {
	f, err := os.Open(d)
	if err == nil {
		_, err = f.Readdirnames(1)
		f.Close()
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.problem(d, msgDir, err)
		return
	}
	r.solved(d, msgDir)
}

// problem counts and logs a failure of kind msg on path at Warn the first
// time it is seen and at Debug while the same cause repeats.
func (r *runner) problem(path, msg string, err error) {
	k, cause := warnKey{path, msg}, rootCause(err).Error()
	if r.warned[k] == cause {
		r.t.logger.Debug(msg, "path", path, "error", err)
		return
	}
	r.warned[k] = cause
	r.t.stats.errors.Add(1)
	r.t.logger.Warn(msg, "path", path, "error", err)
}

// solved forgets a failure of kind msg on path once it has gone away, so
// that its return is logged and counted again.
func (r *runner) solved(path, msg string) {
	if _, ok := r.warned[warnKey{path, msg}]; ok {
		delete(r.warned, warnKey{path, msg})
		r.t.logger.Info("problem solved", "path", path, "was", msg)
	}
}

// rootCause is the innermost error err wraps (an errno, typically), so
// that the same failure at another offset is not a new problem.
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// hasMeta reports whether a glob element has wildcards, so that matching it
// needs the directory listed.
func hasMeta(pattern string) bool {
	return strings.ContainsAny(pattern, `*?[\`)
}
