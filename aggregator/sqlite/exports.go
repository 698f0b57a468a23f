package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hooktail/hooktail/aggregator"
	"github.com/hooktail/hooktail/aggregator/export"
)

// This file is the export.Store of the export jobs (SPEC §5.4): the jobs
// table (migration 0003) and the paged read of the deliveries an export
// writes.

var _ export.Store = (*Store)(nil)

// exportColumns are the columns scanExport reads.
const exportColumns = `id, request, body_hash, owner, status, row_count, file,
	created_at, completed_at, expires_at, error`

// scanExport reads one row of exportColumns.
func scanExport(row interface{ Scan(...any) error }) (export.Job, error) {
	var (
		j                             export.Job
		req, status                   string
		created, completed, expiresAt int64
	)
	if err := row.Scan(&j.ID, &req, &j.Hash, &j.Owner, &status, &j.RowCount, &j.File,
		&created, &completed, &expiresAt, &j.Error); err != nil {
		return export.Job{}, err
	}
	if err := json.Unmarshal([]byte(req), &j.Request); err != nil {
		return export.Job{}, fmt.Errorf("decode request of export %q: %w", j.ID, err)
	}
	j.Status = export.Status(status)
	j.CreatedAt, j.CompletedAt, j.ExpiresAt = fromMicros(created), fromMicros(completed), fromMicros(expiresAt)
	return j, nil
}

// exportTx runs fn in one write transaction.
func (s *Store) exportTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return storageError(fmt.Errorf("begin %s: %w", what, err))
	}
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			s.log.Debug("rollback", "op", what, "error", rbErr)
		}
		return storageError(err)
	}
	if err := tx.Commit(); err != nil {
		return storageError(fmt.Errorf("commit %s: %w", what, err))
	}
	s.wrote()
	return nil
}

// CreateExport stores j unless a job with its ID exists, and returns the
// stored job and whether it was created.
func (s *Store) CreateExport(ctx context.Context, j export.Job) (export.Job, bool, error) {
	req, err := json.Marshal(j.Request)
	if err != nil {
		return export.Job{}, false, fmt.Errorf("encode request of export %q: %w", j.ID, err)
	}
	var (
		got     export.Job
		created bool
	)
	err = s.exportTx(ctx, "create export", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO exports (`+exportColumns+`)
			VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING`,
			j.ID, string(req), j.Hash, j.Owner, string(j.Status), j.RowCount, j.File,
			micros(j.CreatedAt), micros(j.CompletedAt), micros(j.ExpiresAt), j.Error)
		if err != nil {
			return fmt.Errorf("insert export %q: %w", j.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("insert export %q: %w", j.ID, err)
		}
		created = n == 1
		got, err = scanExport(tx.QueryRowContext(ctx, "SELECT "+exportColumns+" FROM exports WHERE id = ?", j.ID))
		if err != nil {
			return fmt.Errorf("load export %q: %w", j.ID, err)
		}
		return nil
	})
	if err != nil {
		return export.Job{}, false, err
	}
	return got, created, nil
}

// ExportJob returns one job; aggregator.ErrNotFound if unknown.
func (s *Store) ExportJob(ctx context.Context, id string) (export.Job, error) {
	j, err := scanExport(s.rdb.QueryRowContext(ctx, "SELECT "+exportColumns+" FROM exports WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return export.Job{}, fmt.Errorf("export %q: %w", id, aggregator.ErrNotFound)
	}
	if err != nil {
		return export.Job{}, fmt.Errorf("load export %q: %w", id, err)
	}
	return j, nil
}

// exportJobWhere renders a JobQuery as a WHERE clause (with its LIMIT).
func exportJobWhere(q export.JobQuery) (where string, args []any) {
	var conds []string
	if len(q.Statuses) > 0 {
		conds = append(conds, "status IN ("+placeholders(len(q.Statuses))+")")
		for _, st := range q.Statuses {
			args = append(args, string(st))
		}
	}
	if !q.ExpiresBy.IsZero() {
		conds = append(conds, "expires_at != 0 AND expires_at <= ?")
		args = append(args, micros(q.ExpiresBy))
	}
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	return where, args
}

// ExportJobs returns the jobs q selects, oldest first.
func (s *Store) ExportJobs(ctx context.Context, q export.JobQuery) ([]export.Job, error) {
	where, args := exportJobWhere(q)
	query := "SELECT " + exportColumns + " FROM exports" + where + " ORDER BY created_at, id"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query exports: %w", err)
	}
	var jobs []export.Job
	for rows.Next() {
		j, err := scanExport(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan export: %w", err)
		}
		jobs = append(jobs, j)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("query exports: %w", err)
	}
	return jobs, nil
}

// UpdateExport stores j's status, row count, file, completion, expiry and
// error if the stored job's status is still from; aggregator.ErrNotFound
// otherwise.
func (s *Store) UpdateExport(ctx context.Context, j export.Job, from export.Status) error {
	return s.exportTx(ctx, "update export", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE exports SET status = ?, row_count = ?, file = ?,
			completed_at = ?, expires_at = ?, error = ? WHERE id = ? AND status = ?`,
			string(j.Status), j.RowCount, j.File, micros(j.CompletedAt), micros(j.ExpiresAt), j.Error,
			j.ID, string(from))
		if err != nil {
			return fmt.Errorf("update export %q: %w", j.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("update export %q: %w", j.ID, err)
		}
		if n == 0 {
			return fmt.Errorf("export %q in status %s: %w", j.ID, from, aggregator.ErrNotFound)
		}
		return nil
	})
}

