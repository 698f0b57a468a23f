package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/hooktail/hooktail/aggregator"
)

// Ingest stores a batch in one transaction and updates the deliveries it
// touches in the same transaction. An entry whose identity (source, file
// fingerprint, offset) is stored already counts as a duplicate, and so does
// the second copy of a record (same source and dedupe key, another file),
// which only fills the stored entry's empty fields. webhook_summary records
// are kept in their own table (counted in Stored/Duplicates like entries)
// and fold into their delivery. Only newly stored records change
// deliveries.
func (s *Store) Ingest(ctx context.Context, b *aggregator.Batch) (aggregator.IngestResult, error) {
	if b == nil || len(b.Entries) == 0 {
		return aggregator.IngestResult{}, nil
	}
	b = normalizeTimes(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return aggregator.IngestResult{}, fmt.Errorf("begin ingest: %w", err)
	}
	// The transaction and its statements run under a context that is never
	// canceled: database/sql watches a cancellable one with a goroutine per
	// transaction and per query (an insert chunk is a query), and mattn
	// with one per statement. The batch checks ctx between records and
	// before the commit instead.
	nocancel := context.WithoutCancel(ctx)
	tx, err := s.wdb.BeginTx(nocancel, nil)
	if err != nil {
		return aggregator.IngestResult{}, storageError(fmt.Errorf("begin ingest: %w", err))
	}
	now := s.now()
	w := &batchWriter{
		s: s, ctx: nocancel, cancel: ctx, tx: tx,
		newestLimit: micros(now.Add(MaxFutureSkew)),
		receivedAt:  now.UnixMicro(),
		stmts:       make(map[stmtID]*sql.Stmt, len(writeSQL)),
		newSources:  make(map[string]int64),
		newFiles:    make(map[fileKey]int64),
		hooks:       make(map[string]*hookState),
		newest:      make(map[int64]int64),
		dedupe:      make(map[dedupeKey][]identity),
		seen:        make(map[identity]struct{}, len(b.Entries)),
		args:        make([]any, 0, chunkLarge*entryInsertArgs),
	}
	w.receivedBox = w.receivedAt
	res, err := w.run(b)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("commit ingest batch: %w", ctx.Err())
	}
	if err != nil {
		err = storageError(err)
		// After SQLITE_FULL or an I/O error SQLite may have rolled the
		// transaction back itself, and then the rollback fails harmlessly.
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			level := slog.LevelWarn
			if errors.Is(err, aggregator.ErrStorageFull) || errors.Is(err, aggregator.ErrStorageIO) {
				level = slog.LevelDebug
			}
			s.log.Log(ctx, level, "rollback ingest", "error", rbErr)
		}
		return aggregator.IngestResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return aggregator.IngestResult{}, storageError(fmt.Errorf("commit ingest batch: %w", err))
	}
	s.wrote()
	if w.filled {
		s.filledSig.Notify()
	}
	if res.Stored > 0 || w.filled {
		s.changed.Notify()
	}
	s.truncateWALLocked()
	s.checkSizeLocked()
	// Only committed ids may enter the caches.
	maps.Copy(s.sources, w.newSources)
	maps.Copy(s.files, w.newFiles)
	return res, nil
}

// normalizeTimes returns b, or a copy of it whose times outside years
// 1..9999 UTC are unknown (aggregator.NormalizeTimes): no time may make the
// JSON of a delivery or summary fail to encode, whoever built the batch.
// The caller's batch is never changed.
func normalizeTimes(b *aggregator.Batch) *aggregator.Batch {
	var out *aggregator.Batch
	for i := range b.Entries {
		e := b.Entries[i]
		if !aggregator.NormalizeTimes(&e) {
			continue
		}
		if out == nil {
			out = &aggregator.Batch{AgentID: b.AgentID, Entries: slices.Clone(b.Entries)}
		}
		out.Entries[i] = e
	}
	if out == nil {
		return b
	}
	return out
}

