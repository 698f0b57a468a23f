package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/hooktail/hooktail/aggregator"
)

// DefaultLimit is the page size of an EntryQuery without a Limit.
const DefaultLimit = 100

// Entries returns one page of entries and the exact number of entries that
// match the filter, both read from one snapshot. Entries are ordered by
// timestamp, ties broken by id. A Limit of zero or less means DefaultLimit.
// Search matches words of the message (see matchQuery for the syntax).
func (s *Store) Entries(ctx context.Context, q aggregator.EntryQuery) (aggregator.EntryPage, error) {
	where, args := entryWhere(q.Filter, false)
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	offset := max(q.Offset, 0)
	order := " ORDER BY e.ts DESC, e.id DESC"
	if q.Order == aggregator.OldestFirst {
		order = " ORDER BY e.ts ASC, e.id ASC"
	}

	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return aggregator.EntryPage{}, fmt.Errorf("begin entries query: %w", err)
	}
	defer tx.Rollback()

	var page aggregator.EntryPage
	count, countArgs := "SELECT count(*) FROM entries e"+where, args
	if m, ok := searchOnly(q.Filter); ok {
		// Every document of the index is an entry: counting the index
		// alone reads no entry rows.
		count, countArgs = "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH ?", []any{m}
	}
	if err := tx.QueryRowContext(ctx, count, countArgs...).Scan(&page.Total); err != nil {
		return aggregator.EntryPage{}, fmt.Errorf("count entries: %w", err)
	}
	if page.Total <= int64(offset) {
		return page, nil
	}
	if q.Filter.Search != "" && page.Total >= searchWalkMin {
		// Many matches: walk an index in time order and test each entry
		// against the matches, rather than read every match to sort.
		where, args = entryWhere(q.Filter, true)
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+entryColumns+entryFrom+where+order+" LIMIT ? OFFSET ?",
		append(args, limit, offset)...)
	if err != nil {
		return aggregator.EntryPage{}, fmt.Errorf("query entries: %w", err)
	}
	page.Entries = make([]aggregator.Entry, 0, min(int64(limit), page.Total-int64(offset)))
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			rows.Close()
			return aggregator.EntryPage{}, err
		}
		page.Entries = append(page.Entries, e)
	}
	if err := closeRows(rows); err != nil {
		return aggregator.EntryPage{}, fmt.Errorf("query entries: %w", err)
	}
	return page, nil
}

// searchOnly returns the MATCH expression of a filter whose only
// condition is a search with words.
func searchOnly(f aggregator.EntryFilter) (string, bool) {
	if f.Search == "" {
		return "", false
	}
	rest := f
	rest.Search = ""
	if !reflect.ValueOf(rest).IsZero() {
		return "", false
	}
	return matchQuery(f.Search)
}

// searchWalkMin is the number of matches from which a page with a search
// walks an index in time order (testing each entry against the set of
// matches) instead of reading every match by id and sorting them: at 10M
// entries, 25k matches take 0.5 s to read and sort and 10 ms to find by
// the walk, which only stops early when matches are not too rare.
const searchWalkMin = 2000

