package tail

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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
	exited chan *fileTailer
	// warned holds the last problem logged per path, so a file that keeps
	// failing is logged once, not on every rescan.
	warned map[string]string
}

func newRunner(t *Tailer, out chan<- []agent.Record) *runner {
	return &runner{
		t:      t,
		out:    out,
		files:  make(map[inode]*fileTailer),
		byPath: make(map[string]*fileTailer),
		exited: make(chan *fileTailer),
		warned: make(map[string]string),
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
		case ft := <-r.exited:
			r.remove(ft)
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
	for _, pattern := range opts.Paths {
		if ds, _ := filepath.Glob(filepath.Dir(pattern)); len(ds) > 0 {
			for _, d := range ds {
				dirs[d] = true
			}
		}
		matches, _ := filepath.Glob(pattern) // patterns are validated by New
		for _, path := range matches {
			if _, dup := byPath[path]; dup || r.excluded(path) {
				continue
			}
			fi, err := os.Stat(path)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					r.problem(path, "cannot stat file; retrying on the next rescan", err)
				}
				continue
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			key := inodeOf(fi)
			ft := r.files[key]
			if ft == nil {
				if ft = r.start(ctx, path, key, startup); ft == nil {
					continue
				}
			}
			delete(r.warned, path)
			byPath[path] = ft
		}
	}
	r.byPath = byPath

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
			r.problem(path, "cannot open file; retrying on the next rescan", err)
		}
		return nil
	}
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
	r.files[key] = ft
	r.t.stats.filesOpen.Add(1)
	r.wg.Go(func() {
		if err := ft.run(ctx); err != nil && ctx.Err() == nil {
			r.t.stats.errors.Add(1)
			ft.logger.Warn("file tailing failed; retrying on the next rescan", "error", err)
		}
		select {
		case r.exited <- ft:
		case <-ctx.Done():
		}
	})
	return ft
}

// remove forgets a tailer that has returned.
func (r *runner) remove(ft *fileTailer) {
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
			r.problem(d, "cannot watch directory; relying on rescans", err)
			continue
		}
		delete(r.warned, d)
		r.t.logger.Debug("watching directory", "dir", d)
	}
}

// problem logs a per-path failure at Warn the first time it is seen and at
// Debug while it repeats.
func (r *runner) problem(path, msg string, err error) {
	r.t.stats.errors.Add(1)
	if r.warned[path] == err.Error() {
		r.t.logger.Debug(msg, "path", path, "error", err)
		return
	}
	r.warned[path] = err.Error()
	r.t.logger.Warn(msg, "path", path, "error", err)
}
