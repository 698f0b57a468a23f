package logwriter

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// RotationMethod is how a file that reached Options.MaxBytes is rotated.
type RotationMethod uint8

const (
	// RotateRename is Python's RotatingFileHandler.doRollover, the
	// default: close the file, rename base.(B-1) … base.1 one up (base.B is
	// replaced), rename base to base.1 and open a new base file (a new
	// inode).
	RotateRename RotationMethod = iota
	// RotateCopyTruncate is logrotate's copytruncate: rename base.(B-1) …
	// base.1 one up, copy base to a new base.1 (a new inode with the same
	// bytes at the same offsets), truncate base to zero in place and keep
	// writing through the same descriptor, which has O_APPEND, so the next
	// record lands at offset 0 of the same inode. The writer writes
	// nothing between the copy and the truncation: a live logger would, and
	// whatever it wrote in that window is lost by the method itself,
	// whoever reads the file.
	RotateCopyTruncate
)

// String returns the method's flag name: "rename" or "copytruncate".
func (m RotationMethod) String() string {
	switch m {
	case RotateRename:
		return "rename"
	case RotateCopyTruncate:
		return "copytruncate"
	}
	return "RotationMethod(" + strconv.Itoa(int(m)) + ")"
}

// ParseRotationMethod is the inverse of RotationMethod.String.
func ParseRotationMethod(s string) (RotationMethod, error) {
	switch s {
	case "rename":
		return RotateRename, nil
	case "copytruncate":
		return RotateCopyTruncate, nil
	}
	return 0, fmt.Errorf("unknown rotation method %q (want rename or copytruncate)", s)
}

// rotatingFile writes records to one file and rotates it the way Python's
// logging.handlers.RotatingFileHandler (or logrotate's copytruncate) does.
// It is not safe for concurrent use.
type rotatingFile struct {
	path     string
	maxBytes int64
	backups  int
	method   RotationMethod
	batch    int // gather whole records into writes of up to batch bytes; 0 = one write per record

	f       *os.File
	size    int64 // file size including pending bytes
	pending []byte
	gen     int // rotations so far

	bytes, writes, rotations int64
}

// openRotatingFile opens (appending to) dir/name.
func openRotatingFile(dir, name string, maxBytes int64, backups int, method RotationMethod, batch int) (*rotatingFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir %q: %w", dir, err)
	}
	rf := &rotatingFile{path: filepath.Join(dir, name), maxBytes: maxBytes, backups: backups, method: method, batch: batch}
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

// rollover rotates the file by rf.method; either way the records written
// so far end up in base.1 at the offsets they were written at, and the next
// record goes to offset 0 of base.
func (rf *rotatingFile) rollover() error {
	if err := rf.flush(); err != nil {
		return err
	}
	var err error
	if rf.method == RotateCopyTruncate {
		err = rf.copyTruncate()
	} else {
		err = rf.rename()
	}
	if err != nil {
		return err
	}
	rf.gen++
	rf.rotations++
	return nil
}

// rename is RotatingFileHandler.doRollover: close; for i = backups-1 … 1
// rename base.i → base.i+1 (removing an existing destination); rename base
// → base.1; open a new base file (a new inode).
func (rf *rotatingFile) rename() error {
	if err := rf.f.Close(); err != nil {
		return fmt.Errorf("close log file for rotation: %w", err)
	}
	rf.f = nil
	if err := rf.shift(0); err != nil {
		return err
	}
	return rf.open()
}

// copyTruncate is logrotate's copytruncate: shift the backups one up, copy
// base to a new base.1, truncate base in place. The descriptor stays open;
// with O_APPEND the next write goes to the new end, offset 0.
func (rf *rotatingFile) copyTruncate() error {
	if err := rf.shift(1); err != nil {
		return err
	}
	dst := rf.path + ".1"
	// shift leaves base.1 in place only when backups is 1: replace it by a
	// new inode, as logrotate does, rather than rewrite it.
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("copytruncate: remove %q: %w", dst, err)
	}
	src, err := os.Open(rf.path)
	if err != nil {
		return fmt.Errorf("copytruncate: open %q: %w", rf.path, err)
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("copytruncate: create %q: %w", dst, err)
	}
	if _, err := io.Copy(out, src); err != nil {
		_ = out.Close()
		return fmt.Errorf("copytruncate: copy %q to %q: %w", rf.path, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copytruncate: close %q: %w", dst, err)
	}
	if err := rf.f.Truncate(0); err != nil {
		return fmt.Errorf("copytruncate: truncate %q: %w", rf.path, err)
	}
	rf.size = 0
	return nil
}

// shift renames base.i → base.i+1 for i = backups-1 down to lowest (base
// itself for i = 0), removing an existing destination, so that at most
// backups rotated files are kept. It is Python's loop over every i, done
// over the backups that exist: one directory listing, not backups stats.
func (rf *rotatingFile) shift(lowest int) error {
	dir, name := filepath.Split(rf.path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("rotate: list %q: %w", dir, err)
	}
	var present []int
	for _, e := range ents {
		suffix, ok := strings.CutPrefix(e.Name(), name+".")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(suffix)
		if err != nil || strconv.Itoa(i) != suffix || i < max(lowest, 1) || i > rf.backups-1 {
			continue
		}
		present = append(present, i)
	}
	if lowest == 0 {
		present = append(present, 0)
	}
	slices.Sort(present)
	for _, i := range slices.Backward(present) {
		src := rf.path
		if i > 0 {
			src += "." + strconv.Itoa(i)
		}
		dst := rf.path + "." + strconv.Itoa(i+1)
		if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate: remove %q: %w", dst, err)
		}
		if err := os.Rename(src, dst); err != nil {
			if i == 0 || !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("rotate %q: %w", src, err)
			}
		}
	}
	return nil
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