// DeleteExports deletes the jobs q selects and returns their number.
func (s *Store) DeleteExports(ctx context.Context, q export.JobQuery) (int64, error) {
	where, args := exportJobWhere(q)
	query := "DELETE FROM exports" + where
	if q.Limit > 0 {
		query = "DELETE FROM exports WHERE id IN (SELECT id FROM exports" + where + " ORDER BY created_at, id LIMIT ?)"
		args = append(args, q.Limit)
	}
	var n int64
	err := s.exportTx(ctx, "delete exports", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("delete exports: %w", err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return fmt.Errorf("delete exports: %w", err)
		}
		return nil
	})
	return n, err
}

// exportMatch renders a filter, beyond its interval, as an SQL boolean on
// deliveries d (latest attempts) left-joined with their source s. It is
// export.Filter.Match with the timeout rule (aggregator.TimedOut) in SQL:
// state and has_errors are stored without timeout, which depends on the
// source's newest event time and is computed here. timeout <= 0: none.
func exportMatch(f export.Filter, timeout time.Duration) (string, []any) {
	conds := []string{"1"}
	var args []any
	// timedOut is aggregator.TimedOut for the stored state: unfinished,
	// and the source's newest event time at least timeout past the
	// attempt's last entry (in µs, rounded up: times are whole µs).
	timedOut, timedOutArgs := "0", []any(nil)
	if timeout > 0 {
		timedOut = `(d.state NOT IN ('completed', 'failed') AND d.last_entry_at != 0
			AND coalesce(s.newest_at, 0) != 0 AND s.newest_at - d.last_entry_at >= ?)`
		timedOutArgs = []any{(timeout + time.Microsecond - 1) / time.Microsecond}
	}
	switch f.ResultState {
	case export.ResultCompleted:
		conds = append(conds, "d.state = 'completed'")
	case export.ResultFailed:
		conds = append(conds, "(d.state = 'failed' OR "+timedOut+")")
		args = append(args, timedOutArgs...)
	case export.ResultProcessing:
		conds = append(conds, "(d.state NOT IN ('completed', 'failed') AND NOT "+timedOut+")")
		args = append(args, timedOutArgs...)
	}
	if f.HasErrors != nil {
		if *f.HasErrors {
			conds = append(conds, "(d.has_errors != 0 OR "+timedOut+")")
		} else {
			conds = append(conds, "(d.has_errors = 0 AND NOT "+timedOut+")")
		}
		args = append(args, timedOutArgs...)
	}
	if len(f.Operations) > 0 {
		conds = append(conds, "d.event_type IN ("+placeholders(len(f.Operations))+")")
		for _, op := range f.Operations {
			args = append(args, op)
		}
	}
	if services := f.Services(); services != nil {
		if len(services) == 0 {
			conds = append(conds, "0")
		} else {
			conds = append(conds, "s.name IN ("+placeholders(len(services))+")")
			for _, name := range services {
				args = append(args, name)
			}
		}
	}
	return strings.Join(conds, " AND "), args
}

