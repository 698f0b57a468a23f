package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hooktail/hooktail/aggregator"
)

// Defaults of Options.
const (
	DefaultTTL             = 24 * time.Hour
	DefaultRetain          = 7 * 24 * time.Hour
	DefaultConcurrency     = 2
	DefaultMaxQueued       = 64
	DefaultPageSize        = 1000
	DefaultJanitorInterval = time.Minute
)

// tempSuffix ends the name of a file being written.
const tempSuffix = ".tmp"

// Options configure a Runner.
type Options struct {
	// Store keeps the jobs and reads the deliveries. Required.
	Store Store
	// Dir holds the export files (data_dir/exports); created if missing.
	// Required. Files ending in .tmp in it are deleted at Open.
	Dir string
	// TTL is how long a completed job's file is kept (export_ttl); zero
	// means DefaultTTL.
	TTL time.Duration
	// Retain is how long an expired or failed job is still answered
	// (status expired or failed, file 410) after its ExpiresAt before it
	// is deleted (then unknown, and its ID free again); zero means
	// DefaultRetain.
	Retain time.Duration
	// Concurrency is how many jobs run at once; zero means
	// DefaultConcurrency.
	Concurrency int
	// MaxQueued bounds the jobs processing (queued or running) that
	// Submit accepts: beyond it Submit returns ErrBusy. Zero means
	// DefaultMaxQueued. Jobs resumed at Open all run, whatever their
	// number.
	MaxQueued int
	// PageSize is how many deliveries one read transaction examines;
	// zero means DefaultPageSize.
	PageSize int
	// JanitorInterval is how often expired files are deleted; zero means
	// DefaultJanitorInterval, a negative interval runs no janitor (call
	// Expire).
	JanitorInterval time.Duration
	// Now is the clock of job times and expiry; nil means time.Now.
	Now func() time.Time
	// Logger receives the runner's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Runner runs export jobs in the background. It is safe for concurrent use.
type Runner struct {
	store    Store
	dir      string
	ttl      time.Duration
	retain   time.Duration
	pageSize int
	maxQueue int
	now      func() time.Time
	log      *slog.Logger

	queue chan string
	stop  context.CancelFunc
	wg    sync.WaitGroup

	// mu serialises Submit and guards queued, the number of jobs in
	// queue or running, and closed.
	mu     sync.Mutex
	queued int
	closed bool

	// progress holds the rows written so far by each running job.
	progress sync.Map // job ID → *atomic.Int64

	// changedMu guards changed, closed and replaced whenever a job
	// leaves processing (Wait).
	changedMu sync.Mutex
	changed   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Open starts a Runner: it creates Dir, deletes the files a previous run
// left half-written, queues every job still processing (they start over)
// and starts the workers and the janitor.
func Open(ctx context.Context, opts Options) (*Runner, error) {
	if opts.Store == nil {
		return nil, errors.New("open export runner: store is required")
	}
	if opts.Dir == "" {
		return nil, errors.New("open export runner: directory is required")
	}
	r := &Runner{
		store:    opts.Store,
		dir:      opts.Dir,
		ttl:      orDefault(opts.TTL, DefaultTTL),
		retain:   orDefault(opts.Retain, DefaultRetain),
		pageSize: orDefault(opts.PageSize, DefaultPageSize),
		maxQueue: orDefault(opts.MaxQueued, DefaultMaxQueued),
		now:      opts.Now,
		log:      opts.Logger,
		changed:  make(chan struct{}),
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("component", "export")
	if err := os.MkdirAll(r.dir, 0o750); err != nil {
		return nil, fmt.Errorf("open export runner: create %q: %w", r.dir, err)
	}
	if err := removeTemps(r.dir); err != nil {
		return nil, fmt.Errorf("open export runner: %w", err)
	}
	resumed, err := r.store.ExportJobs(ctx, JobQuery{Statuses: []Status{StatusProcessing}})
	if err != nil {
		return nil, fmt.Errorf("open export runner: list unfinished jobs: %w", err)
	}
	r.queue = make(chan string, max(r.maxQueue, len(resumed)))
	for _, j := range resumed {
		r.queue <- j.ID
		r.queued++
	}
	if len(resumed) > 0 {
		r.log.Info("export jobs resumed", "jobs", len(resumed))
	}
	var runCtx context.Context
	runCtx, r.stop = context.WithCancel(context.WithoutCancel(ctx))
	for range orDefault(opts.Concurrency, DefaultConcurrency) {
		r.wg.Go(func() { r.worker(runCtx) })
	}
	interval := orDefault(opts.JanitorInterval, DefaultJanitorInterval)
	if interval > 0 {
		r.wg.Go(func() { r.janitor(runCtx, interval) })
	}
	return r, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// removeTemps deletes the half-written files in dir.
func removeTemps(dir string) error {
	temps, err := filepath.Glob(filepath.Join(dir, "*"+tempSuffix))
	if err != nil {
		return fmt.Errorf("list temporary export files: %w", err)
	}
	for _, p := range temps {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove temporary export file: %w", err)
		}
	}
	return nil
}

// Close stops the runner: running jobs are abandoned (their temporary
// files deleted; they stay processing and start over at the next Open)
// and Close waits for the workers until ctx is done. It is idempotent.
func (r *Runner) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.stop()
		done := make(chan struct{})
		go func() { r.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			r.closeErr = fmt.Errorf("close export runner: %w", ctx.Err())
		}
	})
	return r.closeErr
}

