package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

// Retention is what the store keeps (SPEC §3: retention, max_db_bytes).
//
// Age. An entry's age is its event time (timestamp). When the event time
// cannot date the entry (unknown, before 1970, or more than MaxFutureSkew
// past the time the aggregator received it: a wrong clock or timezone
// would otherwise keep it forever or delete it at once) its age is the time
// its batch was received (Options.Now); entries stored before retention
// existed (schema version 1) whose event time cannot date them count as
// received at the upgrade. A delivery's last activity is the newest age of
// anything stored for its hook_id (entries and webhook_summary records of
// every attempt).
//
// MaxAge. A retention pass deletes every entry whose age is more than
// MaxAge before now (Options.Now), and every hook_id whose last activity
// is: its deliveries (every attempt, with their steps), its summaries and
// any entry of it left. Since a delivery's last activity is at least the
// age of each of its entries, a delivery outlives its entries, never the
// other way round; an entry of a delivery that is still active expires on
// its own (the delivery keeps what was derived from it). File records that
// no entry or summary refers to any more are deleted too.
//
// MaxBytes. When the bytes the database uses (pages in use times the page
// size: the free pages that deletions leave are reused by later writes, so
// the file stops growing but does not shrink) exceed MaxBytes, the pass
// deletes the oldest entries, by age, and then the deliveries whose last
// activity is not newer than the newest entry deleted, until the used
// bytes are at most 90% of MaxBytes. The 10% of hysteresis keeps a
// database at its cap from running a small deletion at every pass.
// Ingest checks the used bytes after each batch and starts a pass as soon
// as they exceed MaxBytes, rather than at the next interval.
//
// Deletions run in short write transactions of at most
// Options.RetentionBatch entries (or 1/16 as many hook_ids) each, and
// give the writer back to ingest between two of them, so neither ingest nor
// reads stall behind a large deletion.
type Retention struct {
	// MaxAge deletes what is older than this; zero keeps everything.
	MaxAge time.Duration
	// MaxBytes caps the bytes the database uses; zero means no cap.
	MaxBytes int64
}

// DefaultRetentionInterval is the default Options.RetentionInterval.
const DefaultRetentionInterval = time.Minute

// DefaultRetentionBatch is the default Options.RetentionBatch: about 2000
// entries (with every index) are a write transaction of a few tens of
// milliseconds.
const DefaultRetentionBatch = 2000

// RetentionResult counts the rows that retention deleted, per table.
type RetentionResult struct {
	Entries    int64
	Summaries  int64
	Deliveries int64 // delivery attempts
	Hooks      int64 // hook_ids
	Files      int64
}

// Total is the number of rows deleted.
func (r RetentionResult) Total() int64 {
	return r.Entries + r.Summaries + r.Deliveries + r.Hooks + r.Files
}

func (r *RetentionResult) add(o RetentionResult) {
	r.Entries += o.Entries
	r.Summaries += o.Summaries
	r.Deliveries += o.Deliveries
	r.Hooks += o.Hooks
	r.Files += o.Files
}

// RetentionTotals counts what the retention passes did since Open.
type RetentionTotals struct {
	// Passes that ran, and those of them that failed.
	Passes   int64
	Failures int64
	Deleted  RetentionResult
}

// retentionCounters are the atomic form of RetentionTotals.
type retentionCounters struct {
	passes, failures                                 atomic.Int64
	entries, summaries, deliveries, hooks, filesRows atomic.Int64
}

func (c *retentionCounters) add(r RetentionResult) {
	c.entries.Add(r.Entries)
	c.summaries.Add(r.Summaries)
	c.deliveries.Add(r.Deliveries)
	c.hooks.Add(r.Hooks)
	c.filesRows.Add(r.Files)
}

func (c *retentionCounters) load() RetentionTotals {
	return RetentionTotals{
		Passes:   c.passes.Load(),
		Failures: c.failures.Load(),
		Deleted: RetentionResult{
			Entries: c.entries.Load(), Summaries: c.summaries.Load(), Deliveries: c.deliveries.Load(),
			Hooks: c.hooks.Load(), Files: c.filesRows.Load(),
		},
	}
}