// ExportPage returns the next page of an export in one short read
// transaction. It walks the latest attempts with a known receive time in
// [Since, Till) after q.After, in (received_at, hook_id) order on
// deliveries_latest_received, and examines at most q.Limit of them
// whatever the filter matches, so a selective filter costs many short
// transactions rather than one long one. Only matching deliveries have
// their stored attempt read and decoded.
func (s *Store) ExportPage(ctx context.Context, q export.PageQuery) (export.Page, error) {
	timeout := s.deliveryTimeout()
	limit := q.Limit
	if limit <= 0 {
		limit = export.DefaultPageSize
	}
	cond, args := exportMatch(q.Filter, timeout)
	// The page starts at the cursor's receive time, so that the index
	// seek starts there too (a row-value comparison alone lets SQLite
	// seek to Since and skip every earlier page again).
	where := "d.latest = 1 AND d.received_at != 0 AND d.received_at >= ? AND d.received_at < ?"
	from := micros(q.Filter.Since)
	if !q.After.IsZero() {
		from = max(from, micros(q.After.ReceivedAt))
	}
	args = append(args, from, micros(q.Filter.Till))
	if !q.After.IsZero() {
		where += " AND (d.received_at > ? OR d.hook_id > ?)"
		args = append(args, micros(q.After.ReceivedAt), q.After.HookID)
	}
	args = append(args, limit)

	type match struct {
		hookID string
		fold   string
		newest int64
	}
	var (
		page    export.Page
		matched []match
		seen    int
	)
	err := func() error {
		tx, err := s.rdb.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin export page: %w", err)
		}
		defer tx.Rollback()
		rows, err := tx.QueryContext(ctx, `SELECT d.hook_id, d.received_at, iif(`+cond+`, d.fold, NULL),
			coalesce(s.newest_at, 0)
			FROM deliveries d LEFT JOIN sources s ON s.id = d.source_id
			WHERE `+where+` ORDER BY d.received_at, d.hook_id LIMIT ?`, args...)
		if err != nil {
			return fmt.Errorf("query export page: %w", err)
		}
		for rows.Next() {
			var (
				m    match
				recv int64
				fold sql.NullString
			)
			if err := rows.Scan(&m.hookID, &recv, &fold, &m.newest); err != nil {
				rows.Close()
				return fmt.Errorf("scan export page: %w", err)
			}
			seen++
			page.Next = export.Cursor{ReceivedAt: fromMicros(recv), HookID: m.hookID}
			if fold.Valid {
				m.fold = fold.String
				matched = append(matched, m)
			}
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("query export page: %w", err)
		}
		return nil
	}()
	if err != nil {
		return export.Page{}, err
	}
	page.Done = seen < limit
	page.Rows = make([]export.Row, 0, len(matched))
	for _, m := range matched {
		f, err := decodeFold(m.fold)
		if err != nil {
			return export.Page{}, fmt.Errorf("decode delivery %q: %w", m.hookID, err)
		}
		page.Rows = append(page.Rows, export.Row{
			Delivery:  f.Delivery(fromMicros(m.newest), timeout),
			LastError: f.LastError,
		})
	}
	return page, nil
}