// Submit creates the job of req, owned by owner (an API key's name, or
// ""), and queues it; a request without an ID gets a random UUID. When a
// job with the ID exists, Submit returns it (created=false) if it exports
// the same thing (Request.Hash), and ErrConflict otherwise. Submit
// validates req (a *RequestError) and returns ErrBusy when MaxQueued jobs
// are processing.
func (r *Runner) Submit(ctx context.Context, req Request, owner string) (job Job, created bool, err error) {
	req.Normalize()
	if err := req.Validate(); err != nil {
		return Job{}, false, err
	}
	if req.ID == "" {
		req.ID = newID()
	}
	hash := req.Hash()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Job{}, false, ErrClosed
	}
	existing := func(j Job) (Job, bool, error) {
		if j.Hash != hash {
			return Job{}, false, fmt.Errorf("export %q: %w", req.ID, ErrConflict)
		}
		return r.present(j), false, nil
	}
	if r.queued >= r.maxQueue {
		j, err := r.store.ExportJob(ctx, req.ID)
		switch {
		case err == nil:
			return existing(j)
		case errors.Is(err, aggregator.ErrNotFound):
			return Job{}, false, ErrBusy
		default:
			return Job{}, false, fmt.Errorf("submit export %q: %w", req.ID, err)
		}
	}
	j, created, err := r.store.CreateExport(ctx, Job{
		ID:        req.ID,
		Request:   req,
		Hash:      hash,
		Owner:     owner,
		Status:    StatusProcessing,
		CreatedAt: r.now().UTC(),
	})
	if err != nil {
		return Job{}, false, fmt.Errorf("submit export %q: %w", req.ID, err)
	}
	if !created {
		return existing(j)
	}
	r.queued++
	r.queue <- j.ID // never blocks: queued <= maxQueue <= cap(queue)
	r.log.Info("export job created", "export", j.ID, "owner", owner, "format", req.Format)
	return j, true, nil
}

// Job returns a job as it stands: a processing job's RowCount is the rows
// written so far, and a completed job past its ExpiresAt is expired even
// before the janitor deletes its file. aggregator.ErrNotFound if unknown.
func (r *Runner) Job(ctx context.Context, id string) (Job, error) {
	j, err := r.store.ExportJob(ctx, id)
	if err != nil {
		return Job{}, err
	}
	return r.present(j), nil
}

// present applies what the store does not know yet.
func (r *Runner) present(j Job) Job {
	switch j.Status {
	case StatusProcessing:
		if p, ok := r.progress.Load(j.ID); ok {
			j.RowCount = p.(*atomic.Int64).Load()
		}
	case StatusCompleted:
		if !j.ExpiresAt.IsZero() && !r.now().Before(j.ExpiresAt) {
			j.Status = StatusExpired
		}
	}
	return j
}

// File is a completed job's file, open for reading.
type File struct {
	Job Job
	// Content is the file; the caller closes it.
	Content io.ReadSeekCloser
	// Size is the file's size in bytes.
	Size int64
}

// Open opens a completed job's file. It returns aggregator.ErrNotFound
// for an unknown job, ErrNotReady while it is processing, ErrFailed for a
// failed job and ErrExpired once the file expired (or is gone).
func (r *Runner) Open(ctx context.Context, id string) (*File, error) {
	j, err := r.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	switch j.Status {
	case StatusProcessing:
		return nil, fmt.Errorf("export %q: %w", id, ErrNotReady)
	case StatusFailed:
		return nil, fmt.Errorf("export %q: %w", id, ErrFailed)
	case StatusExpired:
		return nil, fmt.Errorf("export %q: %w", id, ErrExpired)
	}
	f, err := os.Open(filepath.Join(r.dir, j.File))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("export %q: file gone: %w", id, ErrExpired)
	}
	if err != nil {
		return nil, fmt.Errorf("open export file of %q: %w", id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat export file of %q: %w", id, err)
	}
	return &File{Job: j, Content: f, Size: fi.Size()}, nil
}

// Wait blocks until the job is no longer processing, or ctx is done, and
// returns it.
func (r *Runner) Wait(ctx context.Context, id string) (Job, error) {
	for {
		r.changedMu.Lock()
		ch := r.changed
		r.changedMu.Unlock()
		j, err := r.Job(ctx, id)
		if err != nil || j.Status != StatusProcessing {
			return j, err
		}
		select {
		case <-ctx.Done():
			return j, fmt.Errorf("wait for export %q: %w", id, ctx.Err())
		case <-ch:
		}
	}
}

// broadcast wakes the waiters of Wait.
func (r *Runner) broadcast() {
	r.changedMu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.changedMu.Unlock()
}

func (r *Runner) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-r.queue:
			r.process(ctx, id)
			r.mu.Lock()
			r.queued--
			r.mu.Unlock()
			r.broadcast()
		}
	}
}

