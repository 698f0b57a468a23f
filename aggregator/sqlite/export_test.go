package sqlite

import "context"

// DeleteOldestHooks runs one transaction of retention's hooks phase, for
// the external tests: ingest can commit between retention's phases.
func DeleteOldestHooks(ctx context.Context, s *Store, cutoff int64) (int, error) {
	var res RetentionResult
	return s.deleteOldestHooks(ctx, cutoff, &res)
}
