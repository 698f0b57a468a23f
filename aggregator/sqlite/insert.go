package sqlite

import (
	"database/sql"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hooktail/hooktail/aggregator"
)

// The entry insert is planned in Go and executed in multi-row statements:
// before any insert, one range query per file of the batch finds the
// identities stored already, and one lookup per source finds the stored
// entries that share a dedupe key with the batch. Every other entry is then
// known to be new, so the rows can go to SQLite in chunks (a cgo crossing
// per argument, but one statement step per chunk). The UNIQUE constraint
// still guards the identity: each chunk's RowsAffected must equal its row
// count, or the batch fails and rolls back.

// entryInsertCols are the columns of the multi-row entry insert.
const entryInsertCols = `file_id, byte_offset, source_id, ts, ts_raw, level, logger,
	message, hook_id, attempt, event_type, repository, pr_number, github_user, task_id, task_type,
	task_status, token_spend, step, exc_info, flags, details, completion, dedupe_key, received_at`

// entryInsertArgs is the number of bound arguments per entry row.
const entryInsertArgs = 25

// Row counts of the prepared multi-row inserts. 64 rows are 1600
// arguments, far below SQLITE_MAX_VARIABLE_NUMBER (32766).
const (
	chunkLarge  = 64
	chunkMedium = 16
	chunkSmall  = 4
)

// insertEntriesSQL is a multi-row entry insert of n rows.
func insertEntriesSQL(n int) string {
	row := "(" + placeholders(entryInsertArgs) + ")"
	// OR FAIL: a failing NOT NULL constraint fails the statement without
	// undoing its earlier rows (the batch fails and rolls back anyway),
	// so SQLite needs no statement journal for it.
	return "INSERT OR FAIL INTO entries (" + entryInsertCols + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+",", n), ",") +
		" ON CONFLICT (file_id, byte_offset) DO NOTHING"
}

// insertEntryAtSQL inserts one entry with the id given first: the first
// entry of a batch that must start past ids given out before (0005).
var insertEntryAtSQL = "INSERT OR FAIL INTO entries (id, " + entryInsertCols + ") VALUES (?, " +
	placeholders(entryInsertArgs) + ") ON CONFLICT (file_id, byte_offset) DO NOTHING"

// chunkStmt is the largest prepared insert that n pending rows fill.
func chunkStmt(n int) (stmtID, int) {
	switch {
	case n >= chunkLarge:
		return stInsertEntries64, chunkLarge
	case n >= chunkMedium:
		return stInsertEntries16, chunkMedium
	case n >= chunkSmall:
		return stInsertEntries4, chunkSmall
	default:
		return stInsertEntry, 1
	}
}

// identity is an entry's key in the entries table.
type identity struct {
	file   int64
	offset int64
}

// queueEntry appends the insert arguments of a new entry.
func (w *batchWriter) queueEntry(e *aggregator.Entry, ref entryRef) error {
	completion, err := encodeCompletion(e.Completion)
	if err != nil {
		return invalid(w.cur, err)
	}
	var flags int64
	if e.ParseError {
		flags |= flagParseError
	}
	if e.Truncated {
		flags |= flagTruncated
	}
	var dedupe any
	if e.DedupeKey != 0 {
		dedupe = int64(e.DedupeKey)
	}
	w.args = append(w.args,
		ref.file, e.Offset, ref.source, micros(e.Timestamp), e.TimestampRaw,
		w.boxed.str(colLevel, e.Level), w.boxed.str(colLogger, e.LoggerName), e.Message,
		w.boxed.str(colHook, e.HookID), int64(e.Attempt), w.boxed.str(colEvent, e.EventType),
		w.boxed.str(colRepo, e.Repository), w.boxed.int(e.PRNumber), w.boxed.str(colUser, e.GithubUser),
		nullStr(e.TaskID), nullStr(e.TaskType), nullStr(e.TaskStatus), nullPtr(e.TokenSpend),
		nullStr(e.Step), nullStr(e.ExcInfo), flags, nullDetails(e.Details), completion, dedupe,
		w.receivedAtFor(micros(e.Timestamp)))
	if len(w.args) >= chunkLarge*entryInsertArgs {
		return w.flush()
	}
	return nil
}