// fileName is the name of a job's file: a digest of its ID (any ID makes
// a safe name) and the format's extension.
func fileName(j *Job) string {
	sum := sha256.Sum256([]byte(j.ID))
	return "export-" + hex.EncodeToString(sum[:16]) + j.Request.Format.Ext()
}

// process runs one job and records how it ended. A job interrupted by
// shutdown is left processing: it starts over at the next Open.
func (r *Runner) process(ctx context.Context, id string) {
	j, err := r.store.ExportJob(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("load export job", "export", id, "error", err)
		}
		return
	}
	if j.Status != StatusProcessing {
		return
	}
	progress := new(atomic.Int64)
	r.progress.Store(id, progress)
	defer r.progress.Delete(id)

	start := r.now()
	n, err := r.write(ctx, &j, progress)
	if err != nil && ctx.Err() != nil {
		r.log.Info("export job interrupted; it starts over at the next start", "export", id)
		return
	}
	now := r.now().UTC()
	j.CompletedAt, j.ExpiresAt, j.RowCount = now, now.Add(r.ttl), n
	if err != nil {
		r.log.Error("export job failed", "export", id, "error", err)
		j.Status, j.Error, j.File, j.RowCount = StatusFailed, publicError(err), "", 0
	} else {
		j.Status = StatusCompleted
		r.log.Info("export job completed", "export", id, "rows", n, "duration", now.Sub(start))
	}
	if err := r.store.UpdateExport(ctx, j, StatusProcessing); err != nil && ctx.Err() == nil {
		r.log.Error("record export job end", "export", id, "status", j.Status, "error", err)
	}
}

// publicError is what a failed job tells its client: no path, no data.
func publicError(err error) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, aggregator.ErrStorageFull) {
		return "Export failed: not enough disk space"
	}
	return "Export failed: internal error (see the aggregator's log)"
}

// write writes the job's file: rows page by page into a temporary file,
// synced, then renamed into place. It returns the number of rows.
func (r *Runner) write(ctx context.Context, j *Job, progress *atomic.Int64) (n int64, err error) {
	j.File = fileName(j)
	final := filepath.Join(r.dir, j.File)
	tmp := final + tempSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return 0, fmt.Errorf("create export file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			if rmErr := os.Remove(tmp); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
				r.log.Warn("remove temporary export file", "path", tmp, "error", rmErr)
			}
		}
	}()
	w, err := NewWriter(f, j.Request.Format)
	if err != nil {
		return 0, err
	}
	var cur Cursor
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		page, err := r.store.ExportPage(ctx, PageQuery{Filter: j.Request.Filter, After: cur, Limit: r.pageSize})
		if err != nil {
			return n, fmt.Errorf("read deliveries after %v: %w", cur, err)
		}
		for i := range page.Rows {
			if err := w.Write(&page.Rows[i]); err != nil {
				return n, err
			}
			n++
		}
		progress.Store(n)
		if page.Done {
			break
		}
		if !page.Next.After(cur) {
			return n, fmt.Errorf("BUG: export page did not advance past %v", cur)
		}
		cur = page.Next
	}
	if err := w.Flush(); err != nil {
		return n, err
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("sync export file: %w", err)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("close export file: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return n, fmt.Errorf("rename export file: %w", err)
	}
	if err := syncDir(r.dir); err != nil {
		return n, err
	}
	return n, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open export directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync export directory: %w", err)
	}
	return nil
}

func (r *Runner) janitor(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := r.Expire(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("expire export jobs", "error", err)
		}
	}
}

// Expire runs one janitor pass: it deletes the file of every completed
// job past its ExpiresAt and marks the job expired, then deletes the
// expired and failed jobs more than Retain past their ExpiresAt. It
// returns the number of jobs expired. The janitor calls it every
// JanitorInterval.
func (r *Runner) Expire(ctx context.Context) (int, error) {
	now := r.now()
	due, err := r.store.ExportJobs(ctx, JobQuery{Statuses: []Status{StatusCompleted}, ExpiresBy: now})
	if err != nil {
		return 0, fmt.Errorf("list expired exports: %w", err)
	}
	var (
		n    int
		errs []error
	)
	for _, j := range due {
		if j.File != "" {
			if err := os.Remove(filepath.Join(r.dir, j.File)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove file of export %q: %w", j.ID, err))
				continue
			}
		}
		j.Status, j.File = StatusExpired, ""
		if err := r.store.UpdateExport(ctx, j, StatusCompleted); err != nil {
			errs = append(errs, fmt.Errorf("mark export %q expired: %w", j.ID, err))
			continue
		}
		n++
	}
	deleted, err := r.store.DeleteExports(ctx, JobQuery{
		Statuses: []Status{StatusExpired, StatusFailed}, ExpiresBy: now.Add(-r.retain)})
	if err != nil {
		errs = append(errs, fmt.Errorf("delete old exports: %w", err))
	}
	if n > 0 || deleted > 0 {
		r.log.Info("export jobs expired", "expired", n, "deleted", deleted)
		r.broadcast()
	}
	return n, errors.Join(errs...)
}
