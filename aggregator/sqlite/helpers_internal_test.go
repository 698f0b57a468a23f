package sqlite

import (
	"context"
	"fmt"
)

// CheckSearchIndex runs the FTS4 integrity check of the search index: it
// fails when the index does not hold exactly the words of the stored
// messages (a missed insert, delete or update).
func CheckSearchIndex(ctx context.Context, s *Store) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.wdb.ExecContext(ctx, "INSERT INTO entries_fts (entries_fts) VALUES ('integrity-check')"); err != nil {
		return fmt.Errorf("search index integrity check: %w", err)
	}
	return nil
}