// Columns whose values repeat from one entry to the next.
const (
	colLevel = iota
	colLogger
	colHook
	colEvent
	colRepo
	colUser
	nBoxed
)

// boxes reuses the boxed argument of the previous entry for a repeated
// value: boxing a string allocates, and consecutive entries mostly share
// level, logger, hook and prefix fields. Empty strings and zero numbers
// box to nil (NULL).
type boxes struct {
	strs [nBoxed]struct {
		s string
		v any
	}
	pr struct {
		n int64
		v any
	}
}

func (b *boxes) str(col int, s string) any {
	c := &b.strs[col]
	if c.v == nil || c.s != s {
		c.s, c.v = s, nullStr(s)
	}
	return c.v
}

func (b *boxes) int(n int64) any {
	if b.pr.v == nil || b.pr.n != n {
		b.pr.n, b.pr.v = n, nullInt(n)
	}
	return b.pr.v
}

// flush inserts the queued entries and counts them as stored.
func (w *batchWriter) flush() error {
	args := w.args
	if w.startID > 0 && len(args) > 0 {
		// The batch's first row takes startID; SQLite numbers the next
		// ones after it.
		row := append([]any{w.startID}, args[:entryInsertArgs]...)
		if err := w.insertRows(stInsertEntryAt, row, 1); err != nil {
			return err
		}
		w.startID = 0
		args = args[entryInsertArgs:]
	}
	for len(args) > 0 {
		id, n := chunkStmt(len(args) / entryInsertArgs)
		chunk := args[:n*entryInsertArgs]
		args = args[len(chunk):]
		if err := w.insertRows(id, chunk, n); err != nil {
			return err
		}
	}
	clear(w.args) // drop the references for the collector
	w.args = w.args[:0]
	return nil
}

// insertRows runs the insert st of n rows with args.
func (w *batchWriter) insertRows(st stmtID, args []any, n int) error {
	// Query, not Exec: mattn binds a query's arguments and takes its
	// first step (which runs the whole insert) in one cgo crossing,
	// where Exec crosses once per argument.
	rows, err := w.stmt(st).QueryContext(w.ctx, args...)
	if err != nil {
		return fmt.Errorf("insert entries batch: %w", err)
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("insert entries batch: %w", err)
	}
	// changes() is what RowsAffected reports: the rows the insert
	// stored, without those its ON CONFLICT clause skipped.
	var got int64
	if err := w.stmt(stChanges).QueryRowContext(w.ctx).Scan(&got); err != nil {
		return fmt.Errorf("insert entries batch: rows affected: %w", err)
	}
	if got != int64(n) {
		// Cannot happen: the batch holds the only writer and probed
		// the identities in its own transaction.
		return fmt.Errorf("insert entries batch: %d of %d new entries stored", got, n)
	}
	w.res.Stored += n
	return nil
}

// probeIdentities finds which entries of the batch are stored already: per
// file one range scan of the identity index over the batch's offsets
// (agents ship a file's records in order, so the range is usually new),
// with exact lookups when the range holds many other entries.
func (w *batchWriter) probeIdentities(b *aggregator.Batch, refs []entryRef) error {
	byFile := make(map[int64][]int64)
	for i := range b.Entries {
		if !b.Entries[i].Summary {
			byFile[refs[i].file] = append(byFile[refs[i].file], b.Entries[i].Offset)
		}
	}
	for file, offs := range byFile {
		slices.Sort(offs)
		offs = slices.Compact(offs)
		limit := 2*len(offs) + 16
		found, err := w.scanOffsets(w.stmt(stProbeOffsetRange), file, offs[0], offs[len(offs)-1], limit)
		if err != nil {
			return err
		}
		if len(found) >= limit {
			found, err = w.scanOffsets(w.stmt(stProbeOffsets), file, offsetsJSON(offs))
			if err != nil {
				return err
			}
		}
		for _, off := range found {
			w.seen[identity{file, off}] = struct{}{}
		}
	}
	return nil
}

