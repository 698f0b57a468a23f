// Package positions is the agent's durable checkpoint store: for every file
// identity (agent.FileID) the offset up to which the aggregator has
// acknowledged its records, plus the path and source it was last seen under.
//
// The store only stores. Advancing a checkpoint on acknowledgement (never on
// read) is the caller's job (SPEC §6); Commit refuses to move backwards so a
// late acknowledgement of an older batch cannot undo a newer one.
//
// The file is one small JSON document, rewritten atomically by Flush: a temp
// file in the same directory, fsync, rename, fsync of the directory. A file
// that cannot be decoded is renamed aside to "<path>.corrupt-<unix>" with a
// warning and the store starts empty: re-reading is safe because the
// aggregator deduplicates by (source, fingerprint, offset) (SPEC §4).
package positions

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hooktail/hooktail/agent"
)

// formatVersion is the version of the on-disk document.
const formatVersion = 1

// Entry is one checkpoint.
type Entry struct {
	File agent.FileID
	// Offset is where reading resumes: one past the last acknowledged byte.
	Offset int64
	// Path is where the file was when the checkpoint was committed.
	Path string
	// Source is the name of the source the file belongs to.
	Source string
	// Updated is when the checkpoint last changed.
	Updated time.Time
}

// Store holds checkpoints in memory and writes them to one file on Flush.
// All methods are safe for concurrent use.
type Store struct {
	path   string
	logger *slog.Logger
	now    func() time.Time

	// flushMu serialises Flush so two writers never race on the temp file
	// and rename order matches snapshot order.
	flushMu sync.Mutex

	mu sync.Mutex
	// entries is keyed by file identity.
	entries map[agent.FileID]Entry
	// gen counts mutations; flushed is the gen last written to disk.
	gen, flushed uint64

	writes, writeErrors, forgotten atomic.Int64
}

// Stats are the store's counters.
type Stats struct {
	// Entries is the number of checkpoints held now.
	Entries int
	// Writes counts checkpoint files written, WriteErrors failed writes.
	Writes, WriteErrors int64
	// Forgotten counts checkpoints dropped with Forget.
	Forgotten int64
}

// Open loads the checkpoint file at path. A missing file yields an empty
// store; a corrupted one is renamed aside with a warning and also yields an
// empty store. Open fails only when the file exists but cannot be read, or
// when its directory cannot be created. A nil logger means slog.Default().
func Open(path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Store{
		path:    path,
		logger:  logger.With("component", "positions", "path", path),
		now:     time.Now,
		entries: make(map[agent.FileID]Entry),
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create checkpoint directory for %q: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoints %q: %w", path, err)
	}
	entries, err := decode(data)
	if err != nil {
		aside := path + ".corrupt-" + strconv.FormatInt(s.now().Unix(), 10)
		if rerr := os.Rename(path, aside); rerr != nil {
			s.logger.Error("checkpoint file is corrupted and could not be moved aside; starting empty, it will be overwritten",
				"error", err, "rename_error", rerr)
		} else {
			s.logger.Warn("checkpoint file is corrupted; moved aside, starting empty (files are re-read, the aggregator deduplicates)",
				"error", err, "moved_to", aside)
		}
		return s, nil
	}
	for _, e := range entries {
		s.entries[e.File] = e
	}
	s.logger.Debug("checkpoints loaded", "count", len(entries))
	return s, nil
}

// Get returns the checkpointed offset of id.
func (s *Store) Get(id agent.FileID) (offset int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	return e.Offset, ok
}

// Commit records that id has been acknowledged up to offset. A checkpoint
// never moves backwards: an offset below the stored one is ignored, an
// equal one only refreshes path and source. Negative offsets are ignored.
func (s *Store) Commit(id agent.FileID, source, path string, offset int64) {
	if offset < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.entries[id]
	if ok && (offset < old.Offset || (offset == old.Offset && old.Path == path && old.Source == source)) {
		return
	}
	s.entries[id] = Entry{File: id, Offset: offset, Path: path, Source: source, Updated: s.now().UTC()}
	s.gen++
}

// Forget drops the checkpoint of id, for a file that is gone for good.
func (s *Store) Forget(id agent.FileID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[id]; ok {
		delete(s.entries, id)
		s.gen++
		s.forgotten.Add(1)
	}
}

// Stats returns the store's counters. Safe to call at any time.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	n := len(s.entries)
	s.mu.Unlock()
	return Stats{Entries: n, Writes: s.writes.Load(), WriteErrors: s.writeErrors.Load(), Forgotten: s.forgotten.Load()}
}