// ageOf is the age retention gives a record whose event time is t (µs, 0
// unknown): t itself when it dates the record, else the batch's receive
// time. An event time dates a record when it is after 1970 and at most
// MaxFutureSkew past the receive time.
func (w *batchWriter) ageOf(t int64) int64 {
	if t <= 0 || t > w.newestLimit {
		return w.receivedAt
	}
	return t
}

// receivedAtFor is the received_at column of an entry whose timestamp is
// ts (µs): NULL when ts dates the entry, else the receive time.
func (w *batchWriter) receivedAtFor(ts int64) any {
	if ts <= 0 || ts > w.newestLimit {
		return w.receivedBox
	}
	return nil
}

// invalid marks err, an encoding failure of entry index of the batch, as
// one that retrying cannot fix.
func invalid(index int, err error) error {
	return &aggregator.InvalidEntryError{Index: index, Err: err}
}

// batchWriter is the state of one Ingest transaction.
type batchWriter struct {
	s      *Store
	ctx    context.Context // for statements: never canceled
	cancel context.Context // the caller's
	tx     *sql.Tx
	stmts  map[stmtID]*sql.Stmt

	// startID, when not zero, is the id the batch's first new entry
	// takes (see migration 0005).
	startID int64

	newSources map[string]int64
	newFiles   map[fileKey]int64
	hooks      map[string]*hookState
	// newest is the newest event time (µs) per source id in the batch,
	// among the times not after newestLimit.
	newest      map[int64]int64
	newestLimit int64
	// receivedAt is when the batch was received (µs, Options.Now), the
	// age of what its event time cannot date (see ageOf); receivedBox is
	// it boxed once for the inserts.
	receivedAt  int64
	receivedBox any
	// cur is the batch index of the entry being stored.
	cur int
	// filled is set once a copy filled a stored entry's empty fields.
	filled bool
	// dedupe holds the stored entries (before and during the batch) that
	// share a dedupe key with an entry of the batch.
	dedupe map[dedupeKey][]identity
	// seen holds the identities of the batch that are stored, before or
	// by the batch (queued included).
	seen map[identity]struct{}
	// args are the insert arguments of the queued new entries.
	args  []any
	boxed boxes
	res   aggregator.IngestResult
}

// hookState is one hook_id touched by the batch.
type hookState struct {
	id        string
	first     int // batch index of the hook's first entry
	tl        aggregator.Timeline
	oldBounds []int64
	bounds    []int64
	maxTS     int64 // newest event time stored for the hook, µs
	activeAt  int64 // newest age (ageOf) stored for the hook, µs
	changed   bool  // the timeline changed
	refold    bool  // stored entries change attempt: derive the hook anew
	items     []aggregator.Entry
}

func (w *batchWriter) stmt(id stmtID) *sql.Stmt {
	st := w.stmts[id]
	if st == nil {
		st = w.tx.StmtContext(w.ctx, w.s.stmts[id])
		w.stmts[id] = st
	}
	return st
}

type entryRef struct{ source, file int64 }

