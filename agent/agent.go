// Package agent is the sidecar's domain: files identified across rotation,
// the records framed from them, and the pipeline that carries records from
// bytes to parsed entries, to acknowledged batches, to checkpoints.
package agent

import (
	"fmt"

	"github.com/hooktail/hooktail/plugins"
)

// FileID identifies one file's content across renames: the device and inode
// it lives on plus a fingerprint of its first bytes, so that rename rotation
// keeps the identity and copytruncate or inode reuse does not.
type FileID struct {
	Dev         uint64
	Ino         uint64
	Fingerprint uint64
}

func (id FileID) String() string {
	return fmt.Sprintf("%d:%d:%016x", id.Dev, id.Ino, id.Fingerprint)
}

// Record is one framed record of one file: a first line that matched the
// parser's start rule plus its continuation lines.
type Record struct {
	Source string
	File   FileID
	// Path is where the file was when the record was read.
	Path string
	// Offset is the byte offset of the record's first byte; End is one past
	// its last byte including the final newline, where reading resumes.
	Offset int64
	End    int64
	// Data is the record's lines joined by '\n' without the final newline,
	// cut at the source's max_record_bytes.
	Data []byte
	// Truncated is set when Data was cut.
	Truncated bool
}

// Entry is a parsed record on its way to the aggregator: the parser's entry
// plus the identity and position of the record it came from.
type Entry struct {
	Source string
	File   FileID
	Path   string
	Offset int64
	// End is where reading resumes after this record: once the entry is
	// acknowledged, the file's checkpoint may move to End.
	End    int64
	Parsed plugins.Entry
}
