package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hooktail/hooktail/aggregator"
)

// DefaultTailLimit is the page size of a TailQuery without a Limit.
const DefaultTailLimit = 500

// tailWindow bounds the IDs one ascending Tail query walks: a filter that
// matches rarely must not make one catch-up query read the whole table.
// A page cut short by it says More.
const tailWindow = 100_000

// tailFrom is entryFrom with the entries walked by rowid only (NOT
// INDEXED): a live tail asks for the few newest IDs again and again, and
// an index on a filter column (level, repository…) would read every
// matching entry ever stored, each time, to keep the new ones.
const tailFrom = ` FROM entries e NOT INDEXED CROSS JOIN files f ON f.id = e.file_id CROSS JOIN sources s ON s.id = e.source_id`

// Tail returns the entries past q.AfterID that match q.Filter, in ID order,
// read from one snapshot together with the largest ID. An ascending page
// walks the primary key from AfterID (at most tailWindow IDs; with a
// search, the search index's documents in that ID range may drive it). A
// Newest page may use any index: it is asked once per tail. A Limit of
// zero or less means DefaultTailLimit.
func (s *Store) Tail(ctx context.Context, q aggregator.TailQuery) (aggregator.TailPage, error) {
	return s.tail(ctx, q, tailWindow)
}

// tail is Tail with an ascending page walking at most window IDs.
func (s *Store) tail(ctx context.Context, q aggregator.TailQuery, window int64) (aggregator.TailPage, error) {
	if q.Limit <= 0 {
		q.Limit = DefaultTailLimit
	}
	after := max(q.AfterID, 0)

	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return aggregator.TailPage{}, fmt.Errorf("begin tail query: %w", err)
	}
	defer tx.Rollback()
	var top int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM entries").Scan(&top); err != nil {
		return aggregator.TailPage{}, fmt.Errorf("read largest entry id: %w", err)
	}
	page := aggregator.TailPage{LastID: top}
	if top <= after {
		return page, nil
	}
	hi := top
	if !q.Newest && top-after > window { // after+window < top: no overflow
		hi = after + window
	}
	query, args, ok := tailSQL(q, after, hi)
	if !ok {
		// Nothing can match, up to the top.
		return page, nil
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return aggregator.TailPage{}, fmt.Errorf("query entries after id %d: %w", after, err)
	}
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			rows.Close()
			return aggregator.TailPage{}, err
		}
		page.Entries = append(page.Entries, e)
	}
	if err := closeRows(rows); err != nil {
		return aggregator.TailPage{}, fmt.Errorf("query entries after id %d: %w", after, err)
	}
	switch {
	case q.Newest:
		slices.Reverse(page.Entries)
	case len(page.Entries) == q.Limit:
		page.LastID, page.More = page.Entries[len(page.Entries)-1].ID, true
	default:
		page.LastID, page.More = hi, hi < top
	}
	return page, nil
}

// tailSQL renders the query of a Tail page over the IDs after < id <= hi;
// ok is false when nothing can match (a search without a word, an empty
// non-nil Services).
func tailSQL(q aggregator.TailQuery, after, hi int64) (query string, args []any, ok bool) {
	f := q.Filter
	if f.Services != nil && len(f.Services) == 0 {
		return "", nil, false
	}
	search := f.Search
	f.Search = ""
	where, fargs := entryWhere(f, false)
	conds := " WHERE e.id > ? AND e.id <= ?"
	if where != "" {
		conds += " AND " + strings.TrimPrefix(where, " WHERE ")
	}
	args = append([]any{after, hi}, fargs...)
	if search != "" {
		m, ok := matchQuery(search)
		if !ok {
			return "", nil, false
		}
		conds += " AND e.id IN (SELECT docid FROM entries_fts WHERE entries_fts MATCH ? AND docid > ? AND docid <= ?)"
		args = append(args, m, after, hi)
	}
	from, order := tailFrom, " ORDER BY e.id ASC"
	if q.Newest {
		from, order = entryFrom, " ORDER BY e.id DESC"
	}
	return "SELECT " + entryColumns + from + conds + order + " LIMIT ?", append(args, q.Limit), true
}

// LastID returns the largest stored entry ID; 0 when there is none.
func (s *Store) LastID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM entries").Scan(&id); err != nil {
		return 0, fmt.Errorf("read largest entry id: %w", err)
	}
	return id, nil
}

// Changed returns a channel closed once an Ingest that stored or changed
// an entry has committed after the call.
func (s *Store) Changed() <-chan struct{} {
	return s.changed.Wait()
}

// Filled returns a channel closed once an Ingest that completed a stored
// entry from its copy has committed after the call.
func (s *Store) Filled() <-chan struct{} {
	return s.filledSig.Wait()
}