func (w *batchWriter) run(b *aggregator.Batch) (aggregator.IngestResult, error) {
	refs := make([]entryRef, len(b.Entries))
	for i := range b.Entries {
		e := &b.Entries[i]
		src, err := w.sourceID(e.Source)
		if err != nil {
			return w.res, err
		}
		fid, err := w.fileID(src, e, b.AgentID)
		if err != nil {
			return w.res, err
		}
		refs[i] = entryRef{src, fid}
		// A far-future time (a wrong clock or timezone) must not time
		// out every unfinished delivery of its source.
		if t := micros(aggregator.EventTime(e)); t > w.newest[src] && t <= w.newestLimit {
			w.newest[src] = t
		}
		if e.HookID != "" {
			h, err := w.hook(e.HookID, i)
			if err != nil {
				return w.res, err
			}
			if h.tl.Observe(e) {
				h.changed = true
			}
		}
	}
	for _, h := range w.hooks {
		h.bounds = h.tl.Bounds()
		h.refold = !appendsOnlyAfter(h.oldBounds, h.bounds, h.maxTS)
	}
	if err := w.probeIdentities(b, refs); err != nil {
		return w.res, err
	}
	if err := w.probeDedupe(b, refs); err != nil {
		return w.res, err
	}
	var lastID, highID int64
	if err := w.stmt(stMaxEntryID).QueryRowContext(w.ctx).Scan(&lastID); err != nil {
		return w.res, fmt.Errorf("read largest entry id: %w", err)
	}
	if err := w.stmt(stEntriesHighID).QueryRowContext(w.ctx).Scan(&highID); err != nil {
		return w.res, fmt.Errorf("read largest entry id given out: %w", err)
	}
	if highID > lastID {
		// Retention deleted the newest entries: new ids start past every
		// id given out, never reusing one a live tail may have passed.
		w.startID, lastID = highID+1, highID
	}
	for i := range b.Entries {
		if i%256 == 0 {
			if err := w.cancel.Err(); err != nil {
				return w.res, fmt.Errorf("insert entries batch: %w", err)
			}
		}
		w.cur = i
		if err := w.store(&b.Entries[i], refs[i]); err != nil {
			return w.res, err
		}
	}
	if err := w.flush(); err != nil {
		return w.res, err
	}
	// The search index takes the batch's messages in one statement (a
	// copy's fill does not change a message).
	if _, err := w.stmt(stIndexSearch).ExecContext(w.ctx, lastID); err != nil {
		return w.res, fmt.Errorf("index messages for search: %w", err)
	}
	for _, id := range slices.Sorted(maps.Keys(w.hooks)) {
		if err := w.derive(w.hooks[id]); err != nil {
			return w.res, err
		}
	}
	for src, t := range w.newest {
		if _, err := w.stmt(stBumpSource).ExecContext(w.ctx, t, src); err != nil {
			return w.res, fmt.Errorf("update newest event time of source %d: %w", src, err)
		}
	}
	return w.res, nil
}

// appendsOnlyAfter reports whether the attempt boundaries changed only by
// new boundaries after everything stored (so no stored entry moves).
func appendsOnlyAfter(old, cur []int64, maxTS int64) bool {
	if len(cur) < len(old) || !slices.Equal(old, cur[:len(old)]) {
		return false
	}
	for _, b := range cur[len(old):] {
		if b <= maxTS {
			return false
		}
	}
	return true
}

func (w *batchWriter) sourceID(name string) (int64, error) {
	if id, ok := w.s.sources[name]; ok {
		return id, nil
	}
	if id, ok := w.newSources[name]; ok {
		return id, nil
	}
	var id int64
	if err := w.stmt(stUpsertSource).QueryRowContext(w.ctx, name).Scan(&id); err != nil {
		return 0, fmt.Errorf("upsert source %q: %w", name, err)
	}
	w.newSources[name] = id
	return id, nil
}

func (w *batchWriter) fileID(src int64, e *aggregator.Entry, agentID string) (int64, error) {
	k := fileKey{src, int64(e.Fingerprint)}
	if id, ok := w.s.files[k]; ok {
		return id, nil
	}
	if id, ok := w.newFiles[k]; ok {
		return id, nil
	}
	if e.AgentID != "" {
		agentID = e.AgentID
	}
	var id int64
	if err := w.stmt(stUpsertFile).QueryRowContext(w.ctx, src, k.fingerprint, e.File, agentID).Scan(&id); err != nil {
		return 0, fmt.Errorf("upsert file %q: %w", e.File, err)
	}
	w.newFiles[k] = id
	return id, nil
}

// hook loads (once per batch) the stored timeline of a hook_id.
func (w *batchWriter) hook(id string, index int) (*hookState, error) {
	if h, ok := w.hooks[id]; ok {
		return h, nil
	}
	h := &hookState{id: id, first: index}
	var tl string
	err := w.stmt(stLoadHook).QueryRowContext(w.ctx, id).Scan(&tl, &h.maxTS, &h.activeAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("load hook %q: %w", id, err)
	default:
		if err := json.Unmarshal([]byte(tl), &h.tl); err != nil {
			return nil, fmt.Errorf("decode timeline of hook %q: %w", id, err)
		}
		h.oldBounds = h.tl.Bounds()
	}
	w.hooks[id] = h
	return h, nil
}