// lowWatermark is the fraction of MaxBytes a size-driven deletion stops at.
const lowWatermark = 0.9

// noCutoff is a cutoff that every age is before.
const noCutoff = math.MaxInt64

// SetRetention changes the retention policy while the store runs and, when
// a background pass runs, starts one with the new policy.
func (s *Store) SetRetention(r Retention) {
	s.retention.Store(&r)
	s.wakeRetainer()
}

func (s *Store) wakeRetainer() {
	select {
	case s.retainWake <- struct{}{}:
	default:
	}
}

// retainer runs a retention pass at once, then every retainInterval and
// whenever woken, until ctx is done.
func (s *Store) retainer(ctx context.Context) {
	t := time.NewTicker(s.retainInterval)
	defer t.Stop()
	for {
		if _, err := s.Retain(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("retention pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.retainWake:
		}
	}
}

// Retain runs one retention pass with the current policy (see Retention)
// and returns what it deleted, also when it fails part way: what was
// deleted by then stays deleted. Passes do not overlap. A pass that deleted
// something is logged at Info.
func (s *Store) Retain(ctx context.Context) (RetentionResult, error) {
	s.retainMu.Lock()
	defer s.retainMu.Unlock()
	policy := *s.retention.Load()
	if policy.MaxAge <= 0 && policy.MaxBytes <= 0 {
		return RetentionResult{}, nil
	}
	began := time.Now()
	var res RetentionResult
	err := s.retain(ctx, policy, &res)
	s.retained.passes.Add(1)
	s.retained.add(res)
	if err != nil {
		if ctx.Err() == nil { // a pass cut short by Close did not fail
			s.retained.failures.Add(1)
		}
		err = fmt.Errorf("retention pass: %w", err)
	}
	if res.Total() > 0 {
		s.log.Info("retention pass", "entries", res.Entries, "summaries", res.Summaries,
			"deliveries", res.Deliveries, "hooks", res.Hooks, "files", res.Files,
			"took", time.Since(began).Round(time.Millisecond))
	}
	return res, err
}

func (s *Store) retain(ctx context.Context, policy Retention, res *RetentionResult) error {
	if policy.MaxAge > 0 {
		cutoff := micros(s.now().Add(-policy.MaxAge))
		if err := s.deleteEntriesBefore(ctx, cutoff, res); err != nil {
			return err
		}
		if err := s.deleteHooksBefore(ctx, cutoff, res); err != nil {
			return err
		}
	}
	if policy.MaxBytes > 0 {
		if err := s.shrink(ctx, policy.MaxBytes, res); err != nil {
			return err
		}
	}
	if res.Total() == 0 {
		return nil
	}
	if err := s.deleteOrphanFiles(ctx, res); err != nil {
		return err
	}
	if res.Entries > 0 {
		return s.mergeSearchIndex(ctx, searchMergeSteps)
	}
	return nil
}

// Incremental merges of the search index after a deletion: FTS4 only
// records a deleted entry's words as tombstones in new segments, and
// drops them, freeing the pages, when segments merge. Each step merges at
// most searchMergePages pages (a short write transaction, like a
// deletion batch), at most searchMergeSteps steps per pass.
const (
	searchMergePages = 256
	searchMergeSteps = 64
	// shrinkMergeSteps is how many steps follow each deletion batch of
	// a size-driven pass.
	shrinkMergeSteps = 4
)

// mergeSearchIndex runs incremental merges of entries_fts until there is
// nothing left to merge (a step writes fewer than two pages, as the FTS4
// documentation tells) or steps ran.
func (s *Store) mergeSearchIndex(ctx context.Context, steps int) error {
	for range steps {
		var wrote int64
		err := s.writeBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
			var before int64
			if err := tx.QueryRowContext(ctx, "SELECT total_changes()").Scan(&before); err != nil {
				return fmt.Errorf("merge search index: %w", err)
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(
				"INSERT INTO entries_fts (entries_fts) VALUES ('merge=%d,2')", searchMergePages)); err != nil {
				return fmt.Errorf("merge search index: %w", err)
			}
			var after int64
			if err := tx.QueryRowContext(ctx, "SELECT total_changes()").Scan(&after); err != nil {
				return fmt.Errorf("merge search index: %w", err)
			}
			wrote = after - before
			return nil
		})
		if err != nil || wrote < 2 {
			return err
		}
	}
	return nil
}