// Entries returns a snapshot of every checkpoint, ordered by path then
// identity, for garbage collection and diagnostics.
func (s *Store) Entries() []Entry {
	s.mu.Lock()
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e)
	}
	s.mu.Unlock()
	slices.SortFunc(out, compareEntries)
	return out
}

// Flush writes the checkpoints to disk atomically if anything changed since
// the last successful Flush. On error the previous file is left intact and
// the next Flush tries again.
func (s *Store) Flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()

	s.mu.Lock()
	gen := s.gen
	if gen == s.flushed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()

	data, err := encode(s.Entries())
	if err != nil {
		s.writeErrors.Add(1)
		return fmt.Errorf("encode checkpoints: %w", err)
	}
	if err := writeAtomic(s.path, data); err != nil {
		s.writeErrors.Add(1)
		return err
	}
	s.writes.Add(1)
	s.mu.Lock()
	// Mutations that raced with the write bumped gen past the snapshot's and
	// keep the store dirty. Entries() was taken after gen was read, so it
	// holds at least every mutation up to gen.
	s.flushed = max(s.flushed, gen)
	s.mu.Unlock()
	return nil
}

func compareEntries(a, b Entry) int {
	return cmp.Or(
		cmp.Compare(a.Path, b.Path),
		cmp.Compare(a.File.Dev, b.File.Dev),
		cmp.Compare(a.File.Ino, b.File.Ino),
		cmp.Compare(a.File.Fingerprint, b.File.Fingerprint),
	)
}

// document is the on-disk form.
type document struct {
	Version int         `json:"version"`
	Files   []fileEntry `json:"files"`
}

// fileEntry is one checkpoint on disk. The fingerprint is hex so that tools
// which read JSON numbers as float64 do not corrupt it.
type fileEntry struct {
	Dev         uint64    `json:"dev"`
	Ino         uint64    `json:"ino"`
	Fingerprint string    `json:"fingerprint"`
	Offset      int64     `json:"offset"`
	Path        string    `json:"path"`
	Source      string    `json:"source"`
	Updated     time.Time `json:"updated"`
}

func encode(entries []Entry) ([]byte, error) {
	doc := document{Version: formatVersion, Files: make([]fileEntry, 0, len(entries))}
	for _, e := range entries {
		doc.Files = append(doc.Files, fileEntry{
			Dev:         e.File.Dev,
			Ino:         e.File.Ino,
			Fingerprint: fmt.Sprintf("%016x", e.File.Fingerprint),
			Offset:      e.Offset,
			Path:        e.Path,
			Source:      e.Source,
			Updated:     e.Updated,
		})
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// decode parses and validates a checkpoint document. Any inconsistency is an
// error: a half-trusted checkpoint file is worse than none.
func decode(data []byte) ([]Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decode: trailing data after the document")
	}
	if doc.Version != formatVersion {
		return nil, fmt.Errorf("unsupported version %d (want %d)", doc.Version, formatVersion)
	}
	out := make([]Entry, 0, len(doc.Files))
	seen := make(map[agent.FileID]int, len(doc.Files))
	for i, f := range doc.Files {
		fp, err := strconv.ParseUint(f.Fingerprint, 16, 64)
		if err != nil || len(f.Fingerprint) != 16 {
			return nil, fmt.Errorf("file %d: bad fingerprint %q", i, f.Fingerprint)
		}
		if f.Offset < 0 {
			return nil, fmt.Errorf("file %d: negative offset %d", i, f.Offset)
		}
		e := Entry{
			File:    agent.FileID{Dev: f.Dev, Ino: f.Ino, Fingerprint: fp},
			Offset:  f.Offset,
			Path:    f.Path,
			Source:  f.Source,
			Updated: f.Updated,
		}
		if j, dup := seen[e.File]; dup {
			// Never written by Flush; keep the furthest, as Commit would.
			if e.Offset > out[j].Offset {
				out[j] = e
			}
			continue
		}
		seen[e.File] = len(out)
		out = append(out, e)
	}
	return out, nil
}

// writeAtomic replaces path with data so that a crash at any point leaves
// either the old or the new content: temp file in the same directory,
// fsync, rename, fsync of the directory.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file for %q: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %q: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fsync %q: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %q: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename %q to %q: %w", tmp.Name(), path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %q: %w", dir, err)
	}
	return nil
}