// attemptOf is the attempt of an entry of the batch.
func (w *batchWriter) attemptOf(e *aggregator.Entry) int {
	if e.HookID == "" {
		return 0
	}
	return aggregator.AttemptAt(w.hooks[e.HookID].bounds, aggregator.EventTime(e))
}

// store plans one record of the batch: a duplicate is counted, a copy of
// a stored record fills its empty fields, a new entry is queued for the
// multi-row insert (and counted when inserted). Newly stored hook records
// are queued for derivation in batch order.
func (w *batchWriter) store(in *aggregator.Entry, ref entryRef) error {
	e := *in
	e.Completion = sanitizeCompletion(e.Completion)
	e.Attempt = w.attemptOf(&e)
	if e.Summary {
		return w.storeSummary(&e, ref)
	}
	id := identity{ref.file, e.Offset}
	if _, ok := w.seen[id]; ok {
		w.res.Duplicates++
		return nil
	}
	if e.DedupeKey != 0 {
		done, err := w.copyOf(&e, ref)
		if done || err != nil {
			return err
		}
	}
	if err := w.queueEntry(&e, ref); err != nil {
		return err
	}
	w.seen[id] = struct{}{}
	if e.HookID != "" {
		h := w.hooks[e.HookID]
		h.items = append(h.items, e)
	}
	if e.DedupeKey != 0 {
		k := dedupeKey{ref.source, e.TimestampRaw, int64(e.DedupeKey)}
		w.dedupe[k] = append(w.dedupe[k], id)
	}
	return nil
}

// counted counts an insert, queues a stored hook record and reports
// whether the record was stored.
func (w *batchWriter) counted(r sql.Result, e *aggregator.Entry) (bool, error) {
	n, err := r.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert entries batch: rows affected: %w", err)
	}
	if n == 0 {
		w.res.Duplicates++
		return false, nil
	}
	w.res.Stored++
	if e.HookID != "" {
		h := w.hooks[e.HookID]
		h.items = append(h.items, *e)
	}
	return true, nil
}

func (w *batchWriter) storeSummary(e *aggregator.Entry, ref entryRef) error {
	rec, err := json.Marshal(summaryRecord{
		Timestamp: e.Timestamp, EventType: e.EventType, Repository: e.Repository,
		PRNumber: e.PRNumber, GithubUser: e.GithubUser, TokenSpend: e.TokenSpend,
		Completion: e.Completion,
	})
	if err != nil {
		return invalid(w.cur, fmt.Errorf("encode summary: %w", err))
	}
	r, err := w.stmt(stInsertSummary).ExecContext(w.ctx, ref.file, e.Offset, e.HookID,
		micros(aggregator.EventTime(e)), string(rec))
	if err != nil {
		return fmt.Errorf("insert summary: %w", err)
	}
	_, err = w.counted(r, e)
	return err
}

// dedupeKey scopes a dedupe key to its source; the key hashes the
// timestamp as written, which the dedupe index is ordered by.
type dedupeKey struct {
	source int64
	tsRaw  string
	key    int64
}