// deleteEntriesBefore deletes every entry whose age is before cutoff (µs).
func (s *Store) deleteEntriesBefore(ctx context.Context, cutoff int64, res *RetentionResult) error {
	for {
		// Until a batch finds nothing: an entry with both ages can take
		// two places of a batch, which then deletes fewer than it may.
		n, _, _, err := s.deleteOldestEntries(ctx, cutoff)
		res.Entries += n
		if err != nil || n == 0 {
			return err
		}
	}
}

// deleteHooksBefore deletes every hook_id whose last activity is before
// cutoff (µs), with everything stored for it.
func (s *Store) deleteHooksBefore(ctx context.Context, cutoff int64, res *RetentionResult) error {
	for {
		n, err := s.deleteOldestHooks(ctx, cutoff, res)
		if err != nil || n == 0 {
			return err
		}
	}
}

// shrink deletes the oldest entries, then the deliveries no newer than
// them, while the database uses more than lowWatermark of maxBytes, once
// it uses more than maxBytes.
func (s *Store) shrink(ctx context.Context, maxBytes int64, res *RetentionResult) error {
	used, err := s.usedBytes(ctx, s.wdb)
	if err != nil || used <= maxBytes {
		return err
	}
	target := int64(float64(maxBytes) * lowWatermark)
	s.log.Info("database over max_db_bytes, deleting the oldest data",
		"used_bytes", used, "max_db_bytes", maxBytes, "target_bytes", target)
	cutoff := int64(math.MinInt64)
	for used > target {
		n, newest, u, err := s.deleteOldestEntries(ctx, noCutoff)
		res.Entries += n
		if err != nil {
			return err
		}
		used = u
		if n > 0 {
			cutoff = max(cutoff, newest)
			// The search index frees the deleted entries' pages only
			// as its segments merge: merge some before measuring again,
			// or the pass deletes far more than it needs to.
			if err := s.mergeSearchIndex(ctx, shrinkMergeSteps); err != nil {
				return err
			}
			if used, err = s.usedBytes(ctx, s.wdb); err != nil {
				return err
			}
			continue
		}
		// No entries left: the deliveries are what is left to delete.
		h, err := s.deleteOldestHooks(ctx, noCutoff, res)
		if err != nil {
			return err
		}
		if h == 0 {
			s.log.Warn("database over max_db_bytes with nothing left to delete",
				"used_bytes", used, "max_db_bytes", maxBytes)
			return nil
		}
		if used, err = s.usedBytes(ctx, s.wdb); err != nil {
			return err
		}
	}
	if cutoff == math.MinInt64 {
		return nil
	}
	// The deliveries whose last activity is not newer than the newest
	// entry deleted follow their entries.
	return s.deleteHooksBefore(ctx, cutoff+1, res)
}

// deleteOldestEntries deletes, in one transaction, at most retainBatch of
// the oldest entries whose age is before cutoff. It returns how many it
// deleted, the newest age among them, and the bytes the database uses
// afterwards.
func (s *Store) deleteOldestEntries(ctx context.Context, cutoff int64) (n, newest, used int64, err error) {
	err = s.writeBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, recordHighIDSQL); err != nil {
			return fmt.Errorf("record the largest entry id: %w", err)
		}
		rows, err := tx.QueryContext(ctx, deleteOldestEntriesSQL, cutoff, s.retainBatch)
		if err != nil {
			return fmt.Errorf("delete entries: %w", err)
		}
		for rows.Next() {
			var age int64
			if err := rows.Scan(&age); err != nil {
				rows.Close()
				return fmt.Errorf("delete entries: %w", err)
			}
			n++
			newest = max(newest, age)
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("delete entries: %w", err)
		}
		used, err = s.usedBytes(ctx, tx)
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	return n, newest, used, nil
}

// recordHighIDSQL keeps the largest entry id given out before entries are
// deleted: ingest starts past it (migration 0005).
const recordHighIDSQL = `INSERT INTO counters (name, value)
	SELECT 'entries_high_id', coalesce(max(id), 0) FROM entries WHERE true
	ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`

