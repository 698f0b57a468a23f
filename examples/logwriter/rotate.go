package logwriter

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// rotatingFile writes records to one file and rotates it the way Python's
// logging.handlers.RotatingFileHandler does. It is not safe for
// concurrent use.
type rotatingFile struct {
	path     string
	maxBytes int64
	backups  int
	batch    int // gather whole records into writes of up to batch bytes; 0 = one write per record

	f       *os.File
	size    int64 // file size including pending bytes
	pending []byte
	gen     int // rotations so far

	bytes, writes, rotations int64
}

// openRotatingFile opens (appending to) dir/name.
func openRotatingFile(dir, name string, maxBytes int64, backups, batch int) (*rotatingFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir %q: %w", dir, err)
	}
	rf := &rotatingFile{path: filepath.Join(dir, name), maxBytes: maxBytes, backups: backups, batch: batch}
	if batch > 0 {
		rf.pending = make([]byte, 0, batch)
	}
	if err := rf.open(); err != nil {
		return nil, err
	}
	return rf, nil
}

func (rf *rotatingFile) open() error {
	f, err := os.OpenFile(rf.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("stat log file %q: %w", rf.path, err)
	}
	rf.f, rf.size = f, st.Size()
	return nil
}

// write appends one formatted record (ending in '\n'), rotating first when
// Python would (shouldRollover: a non-empty file and pos + len(msg) >=
// maxBytes). It returns the record's offset and the generation of the file
// it went to.
func (rf *rotatingFile) write(rec []byte) (offset int64, gen int, err error) {
	if rf.maxBytes > 0 && rf.size > 0 && rf.size+pyLen(rec) >= rf.maxBytes {
		if err := rf.rollover(); err != nil {
			return 0, 0, err
		}
	}
	offset = rf.size
	if rf.batch > 0 {
		if len(rf.pending)+len(rec) > rf.batch {
			if err := rf.flush(); err != nil {
				return 0, 0, err
			}
		}
		if len(rec) >= rf.batch {
			err = rf.writeOut(rec)
		} else {
			rf.pending = append(rf.pending, rec...)
		}
	} else {
		err = rf.writeOut(rec)
	}
	if err != nil {
		return 0, 0, err
	}
	rf.size += int64(len(rec))
	return offset, rf.gen, nil
}

// writeOut is one write call.
func (rf *rotatingFile) writeOut(b []byte) error {
	n, err := rf.f.Write(b)
	rf.bytes += int64(n)
	rf.writes++
	if err != nil {
		return fmt.Errorf("write log file %q: %w", rf.path, err)
	}
	return nil
}

// flush writes the pending whole records, if any, in one call.
func (rf *rotatingFile) flush() error {
	if len(rf.pending) == 0 {
		return nil
	}
	err := rf.writeOut(rf.pending)
	rf.pending = rf.pending[:0]
	return err
}

// rollover is RotatingFileHandler.doRollover: close; for i = backups-1 … 1
// rename base.i → base.i+1 (removing an existing destination); rename base
// → base.1; open a new base file (a new inode).
func (rf *rotatingFile) rollover() error {
	if err := rf.flush(); err != nil {
		return err
	}
	if err := rf.f.Close(); err != nil {
		return fmt.Errorf("close log file for rotation: %w", err)
	}
	rf.f = nil
	for i := rf.backups - 1; i >= 0; i-- {
		src := rf.path
		if i > 0 {
			src += "." + strconv.Itoa(i)
		}
		dst := rf.path + "." + strconv.Itoa(i+1)
		if _, err := os.Stat(src); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("rotate %q: %w", src, err)
		}
		if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate: remove %q: %w", dst, err)
		}
		if err := os.Rename(src, dst); err != nil {
			return fmt.Errorf("rotate %q: %w", src, err)
		}
	}
	rf.gen++
	rf.rotations++
	return rf.open()
}

// close flushes and closes the file.
func (rf *rotatingFile) close() error {
	if rf.f == nil {
		return nil
	}
	err := rf.flush()
	if cerr := rf.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close log file: %w", cerr)
	}
	rf.f = nil
	return err
}