// copyOf decides about an entry whose dedupe key is known: it reports done
// when e needs no insert, because e is the stored record itself or a copy
// of a record of another file (whose empty fields e then fills).
func (w *batchWriter) copyOf(e *aggregator.Entry, ref entryRef) (bool, error) {
	matches := w.dedupe[dedupeKey{ref.source, e.TimestampRaw, int64(e.DedupeKey)}]
	var other *identity
	for i := range matches {
		m := &matches[i]
		if m.file == ref.file && m.offset == e.Offset {
			w.res.Duplicates++
			return true, nil
		}
		if m.file != ref.file && other == nil {
			other = m
		}
	}
	if other == nil {
		return false, nil // new, or another record of the same file
	}
	w.res.Duplicates++
	// The stored record may be queued still.
	if err := w.flush(); err != nil {
		return true, err
	}
	stored, err := scanEntry(w.tx.QueryRowContext(w.ctx, "SELECT "+entryColumns+entryFrom+
		" WHERE e.file_id = ? AND e.byte_offset = ?", other.file, other.offset))
	if err != nil {
		return true, fmt.Errorf("load entry at offset %d of file %d for its copy: %w", other.offset, other.file, err)
	}
	id := stored.ID
	hadHook := stored.HookID != ""
	if !fillEmpty(&stored, e) {
		return true, nil
	}
	if !hadHook && stored.HookID != "" {
		stored.Attempt = w.attemptOf(&stored)
	}
	completion, err := encodeCompletion(stored.Completion)
	if err != nil {
		return true, invalid(w.cur, err)
	}
	_, err = w.stmt(stUpdateFill).ExecContext(w.ctx, nullStr(stored.HookID), stored.Attempt,
		nullStr(stored.EventType), nullStr(stored.Repository), nullInt(stored.PRNumber),
		nullStr(stored.GithubUser), nullStr(stored.TaskID), nullStr(stored.TaskType),
		nullStr(stored.TaskStatus), nullPtr(stored.TokenSpend), nullStr(stored.Step),
		nullStr(stored.ExcInfo), nullStr(stored.LoggerName), nullDetails(stored.Details), completion, id)
	if err != nil {
		return true, fmt.Errorf("fill entry %d from its copy: %w", id, err)
	}
	w.filled = true
	if !hadHook && stored.HookID != "" {
		// The entry joins a delivery only now.
		h := w.hooks[stored.HookID]
		h.items = append(h.items, stored)
	}
	return true, nil
}

// derive brings the deliveries of one hook up to date with the batch.
func (w *batchWriter) derive(h *hookState) error {
	if len(h.items) == 0 && !h.changed {
		return nil
	}
	for i := range h.items {
		t := micros(aggregator.EventTime(&h.items[i]))
		h.maxTS = max(h.maxTS, t)
		h.activeAt = max(h.activeAt, w.ageOf(t))
	}
	if h.activeAt == 0 {
		h.activeAt = w.receivedAt
	}
	attempts := len(h.bounds) + 1
	if h.refold {
		var err error
		if attempts, err = w.refold(h); err != nil {
			return err
		}
	} else {
		byAttempt := make(map[int][]*aggregator.Entry)
		for i := range h.items {
			e := &h.items[i]
			byAttempt[e.Attempt] = append(byAttempt[e.Attempt], e)
		}
		for _, a := range slices.Sorted(maps.Keys(byAttempt)) {
			f, err := w.loadFold(h.id, a)
			if err != nil {
				return err
			}
			for _, e := range byAttempt[a] {
				f.Apply(e)
			}
			if err := w.saveFold(f, h.first); err != nil {
				return err
			}
		}
	}
	if _, err := w.stmt(stMarkLatest).ExecContext(w.ctx, h.id); err != nil {
		return fmt.Errorf("mark latest attempt of hook %q: %w", h.id, err)
	}
	tl, err := json.Marshal(h.tl)
	if err != nil {
		return invalid(h.first, fmt.Errorf("encode timeline of hook %q: %w", h.id, err))
	}
	if _, err := w.stmt(stUpsertHook).ExecContext(w.ctx, h.id, string(tl), h.maxTS, attempts, h.activeAt); err != nil {
		return fmt.Errorf("save hook %q: %w", h.id, err)
	}
	return nil
}

func (w *batchWriter) loadFold(hookID string, attempt int) (*aggregator.AttemptFold, error) {
	var raw string
	err := w.stmt(stLoadFold).QueryRowContext(w.ctx, hookID, attempt).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return aggregator.NewAttemptFold(hookID, attempt), nil
	}
	if err != nil {
		return nil, fmt.Errorf("load delivery %q attempt %d: %w", hookID, attempt, err)
	}
	f, err := decodeFold(raw)
	if err != nil {
		return nil, fmt.Errorf("decode delivery %q attempt %d: %w", hookID, attempt, err)
	}
	return f, nil
}

