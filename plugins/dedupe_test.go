package plugins_test

import (
	"strings"
	"testing"

	"github.com/hooktail/hooktail/plugins"
)

func TestDedupeKey(t *testing.T) {
	const ts = "2026-07-31T10:15:02.101877+00:00"
	key := func(level, msg string) uint64 { return plugins.DedupeKey(ts, level, []byte(msg)) }
	same := func(a, b string) {
		t.Helper()
		if key("INFO", a) != key("INFO", b) {
			t.Errorf("DedupeKey(%q) != DedupeKey(%q), want equal", a, b)
		}
	}
	differ := func(a, b string) {
		t.Helper()
		if key("INFO", a) == key("INFO", b) {
			t.Errorf("DedupeKey(%q) == DedupeKey(%q), want different", a, b)
		}
	}
	// The text copy (colours, trailing reset, traceback lines) and the
	// JSONL copy (plain first line) of one record share the key.
	same("\x1b[38;5;160mrepo\x1b[0m [pull_request][abc][bot][PR 1]: Changed files\x1b[0m\nTraceback (most recent call last):",
		"repo [pull_request][abc][bot][PR 1]: Changed files")
	same(" [push][abc]: Processing webhook\x1b[0m", " [push][abc]: Processing webhook")
	same("trailing spaces   \t\r", "trailing spaces")
	same("\x1b[36m[user] API rate limit:\x1b[39m Current \x1b[32m4821\x1b[39m of 5000.", "[user] API rate limit: Current 4821 of 5000.")
	same("a\nfirst line only matters", "a\nsomething else")
	differ(" [push][abc]: Processing webhook", "[push][abc]: Processing webhook") // leading space is kept
	differ("x", "y")
	differ("", " x")
	if key("INFO", "x") == key("DEBUG", "x") {
		t.Error("the level is not part of the key")
	}
	if plugins.DedupeKey(ts, "INFO", []byte("x")) == plugins.DedupeKey("2026-07-31T10:15:02.101878+00:00", "INFO", []byte("x")) {
		t.Error("the timestamp is not part of the key")
	}
	// Lines longer than the stack buffer, escapes at the very end.
	long := strings.Repeat("y", 2000)
	same(long+"\x1b[0m", long)
	same("x\x1b", "x")
	same("x\x1b[", "x")
}

func FuzzDedupeKey(f *testing.F) {
	f.Add("2026-07-31T10:15:02+00:00", "INFO", []byte("repo [e][h]: msg\x1b[0m\ntrace"))
	f.Add("", "", []byte("\x1b[31m\x1b[47m"))
	f.Fuzz(func(t *testing.T, ts, level string, msg []byte) {
		k := plugins.DedupeKey(ts, level, msg)
		// Stable, and blind to what follows the first line.
		if k != plugins.DedupeKey(ts, level, append(append([]byte(nil), msg...), "\nmore"...)) {
			t.Errorf("key depends on what follows the first line")
		}
	})
}

func BenchmarkDedupeKey(b *testing.B) {
	msg := []byte("\x1b[38;5;160mgithub-webhook-server\x1b[0m [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c][myakove-bot][PR 890]: Adding pull request label size/M\x1b[0m")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		plugins.DedupeKey("2026-07-31T10:15:06.001764+00:00", "INFO", msg)
	}
}
