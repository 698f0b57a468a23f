package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// stmtID names a statement prepared once on the writer connection and
// rebound to each ingest transaction.
type stmtID int

const (
	stInsertEntry stmtID = iota
	stInsertEntries4
	stInsertEntries16
	stInsertEntries64
	stProbeOffsetRange
	stProbeOffsets
	stProbeDedupe
	stProbeDedupeRange
	stChanges
	stUpdateFill
	stInsertSummary
	stLoadHook
	stUpsertHook
	stLoadFold
	stUpsertDelivery
	stUpsertSource
	stUpsertFile
	stBumpSource
	stSetAttempt
	stMarkLatest
	stMaxEntryID
	stEntriesHighID
	stInsertEntryAt
	stIndexSearch
)

var writeSQL = map[stmtID]string{
	stInsertEntry:     insertEntriesSQL(1),
	stInsertEntries4:  insertEntriesSQL(chunkSmall),
	stInsertEntries16: insertEntriesSQL(chunkMedium),
	stInsertEntries64: insertEntriesSQL(chunkLarge),
	stChanges:         `SELECT changes()`,
	stProbeOffsetRange: `SELECT byte_offset FROM entries
		WHERE file_id = ? AND byte_offset BETWEEN ? AND ? LIMIT ?`,
	stProbeOffsets: `SELECT e.byte_offset FROM json_each(?2) AS j CROSS JOIN entries AS e
		WHERE e.file_id = ?1 AND e.byte_offset = j.value`,
	stProbeDedupeRange: `SELECT file_id, byte_offset, ts_raw, dedupe_key
		FROM entries INDEXED BY entries_dedupe
		WHERE source_id = ? AND ts_raw BETWEEN ? AND ? AND dedupe_key IS NOT NULL LIMIT ?`,
	// json_each drives: one exact lookup per key in the dedupe index.
	stProbeDedupe: `SELECT e.file_id, e.byte_offset, e.ts_raw, e.dedupe_key
		FROM json_each(?1) AS j CROSS JOIN entries AS e INDEXED BY entries_dedupe
		WHERE e.source_id = ?2 AND e.ts_raw = CAST(unhex(j.value->>0) AS TEXT) AND e.dedupe_key = j.value->>1
		AND e.dedupe_key IS NOT NULL`,
	stUpdateFill: `UPDATE entries SET hook_id = ?, attempt = ?, event_type = ?, repository = ?,
		pr_number = ?, github_user = ?, task_id = ?, task_type = ?, task_status = ?, token_spend = ?,
		step = ?, exc_info = ?, logger = ?, details = ?, completion = ? WHERE id = ?`,
	stInsertSummary: `INSERT INTO summaries (file_id, byte_offset, hook_id, ts, record)
		VALUES (?,?,?,?,?) ON CONFLICT (file_id, byte_offset) DO NOTHING`,
	stLoadHook: `SELECT timeline, max_ts, active_at FROM hooks WHERE hook_id = ?`,
	stUpsertHook: `INSERT INTO hooks (hook_id, timeline, max_ts, attempts, active_at) VALUES (?,?,?,?,?)
		ON CONFLICT (hook_id) DO UPDATE SET timeline = excluded.timeline,
		max_ts = excluded.max_ts, attempts = excluded.attempts, active_at = excluded.active_at`,
	stLoadFold: `SELECT fold FROM deliveries WHERE hook_id = ? AND attempt = ?`,
	stUpsertDelivery: `INSERT INTO deliveries (hook_id, attempt, source_id, state, has_errors,
		received_at, completed_at, last_entry_at, event_type, repository, pr_number, fold)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (hook_id, attempt) DO UPDATE SET source_id = excluded.source_id,
		state = excluded.state, has_errors = excluded.has_errors, received_at = excluded.received_at,
		completed_at = excluded.completed_at, last_entry_at = excluded.last_entry_at,
		event_type = excluded.event_type, repository = excluded.repository,
		pr_number = excluded.pr_number, fold = excluded.fold`,
	stUpsertSource: `INSERT INTO sources (name) VALUES (?)
		ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`,
	stUpsertFile: `INSERT INTO files (source_id, fingerprint, path, agent_id) VALUES (?,?,?,?)
		ON CONFLICT (source_id, fingerprint) DO UPDATE SET source_id = excluded.source_id RETURNING id`,
	stBumpSource: `UPDATE sources SET newest_at = max(newest_at, ?) WHERE id = ?`,
	stSetAttempt: `UPDATE entries SET attempt = ? WHERE id = ?`,
	// Only the rows whose flag changes are written.
	stMarkLatest: `UPDATE deliveries SET latest = iif(attempt = m.top, 1, NULL)
		FROM (SELECT max(attempt) AS top FROM deliveries WHERE hook_id = ?1) AS m
		WHERE hook_id = ?1 AND latest IS NOT iif(attempt = m.top, 1, NULL)`,
	stMaxEntryID: `SELECT coalesce(max(id), 0) FROM entries`,
	// The largest id given out, retention's deletes included (0005).
	stEntriesHighID: `SELECT coalesce((SELECT value FROM counters WHERE name = 'entries_high_id'), 0)`,
	stInsertEntryAt: insertEntryAtSQL,
	// The entries a batch inserted are those past the largest id before
	// it: SQLite gives a new row the largest rowid plus one (it picks
	// another only once rowids reach 2^63-1).
	stIndexSearch: `INSERT INTO entries_fts (docid, message) SELECT id, message FROM entries WHERE id > ?`,
}

// prepare prepares the write statements on the writer connection.
func (s *Store) prepare(ctx context.Context) error {
	s.stmts = make(map[stmtID]*sql.Stmt, len(writeSQL))
	for id, q := range writeSQL {
		st, err := s.wdb.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare statement %d: %w", id, err)
		}
		s.stmts[id] = st
	}
	return nil
}
