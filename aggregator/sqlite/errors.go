package sqlite

import (
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"

	"github.com/hooktail/hooktail/aggregator"
)

// storageError marks err, a failed write, with aggregator.ErrStorageFull
// when SQLite answered SQLITE_FULL (the disk, or the database's
// max_page_count, is full) and with aggregator.ErrStorageIO for
// SQLITE_IOERR, so that callers can tell them apart with errors.Is. Other
// errors are returned as they are.
func storageError(err error) error {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sqlite3.ErrFull:
		return fmt.Errorf("%w: %w", aggregator.ErrStorageFull, err)
	case sqlite3.ErrIoErr:
		return fmt.Errorf("%w: %w", aggregator.ErrStorageIO, err)
	}
	return err
}