// entryWhere renders a filter as a WHERE clause on entries e. With
// walkSearch, the search condition is kept from driving the query (the
// planner walks an index that gives the order instead).
func entryWhere(f aggregator.EntryFilter, walkSearch bool) (string, []any) {
	var (
		conds []string
		args  []any
	)
	eq := func(col string, v any) {
		conds = append(conds, col+" = ?")
		args = append(args, v)
	}
	if f.HookID != "" {
		eq("e.hook_id", f.HookID)
	}
	if f.Attempt != 0 {
		eq("e.attempt", f.Attempt)
	}
	if f.Repository != "" {
		eq("e.repository", f.Repository)
	}
	if f.EventType != "" {
		eq("e.event_type", f.EventType)
	}
	if f.GithubUser != "" {
		eq("e.github_user", f.GithubUser)
	}
	if f.Step != "" {
		eq("e.step", f.Step)
	}
	if f.PRNumber != 0 {
		eq("e.pr_number", f.PRNumber)
	}
	if len(f.Levels) > 0 {
		conds = append(conds, "e.level IN ("+placeholders(len(f.Levels))+")")
		for _, l := range f.Levels {
			args = append(args, l)
		}
	}
	if !f.Since.IsZero() {
		conds = append(conds, "e.ts >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		conds = append(conds, "e.ts <= ?")
		args = append(args, f.Until.UnixMicro())
	}
	if f.Search != "" {
		if m, ok := matchQuery(f.Search); ok {
			col := "e.id"
			if walkSearch {
				col = "+e.id" // unary plus: not an index lookup
			}
			conds = append(conds, col+" IN (SELECT docid FROM entries_fts WHERE entries_fts MATCH ?)")
			args = append(args, m)
		} else {
			conds = append(conds, "0")
		}
	}
	if f.Services != nil {
		if len(f.Services) == 0 {
			conds = append(conds, "0")
		} else {
			// With a search, the set of matches drives the query: a
			// source is rarely selective, and its index would make the
			// count walk every entry of the source.
			col := "e.source_id"
			if f.Search != "" {
				col = "+e.source_id"
			}
			conds = append(conds, col+" IN (SELECT id FROM sources WHERE name IN ("+
				placeholders(len(f.Services))+"))")
			for _, name := range f.Services {
				args = append(args, name)
			}
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// Delivery returns the latest attempt of hookID with its steps and the list
// of its attempts. An attempt that is neither completed nor failed shows as
// timeout once its source's newest event time is DeliveryTimeout past the
// attempt's last entry. The source's newest event time only counts entries
// at most MaxFutureSkew past the time the aggregator received them.
func (s *Store) Delivery(ctx context.Context, hookID string) (*aggregator.Delivery, error) {
	timeout := s.deliveryTimeout()
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin delivery query: %w", err)
	}
	defer tx.Rollback()

	rows, err := tx.QueryContext(ctx, `SELECT d.attempt, d.state, d.received_at, d.completed_at,
		d.last_entry_at, coalesce(s.newest_at, 0)
		FROM deliveries d LEFT JOIN sources s ON s.id = d.source_id
		WHERE d.hook_id = ? ORDER BY d.attempt`, hookID)
	if err != nil {
		return nil, fmt.Errorf("query attempts of %q: %w", hookID, err)
	}
	var (
		attempts []aggregator.AttemptSummary
		newest   int64
	)
	for rows.Next() {
		var (
			a                       aggregator.AttemptSummary
			state                   string
			recv, done, last, srcAt int64
		)
		if err := rows.Scan(&a.Attempt, &state, &recv, &done, &last, &srcAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan attempt of %q: %w", hookID, err)
		}
		a.State, a.ReceivedAt, a.CompletedAt = aggregator.State(state), fromMicros(recv), fromMicros(done)
		if aggregator.TimedOut(a.State, fromMicros(last), fromMicros(srcAt), timeout) {
			a.State = aggregator.StateTimeout
		}
		attempts = append(attempts, a)
		newest = srcAt
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("query attempts of %q: %w", hookID, err)
	}
	if len(attempts) == 0 {
		return nil, fmt.Errorf("delivery %q: %w", hookID, aggregator.ErrNotFound)
	}
	latest := attempts[len(attempts)-1].Attempt
	var raw string
	err = tx.QueryRowContext(ctx, "SELECT fold FROM deliveries WHERE hook_id = ? AND attempt = ?", hookID, latest).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("delivery %q: %w", hookID, aggregator.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load delivery %q: %w", hookID, err)
	}
	f, err := decodeFold(raw)
	if err != nil {
		return nil, fmt.Errorf("decode delivery %q: %w", hookID, err)
	}
	d := f.Delivery(fromMicros(newest), timeout)
	d.Attempts = attempts
	return &d, nil
}
