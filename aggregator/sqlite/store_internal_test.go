package sqlite

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hooktail/hooktail/aggregator"
)

// TestWriterSynchronousFull checks that a commit is durable when Ingest
// returns (the agent then advances its checkpoint): in WAL mode only
// synchronous=FULL syncs the WAL at every commit.
func TestWriterSynchronousFull(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "hooktail.db"), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode int
	if err := s.wdb.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if got, want := mode, 2; got != want { // 2 is FULL
		t.Errorf("writer PRAGMA synchronous = %d, want %d (FULL)", got, want)
	}
}

// TestEncodeFailureIsInvalidEntry checks that an encoding failure, which
// retrying cannot fix, is an aggregator.InvalidEntryError naming the entry.
func TestEncodeFailureIsInvalidEntry(t *testing.T) {
	f := aggregator.NewAttemptFold("h", 1)
	f.LastEntryAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // JSON cannot write it
	err := (&batchWriter{}).saveFold(f, 3)
	if !errors.Is(err, aggregator.ErrInvalidEntry) {
		t.Fatalf("saveFold() = %v, want an ErrInvalidEntry", err)
	}
	if invalid, ok := errors.AsType[*aggregator.InvalidEntryError](err); !ok || invalid.Index != 3 {
		t.Errorf("saveFold() = %#v, want an InvalidEntryError of entry 3", err)
	}
}