// saveFold stores a delivery attempt; index is the batch index its
// encoding failure is blamed on.
func (w *batchWriter) saveFold(f *aggregator.AttemptFold, index int) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return invalid(index, fmt.Errorf("encode delivery %q attempt %d: %w", f.HookID, f.Attempt, err))
	}
	d := f.Delivery(time.Time{}, 0)
	var src any
	if d.Service != "" || f.EntryCount > 0 {
		id, err := w.sourceID(d.Service)
		if err != nil {
			return err
		}
		src = id
	}
	_, err = w.stmt(stUpsertDelivery).ExecContext(w.ctx, f.HookID, f.Attempt, src, string(d.State),
		d.HasErrors, micros(d.ReceivedAt), micros(d.CompletedAt), micros(d.LastEntryAt),
		nullStr(d.EventType), nullStr(d.Repository), nullInt(d.PRNumber), string(raw))
	if err != nil {
		return fmt.Errorf("save delivery %q attempt %d: %w", f.HookID, f.Attempt, err)
	}
	return nil
}

// refold derives a hook anew from everything stored for it (used when the
// batch moved attempt boundaries across stored entries), renumbering the
// entries whose attempt changed. It returns the number of attempts.
func (w *batchWriter) refold(h *hookState) (int, error) {
	var all []aggregator.Entry
	rows, err := w.tx.QueryContext(w.ctx, "SELECT "+entryColumns+entryFrom+" WHERE e.hook_id = ?", h.id)
	if err != nil {
		return 0, fmt.Errorf("load entries of hook %q: %w", h.id, err)
	}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		all = append(all, e)
	}
	if err := closeRows(rows); err != nil {
		return 0, fmt.Errorf("load entries of hook %q: %w", h.id, err)
	}
	nEntries := len(all)
	rows, err = w.tx.QueryContext(w.ctx, `SELECT s.name, m.hook_id, m.record FROM summaries m
		JOIN files f ON f.id = m.file_id JOIN sources s ON s.id = f.source_id WHERE m.hook_id = ?`, h.id)
	if err != nil {
		return 0, fmt.Errorf("load summaries of hook %q: %w", h.id, err)
	}
	for rows.Next() {
		var src, hookID, raw string
		if err := rows.Scan(&src, &hookID, &raw); err != nil {
			rows.Close()
			return 0, fmt.Errorf("scan summary: %w", err)
		}
		var rec summaryRecord
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			rows.Close()
			return 0, fmt.Errorf("decode summary of hook %q: %w", h.id, err)
		}
		if rec.Completion != nil {
			normalizeSteps(rec.Completion.Steps)
		}
		all = append(all, aggregator.Entry{Source: src, HookID: hookID, Summary: true,
			Timestamp: rec.Timestamp, EventType: rec.EventType, Repository: rec.Repository,
			PRNumber: rec.PRNumber, GithubUser: rec.GithubUser, TokenSpend: rec.TokenSpend,
			Completion: rec.Completion})
	}
	if err := closeRows(rows); err != nil {
		return 0, fmt.Errorf("load summaries of hook %q: %w", h.id, err)
	}
	stored := make([]int, nEntries)
	for i := range nEntries {
		stored[i] = all[i].Attempt
	}
	tl, folds := aggregator.DeriveHook(h.id, all)
	h.tl = tl
	for i := range nEntries {
		if all[i].Attempt != stored[i] {
			if _, err := w.stmt(stSetAttempt).ExecContext(w.ctx, all[i].Attempt, all[i].ID); err != nil {
				return 0, fmt.Errorf("renumber entry %d: %w", all[i].ID, err)
			}
		}
	}
	if _, err := w.tx.ExecContext(w.ctx, "DELETE FROM deliveries WHERE hook_id = ?", h.id); err != nil {
		return 0, fmt.Errorf("reset deliveries of hook %q: %w", h.id, err)
	}
	for _, f := range folds {
		if f == nil {
			continue
		}
		if err := w.saveFold(f, h.first); err != nil {
			return 0, err
		}
	}
	return len(folds), nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	return errors.Join(err, rows.Close())
}
