package tail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// fingerprintBytes caps the bytes of the first line that make a file's
// fingerprint.
const fingerprintBytes = 256

// inode is where a file lives: device and inode number. While a tailer holds
// a file open its inode cannot be reused, so among the live tailers the
// inode alone identifies a file; the fingerprint tells content apart across
// copytruncate and inode reuse.
type inode struct {
	dev, ino uint64
}

// fingerprint returns the 64-bit FNV-1a hash of f's first line including its
// '\n', capped at the first fingerprintBytes bytes. ok is false while the
// first line is shorter than the cap and not yet complete: such a file has
// no identity yet. With partial, whatever the file starts with is hashed
// (ok is false only for an empty file): the last resort for a file given up
// before its first line was complete.
func fingerprint(f *os.File, partial bool) (fp uint64, ok bool, err error) {
	var b [fingerprintBytes]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, false, fmt.Errorf("read first line of %q: %w", f.Name(), err)
	}
	p := b[:n]
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		p = p[:i+1]
	} else if n < fingerprintBytes && (!partial || n == 0) {
		return 0, false, nil
	}
	return fnv1a(p), true, nil
}

// fnv1a is the 64-bit FNV-1a hash of p.
func fnv1a(p []byte) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for _, c := range p {
		h ^= uint64(c)
		h *= prime64
	}
	return h
}
