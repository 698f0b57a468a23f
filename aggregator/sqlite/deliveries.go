package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/hooktail/hooktail/aggregator"
)

// Deliveries returns one page of deliveries — the latest attempt of each
// hook_id — newest ReceivedAt first (ties by hook_id, descending), and the
// exact number that match the filter, both read from one snapshot. Each
// delivery carries its steps (they are part of the stored attempt, so the
// page is one query); Attempts is left empty. A Limit of zero or less
// means DefaultLimit.
//
// State and HasErrors filter on what the delivery shows: an unfinished
// attempt past the delivery timeout (see Delivery) is timeout, not pending
// or processing, and has errors. Search matches the messages of the
// attempt's entries as EntryFilter.Search does (see Entries).
func (s *Store) Deliveries(ctx context.Context, q aggregator.DeliveryQuery) (aggregator.DeliveryPage, error) {
	timeout := s.deliveryTimeout()
	where, args := deliveryWhere(q.Filter, timeout.Microseconds())
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	offset := max(q.Offset, 0)

	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return aggregator.DeliveryPage{}, fmt.Errorf("begin deliveries query: %w", err)
	}
	defer tx.Rollback()

	var page aggregator.DeliveryPage
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM deliveries d"+where, args...).Scan(&page.Total); err != nil {
		return aggregator.DeliveryPage{}, fmt.Errorf("count deliveries: %w", err)
	}
	if page.Total <= int64(offset) {
		return page, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT d.hook_id, d.attempt, d.fold,
		coalesce((SELECT newest_at FROM sources WHERE id = d.source_id), 0)
		FROM deliveries d`+where+` ORDER BY d.received_at DESC, d.hook_id DESC LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return aggregator.DeliveryPage{}, fmt.Errorf("query deliveries: %w", err)
	}
	page.Deliveries = make([]aggregator.Delivery, 0, min(int64(limit), page.Total-int64(offset)))
	for rows.Next() {
		var (
			hookID  string
			attempt int
			raw     string
			newest  int64
		)
		if err := rows.Scan(&hookID, &attempt, &raw, &newest); err != nil {
			rows.Close()
			return aggregator.DeliveryPage{}, fmt.Errorf("scan delivery: %w", err)
		}
		f, err := decodeFold(raw)
		if err != nil {
			rows.Close()
			return aggregator.DeliveryPage{}, fmt.Errorf("decode delivery %q attempt %d: %w", hookID, attempt, err)
		}
		page.Deliveries = append(page.Deliveries, f.Delivery(fromMicros(newest), timeout))
	}
	if err := closeRows(rows); err != nil {
		return aggregator.DeliveryPage{}, fmt.Errorf("query deliveries: %w", err)
	}
	return page, nil
}

// deliveryWhere renders a filter as a WHERE clause on deliveries d (latest
// attempts only); timeout is the delivery timeout in µs (<= 0: none).
func deliveryWhere(f aggregator.DeliveryFilter, timeout int64) (string, []any) {
	conds := []string{"d.latest = 1"}
	var args []any
	in := func(col string, n int) {
		conds = append(conds, col+" IN ("+placeholders(n)+")")
	}
	if f.Services != nil {
		if len(f.Services) == 0 {
			conds = append(conds, "0")
		} else {
			conds = append(conds, "d.source_id IN (SELECT id FROM sources WHERE name IN ("+
				placeholders(len(f.Services))+"))")
			for _, name := range f.Services {
				args = append(args, name)
			}
		}
	}
	if f.Repository != "" {
		conds = append(conds, "d.repository = ?")
		args = append(args, f.Repository)
	}
	if len(f.EventTypes) > 0 {
		in("d.event_type", len(f.EventTypes))
		for _, ev := range f.EventTypes {
			args = append(args, ev)
		}
	}
	// timedOut is aggregator.TimedOut for an unfinished stored state,
	// on deliveries alias a.
	timedOut, timedOutArgs := func(string) string { return "0" }, []any(nil)
	if timeout > 0 {
		timedOut = func(a string) string {
			return `(` + a + `.last_entry_at != 0 AND coalesce((SELECT newest_at FROM sources WHERE id = ` + a + `.source_id), 0) != 0
				AND (SELECT newest_at FROM sources WHERE id = ` + a + `.source_id) - ` + a + `.last_entry_at >= ?)`
		}
		timedOutArgs = []any{timeout}
	}
	// The stored states are pending, processing, completed and failed;
	// an IN list of the unfinished ones can use an index.
	unfinished := func(a string) string { return a + ".state IN ('pending', 'processing')" }
	if len(f.States) > 0 {
		var alts []string
		for _, st := range f.States {
			switch st {
			case aggregator.StateCompleted, aggregator.StateFailed:
				alts = append(alts, "d.state = ?")
				args = append(args, string(st))
			case aggregator.StateTimeout:
				alts = append(alts, "("+unfinished("d")+" AND "+timedOut("d")+")")
				args = append(args, timedOutArgs...)
			default:
				alts = append(alts, "(d.state = ? AND NOT "+timedOut("d")+")")
				args = append(args, string(st))
				args = append(args, timedOutArgs...)
			}
		}
		conds = append(conds, "("+strings.Join(alts, " OR ")+")")
	}
	if f.HasErrors != nil {
		// A timed-out attempt has errors whatever was stored. The union
		// keeps both halves on an index (an OR of them would not); the
		// unary plus keeps the set from driving the query (a read of
		// every delivery with errors) so that the other filters' index,
		// or the time order, does; and the unfinished half runs on the
		// state index (few rows), not on has_errors = 0 (most rows).
		if *f.HasErrors {
			conds = append(conds, `+d.rowid IN (SELECT rowid FROM deliveries WHERE latest = 1 AND has_errors = 1
				UNION ALL SELECT x.rowid FROM deliveries x WHERE x.latest = 1 AND +x.has_errors = 0 AND `+
				unfinished("x")+" AND "+timedOut("x")+")")
		} else {
			conds = append(conds, "d.has_errors = 0 AND NOT ("+unfinished("d")+" AND "+timedOut("d")+")")
		}
		args = append(args, timedOutArgs...)
	}
	if f.PRNumber != 0 {
		conds = append(conds, "d.pr_number = ?")
		args = append(args, f.PRNumber)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "d.received_at >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		conds = append(conds, "d.received_at < ?")
		args = append(args, f.Until.UnixMicro())
	}
	if f.Search != "" {
		if m, ok := matchQuery(f.Search); ok {
			// The attempts of the matching entries, as a set of rowids
			// that the other filters' index (or the time order) probes.
			conds = append(conds, `+d.rowid IN (SELECT x.rowid FROM entries e
				CROSS JOIN deliveries x ON x.hook_id = e.hook_id AND x.attempt = e.attempt
				WHERE e.id IN (SELECT docid FROM entries_fts WHERE entries_fts MATCH ?))`)
			args = append(args, m)
		} else {
			conds = append(conds, "0")
		}
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Services lists the names of the sources that have stored entries or
// deliveries, sorted (byte order).
func (s *Store) Services(ctx context.Context) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name FROM sources s
		WHERE EXISTS (SELECT 1 FROM entries e INDEXED BY entries_source_ts WHERE e.source_id = s.id)
		OR EXISTS (SELECT 1 FROM deliveries d WHERE d.source_id = s.id AND d.latest = 1)
		ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("query services: %w", err)
	}
	names := []string{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan service: %w", err)
		}
		names = append(names, name)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("query services: %w", err)
	}
	return names, nil
}
