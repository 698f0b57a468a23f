package tail

import (
	"errors"
	"fmt"
	"io"

	"github.com/hooktail/hooktail/agent"
)

// FrameOptions configure FrameReader.
type FrameOptions struct {
	// IsStart and MaxRecordBytes as in Options.
	IsStart        func(line []byte) bool
	MaxRecordBytes int
}

// FrameReader frames everything r holds into records, by the same rules as
// a tailer, and hands them to fn in chunks, in order; the last record is
// emitted at EOF even without a final newline. It serves dry runs (the
// agent's parse command) and tests; fn's error stops it and is returned.
func FrameReader(r io.Reader, opts FrameOptions, fn func([]agent.Record) error) error {
	maxBytes := opts.MaxRecordBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxRecordBytes
	}
	f := newFramer(opts.IsStart, maxBytes)
	buf := make([]byte, ReadBufferSize)
	n := 0 // bytes in buf not yet consumed
	var recs []agent.Record
	for {
		m, err := r.Read(buf[n:])
		n += m
		eof := errors.Is(err, io.EOF)
		if err != nil && !eof {
			return fmt.Errorf("read: %w", err)
		}
		// A full buffer without a newline is a long line: force it in.
		force := eof || n == len(buf)
		var used int
		recs, used = f.feed(buf[:n], force, recs[:0])
		n = copy(buf, buf[used:n])
		if eof {
			recs = f.flush(recs, true)
		}
		if len(recs) > 0 {
			if err := fn(recs); err != nil {
				return err
			}
		}
		if eof {
			return nil
		}
	}
}