// deleteOldestEntriesSQL deletes the oldest entries (?2 at most) whose age
// is before ?1, and returns their ages. The two halves walk the two ages:
// the event time (entries_ts) and, for the entries it cannot date, the
// receive time (entries_received); an entry with both (a future event
// time) is older by its receive time, which a cutoff reaches first.
const deleteOldestEntriesSQL = `DELETE FROM entries WHERE id IN (
	SELECT id FROM (
		SELECT id, age FROM (SELECT id, ts AS age FROM entries INDEXED BY entries_ts
			WHERE ts > 0 AND ts < ?1 ORDER BY ts LIMIT ?2)
		UNION ALL
		SELECT id, age FROM (SELECT id, received_at AS age FROM entries INDEXED BY entries_received
			WHERE received_at < ?1 ORDER BY received_at LIMIT ?2)
		ORDER BY age LIMIT ?2))
	RETURNING coalesce(received_at, ts)`

// hookBatch is how many hook_ids one transaction deletes at most: each
// brings its deliveries, summaries and (usually none left) entries.
func (s *Store) hookBatch() int {
	return max(1, s.retainBatch/16)
}

// deleteOldestHooks deletes, in one transaction, at most hookBatch of the
// hook_ids whose last activity is before cutoff, oldest first, with
// everything stored for them, and adds the rows to res. It returns the
// number of hook_ids deleted.
func (s *Store) deleteOldestHooks(ctx context.Context, cutoff int64, res *RetentionResult) (int, error) {
	var batch RetentionResult
	err := s.writeBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
		batch = RetentionResult{}
		rows, err := tx.QueryContext(ctx, `SELECT hook_id FROM hooks INDEXED BY hooks_active
			WHERE active_at < ? ORDER BY active_at LIMIT ?`, cutoff, s.hookBatch())
		if err != nil {
			return fmt.Errorf("select expired hooks: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("select expired hooks: %w", err)
			}
			ids = append(ids, id)
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("select expired hooks: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		list, err := json.Marshal(ids)
		if err != nil {
			return fmt.Errorf("encode expired hooks: %w", err)
		}
		// The hooks' entries may hold the newest ids.
		if _, err := tx.ExecContext(ctx, recordHighIDSQL); err != nil {
			return fmt.Errorf("record the largest entry id: %w", err)
		}
		for _, d := range []struct {
			table string
			count *int64
		}{
			{"entries", &batch.Entries},
			{"summaries", &batch.Summaries},
			{"deliveries", &batch.Deliveries},
			{"hooks", &batch.Hooks},
		} {
			r, err := tx.ExecContext(ctx, "DELETE FROM "+d.table+" WHERE hook_id IN (SELECT value FROM json_each(?))", string(list))
			if err != nil {
				return fmt.Errorf("delete expired hooks from %s: %w", d.table, err)
			}
			if *d.count, err = r.RowsAffected(); err != nil {
				return fmt.Errorf("delete expired hooks from %s: %w", d.table, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	res.add(batch)
	return int(batch.Hooks), nil
}

// deleteOrphanFiles deletes the file records that no entry or summary
// refers to any more, and forgets their cached ids.
func (s *Store) deleteOrphanFiles(ctx context.Context, res *RetentionResult) error {
	for {
		var n int
		err := s.writeBatch(ctx, func(ctx context.Context, tx *sql.Tx) error {
			n = 0
			rows, err := tx.QueryContext(ctx, `DELETE FROM files WHERE id IN (
				SELECT f.id FROM files f
				WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.file_id = f.id)
				AND NOT EXISTS (SELECT 1 FROM summaries m WHERE m.file_id = f.id) LIMIT ?)
				RETURNING source_id, fingerprint`, s.retainBatch)
			if err != nil {
				return fmt.Errorf("delete unused files: %w", err)
			}
			var gone []fileKey
			for rows.Next() {
				var k fileKey
				if err := rows.Scan(&k.source, &k.fingerprint); err != nil {
					rows.Close()
					return fmt.Errorf("delete unused files: %w", err)
				}
				gone = append(gone, k)
			}
			if err := closeRows(rows); err != nil {
				return fmt.Errorf("delete unused files: %w", err)
			}
			// s.mu is held: Ingest cannot see the cache in between. A
			// failed commit leaves the rows, and forgetting their ids
			// only costs a lookup.
			for _, k := range gone {
				delete(s.files, k)
			}
			n = len(gone)
			return nil
		})
		res.Files += int64(n)
		if err != nil || n < s.retainBatch {
			return err
		}
	}
}

// writeBatch runs fn in one write transaction on the writer connection,
// between two ingest batches (it holds s.mu), and then yields to the
// goroutines waiting for the writer. It checks ctx before it starts.
func (s *Store) writeBatch(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		// As in Ingest: statements under a context that is never
		// canceled, so that no goroutine watches each of them.
		nocancel := context.WithoutCancel(ctx)
		tx, err := s.wdb.BeginTx(nocancel, nil)
		if err != nil {
			return storageError(fmt.Errorf("begin retention batch: %w", err))
		}
		if err := fn(nocancel, tx); err != nil {
			if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				s.log.Debug("rollback retention batch", "error", rbErr)
			}
			return storageError(err)
		}
		if err := tx.Commit(); err != nil {
			return storageError(fmt.Errorf("commit retention batch: %w", err))
		}
		s.wrote()
		s.truncateWALLocked()
		return nil
	}()
	// sync.Mutex hands itself to a waiter that waited over 1 ms; yielding
	// here lets a waiting Ingest take it without even that.
	runtime.Gosched()
	return err
}

// querier is a connection, a pool or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// usedBytes is what the database uses: its pages that are not on the free
// list, times the page size.
func (s *Store) usedBytes(ctx context.Context, q querier) (int64, error) {
	used, _, err := dbSize(ctx, q)
	return used, err
}

// dbSize returns the bytes of the database's pages in use (not on the free
// list) and of all its pages.
func dbSize(ctx context.Context, q querier) (used, size int64, err error) {
	var pages, free, pageSize int64
	err = q.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count()),
		(SELECT freelist_count FROM pragma_freelist_count()), (SELECT page_size FROM pragma_page_size())`).
		Scan(&pages, &free, &pageSize)
	if err != nil {
		return 0, 0, fmt.Errorf("read database size: %w", err)
	}
	return (pages - free) * pageSize, pages * pageSize, nil
}

// checkSizeLocked starts a retention pass when the database uses more than
// the policy's MaxBytes; it runs after each ingest batch. s.mu must be
// held.
func (s *Store) checkSizeLocked() {
	maxBytes := s.retention.Load().MaxBytes
	if maxBytes <= 0 || s.retainInterval < 0 {
		return
	}
	used, err := s.usedBytes(context.Background(), s.wdb)
	if err != nil {
		s.log.Debug("check database size", "error", err)
		return
	}
	if used > maxBytes {
		s.wakeRetainer()
	}
}

// Usage is a snapshot of what the store uses and what retention did, cheap
// enough to take at every metrics scrape.
type Usage struct {
	// FileBytes and WALBytes are the sizes of the database file and its
	// write-ahead log on disk.
	FileBytes int64
	WALBytes  int64
	// SizeBytes is the database's size, every page counted: what the
	// file is once the WAL is checkpointed into it.
	SizeBytes int64
	// UsedBytes is what the database uses: pages in use times the page
	// size, which Retention.MaxBytes caps. SizeBytes may be larger: the
	// pages that deletions freed stay in the file, for later writes.
	UsedBytes int64
	Retention RetentionTotals
}

// Usage returns the store's current usage. A file that does not exist
// (the WAL after a clean close) counts as 0 bytes.
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	u := Usage{Retention: s.retained.load()}
	var err error
	if u.FileBytes, err = fileSize(s.path); err != nil {
		return Usage{}, err
	}
	if u.WALBytes, err = fileSize(s.walPath); err != nil {
		return Usage{}, err
	}
	if u.UsedBytes, u.SizeBytes, err = dbSize(ctx, s.rdb); err != nil {
		return Usage{}, err
	}
	return u, nil
}

// fileSize is the size of the file at path; 0 if it does not exist.
func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("stat %q: %w", path, err)
	}
	return fi.Size(), nil
}