func (w *batchWriter) scanOffsets(st *sql.Stmt, file int64, args ...any) ([]int64, error) {
	rows, err := st.QueryContext(w.ctx, append([]any{file}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("probe identities of file %d: %w", file, err)
	}
	var offs []int64
	for rows.Next() {
		var off int64
		if err := rows.Scan(&off); err != nil {
			rows.Close()
			return nil, fmt.Errorf("probe identities of file %d: %w", file, err)
		}
		offs = append(offs, off)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("probe identities of file %d: %w", file, err)
	}
	return offs, nil
}

func offsetsJSON(offs []int64) string {
	buf := make([]byte, 0, 2+len(offs)*8)
	buf = append(buf, '[')
	for i, off := range offs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendInt(buf, off, 10)
	}
	return string(append(buf, ']'))
}

// probeDedupe loads the stored entries that share a dedupe key (and so the
// timestamp as written, which the key hashes) with a new entry of the
// batch. The dedupe index is ordered by the written timestamp, so new keys
// land next to each other, and per source one range scan over the batch's
// timestamps usually finds nothing at all; a range that holds many other
// entries falls back to exact lookups, one per key.
func (w *batchWriter) probeDedupe(b *aggregator.Batch, refs []entryRef) error {
	type probe struct {
		lo, hi string
		n      int
		keys   []byte // JSON [[hex ts_raw, key], …]
	}
	bySource := make(map[int64]*probe)
	for i := range b.Entries {
		e := &b.Entries[i]
		if e.DedupeKey == 0 || e.Summary {
			continue
		}
		if _, ok := w.seen[identity{refs[i].file, e.Offset}]; ok {
			continue // stored already: a duplicate whatever its key
		}
		p := bySource[refs[i].source]
		if p == nil {
			p = &probe{lo: e.TimestampRaw, hi: e.TimestampRaw, keys: []byte{'['}}
			bySource[refs[i].source] = p
		} else {
			p.lo, p.hi = min(p.lo, e.TimestampRaw), max(p.hi, e.TimestampRaw)
			p.keys = append(p.keys, ',')
		}
		p.n++
		// Hex keeps any bytes of the written timestamp intact.
		p.keys = append(p.keys, '[', '"')
		p.keys = hex.AppendEncode(p.keys, []byte(e.TimestampRaw))
		p.keys = append(p.keys, '"', ',')
		p.keys = strconv.AppendInt(p.keys, int64(e.DedupeKey), 10)
		p.keys = append(p.keys, ']')
	}
	for src, p := range bySource {
		limit := 2*p.n + 16
		n, err := w.scanDedupe(src, w.stmt(stProbeDedupeRange), src, p.lo, p.hi, limit)
		if err != nil {
			return err
		}
		if n >= limit {
			// Too many to keep: forget them and look the keys up.
			maps.DeleteFunc(w.dedupe, func(k dedupeKey, _ []identity) bool { return k.source == src })
			if _, err := w.scanDedupe(src, w.stmt(stProbeDedupe), string(append(p.keys, ']')), src); err != nil {
				return err
			}
		}
	}
	return nil
}

// scanDedupe adds the rows of a dedupe probe to w.dedupe and counts them.
func (w *batchWriter) scanDedupe(src int64, st *sql.Stmt, args ...any) (int, error) {
	rows, err := st.QueryContext(w.ctx, args...)
	if err != nil {
		return 0, fmt.Errorf("probe dedupe keys: %w", err)
	}
	n := 0
	for rows.Next() {
		var (
			m   identity
			raw string
			key int64
		)
		if err := rows.Scan(&m.file, &m.offset, &raw, &key); err != nil {
			rows.Close()
			return 0, fmt.Errorf("probe dedupe keys: %w", err)
		}
		k := dedupeKey{src, raw, key}
		w.dedupe[k] = append(w.dedupe[k], m)
		n++
	}
	if err := closeRows(rows); err != nil {
		return 0, fmt.Errorf("probe dedupe keys: %w", err)
	}
	return n, nil
}
