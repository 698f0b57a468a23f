package tail

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hooktail/hooktail/agent"
)

// rec is the part of a record the framing tests compare.
type rec struct {
	Off, End  int64
	Data      string
	Truncated bool
}

func recs(rs []agent.Record) []rec {
	out := make([]rec, 0, len(rs))
	for _, r := range rs {
		out = append(out, rec{Off: r.Offset, End: r.End, Data: string(r.Data), Truncated: r.Truncated})
	}
	return out
}

// frameAll drives a framer the way a file tailer does: reads of at most
// bufSize bytes, the unconsumed partial line carried to the front, a line
// longer than the whole buffer forced in. At the end it flushes: final
// (the file was given up: a partial last line is emitted too) or idle
// (complete lines only).
func frameAll(input []byte, isStart func([]byte) bool, maxBytes, bufSize int, final bool) []agent.Record {
	f := newFramer(isStart, maxBytes)
	var out []agent.Record
	buf := make([]byte, bufSize)
	carry, pos := 0, 0
	for pos < len(input) {
		n := copy(buf[carry:], input[pos:])
		pos += n
		p := buf[:carry+n]
		var c int
		out, c = f.feed(p, false, out)
		if c == 0 && len(p) == len(buf) {
			out, c = f.feed(p, true, out)
		}
		carry = copy(buf, p[c:])
	}
	if final {
		out, _ = f.feed(buf[:carry], true, out)
	}
	return f.flush(out, final)
}

func tsStart(line []byte) bool { return bytes.HasPrefix(line, []byte("20")) }

func TestFrame(t *testing.T) {
	f := func(name, input string, isStart func([]byte) bool, maxBytes int, final bool, want []rec) {
		t.Helper()
		// Any buffer longer than the longest line gives the same records.
		longest := 0
		for _, l := range strings.SplitAfter(input, "\n") {
			longest = max(longest, len(l))
		}
		for _, bufSize := range []int{longest + 1, longest + 7, 1 << 16} {
			got := recs(frameAll([]byte(input), isStart, maxBytes, bufSize, final))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s (buffer %d): records (-want +got):\n%s", name, bufSize, diff)
			}
		}
	}
	f("start lines and continuation",
		"2026 a\n  cont 1\n  cont 2\n2026 b\n", tsStart, 1<<20, false,
		[]rec{{0, 25, "2026 a\n  cont 1\n  cont 2", false}, {25, 32, "2026 b", false}})
	f("lines before the first start line form their own record",
		"tail of\nan earlier record\n2026 a\n", tsStart, 1<<20, false,
		[]rec{{0, 26, "tail of\nan earlier record", false}, {26, 33, "2026 a", false}})
	f("nil IsStart: every line is a record, empty lines too",
		"a\n\nb\n", nil, 1<<20, false,
		[]rec{{0, 2, "a", false}, {2, 3, "", false}, {3, 5, "b", false}})
	f("cut at MaxRecordBytes, End covers the skipped bytes",
		"2026 abcdef\n more\n2026 b\n", tsStart, 5, false,
		[]rec{{0, 18, "2026 ", true}, {18, 25, "2026 ", true}})
	f("exactly MaxRecordBytes is not truncated",
		"2026 a\n2026 bc\n", tsStart, 7, false,
		[]rec{{0, 7, "2026 a", false}, {7, 15, "2026 bc", false}})
	f("cut backs off to a rune boundary",
		"20€€\n", tsStart, 4, false,
		[]rec{{0, 9, "20", true}})
	f("CRLF is kept as written",
		"2026 a\r\n x\r\n2026 b\r\n", tsStart, 1<<20, false,
		[]rec{{0, 12, "2026 a\r\n x\r", false}, {12, 20, "2026 b\r", false}})
	f("no trailing newline: idle flush keeps the partial line back",
		"2026 a\n more\n2026 b", tsStart, 1<<20, false,
		[]rec{{0, 13, "2026 a\n more", false}})
	f("no trailing newline: final flush emits it",
		"2026 a\n more\n2026 b", tsStart, 1<<20, true,
		[]rec{{0, 13, "2026 a\n more", false}, {13, 19, "2026 b", false}})
	f("partial continuation at the end joins the record on final flush",
		"2026 a\n more", tsStart, 1<<20, true,
		[]rec{{0, 12, "2026 a\n more", false}})
	f("empty input", "", tsStart, 10, true, []rec{})
	f("only newlines before a start", "\n\n2026\n", tsStart, 10, false,
		[]rec{{0, 2, "\n", false}, {2, 7, "2026", false}})
	f("NUL and invalid UTF-8 pass through",
		"2026 \x00\xff\n", tsStart, 100, false,
		[]rec{{0, 8, "2026 \x00\xff", false}})
}

// TestFrameLongLine checks a line longer than the read buffer: it is forced
// in piece by piece, decided start or not on its first piece, and framed
// exactly as with a large buffer.
func TestFrameLongLine(t *testing.T) {
	long := "2026 " + strings.Repeat("x", 100)
	input := "2026 a\n" + long + "\n  cont\n2026 b\n"
	want := []rec{
		{0, 7, "2026 a", false},
		{7, int64(7 + len(long) + 8), long + "\n  cont", false},
		{int64(15 + len(long)), int64(22 + len(long)), "2026 b", false},
	}
	for _, bufSize := range []int{8, 13, 64, 1000} {
		got := recs(frameAll([]byte(input), tsStart, 1<<20, bufSize, false))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("buffer %d: records (-want +got):\n%s", bufSize, diff)
		}
	}
	// Truncated while spanning reads.
	got := recs(frameAll([]byte(input), tsStart, 10, 16, false))
	if got[1].Data != "2026 xxxxx" || !got[1].Truncated || got[1].End != want[1].End {
		t.Fatalf("truncated long record = %+v", got[1])
	}
}

// TestFrameDataDoesNotAlias checks that records survive the caller reusing
// its buffer, and that neighbouring records cannot be grown into each other.
func TestFrameDataDoesNotAlias(t *testing.T) {
	f := newFramer(nil, 1<<20)
	buf := []byte("a\nb\nc")
	out, n := f.feed(buf, false, nil)
	if n != 4 {
		t.Fatalf("consumed %d, want 4", n)
	}
	out = f.flush(out, false)
	for i := range buf {
		buf[i] = 'X'
	}
	if got := recs(out); got[0].Data != "a" || got[1].Data != "b" {
		t.Fatalf("records changed with the buffer: %+v", got)
	}
	_ = append(out[0].Data, 'Z')
	if string(out[1].Data) != "b" {
		t.Fatalf("append to one record's Data overwrote the next: %q", out[1].Data)
	}
}

// referenceFrame is the framing rule written the slow, obvious way, for
// whole input with no buffer limits and a final flush.
func referenceFrame(input []byte, isStart func([]byte) bool, maxBytes int) []rec {
	var out []rec
	open := false
	var cur rec
	var off int64
	for len(input) > 0 {
		i := bytes.IndexByte(input, '\n')
		line := input
		if i >= 0 {
			line = input[:i+1]
		}
		input = input[len(line):]
		content := bytes.TrimSuffix(line, []byte("\n"))
		if !open || isStart == nil || isStart(content) {
			if open {
				out = append(out, cur)
			}
			open = true
			cur = rec{Off: off}
		} else {
			cur.Data += "\n"
		}
		cur.Data += string(content)
		off += int64(len(line))
		cur.End = off
	}
	if open {
		out = append(out, cur)
	}
	for i := range out {
		if len(out[i].Data) > maxBytes {
			out[i].Data = out[i].Data[:cutLen([]byte(out[i].Data), int64(len(out[i].Data)), maxBytes)]
			out[i].Truncated = true
		}
	}
	return out
}

// FuzzFrame checks that the records cover the input exactly, in order, with
// Data equal to the covered bytes (minus the final '\n', cut), whatever the
// read size; and that with reads longer than every line the records equal
// the reference framing.
func FuzzFrame(f *testing.F) {
	f.Add([]byte("2026 a\n  cont\n2026 b\n"), uint16(4096), uint16(1000))
	f.Add([]byte("junk\n2026 x\r\n\n2026 €€€\n trailing"), uint16(5), uint16(3))
	f.Add([]byte("\n\n\n"), uint16(1), uint16(1))
	f.Add([]byte("20"), uint16(2), uint16(0))
	f.Fuzz(func(t *testing.T, input []byte, bufSize, maxBytes uint16) {
		buf := int(bufSize%512) + 1
		maxB := int(maxBytes%64) + 1
		got := frameAll(input, tsStart, maxB, buf, true)
		var at int64
		for i, r := range got {
			if r.Offset != at || r.End <= r.Offset {
				t.Fatalf("record %d covers [%d,%d), want start %d and non-empty", i, r.Offset, r.End, at)
			}
			content := bytes.TrimSuffix(input[r.Offset:r.End], []byte("\n"))
			want := content[:cutLen(content, int64(len(content)), maxB)]
			if !bytes.Equal(r.Data, want) || r.Truncated != (len(content) > maxB) {
				t.Fatalf("record %d [%d,%d): Data=%q truncated=%v, want %q truncated=%v",
					i, r.Offset, r.End, r.Data, r.Truncated, want, len(content) > maxB)
			}
			at = r.End
		}
		if at != int64(len(input)) {
			t.Fatalf("records cover [0,%d), input has %d bytes", at, len(input))
		}
		longest := 0
		for _, l := range bytes.SplitAfter(input, []byte("\n")) {
			longest = max(longest, len(l))
		}
		if buf > longest {
			if diff := cmp.Diff(referenceFrame(input, tsStart, maxB), recs(got), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("records differ from the reference (-want +got):\n%s", diff)
			}
		}
	})
}

// benchInput builds n bytes of upstream-like text log: ~160-byte header
// lines, every tenth followed by a three-line traceback.
func benchInput(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "2026-07-31T10:15:%02d.%06d+00:00 GithubWebhook \x1b[32mINFO\x1b[0m github-webhook-server [pull_request][6143a030-bbd7-11f0-95bd-b07354b8711c]: step %d done\x1b[0m\n", i%60, i%1000000, i)
		if i%10 == 0 {
			b.WriteString("Traceback (most recent call last):\n  File \"/app/webhook_server/app.py\", line 485, in process\nRuntimeError: boom\n")
		}
	}
	return b.Bytes()
}

// isTimestampStart is a start rule of the cost a hand-written parser rule
// has: a few byte comparisons.
func isTimestampStart(line []byte) bool {
	return len(line) >= 20 && line[4] == '-' && line[7] == '-' && line[10] == 'T' &&
		line[0] >= '0' && line[0] <= '9'
}

// BenchmarkFrame frames 8 MiB of log text through 256 KiB reads, the way a
// file tailer does.
func BenchmarkFrame(b *testing.B) {
	input := benchInput(8 << 20)
	const bufSize = 256 << 10
	buf := make([]byte, bufSize)
	b.ReportAllocs()
	b.SetBytes(int64(len(input)))
	var records int
	start := time.Now()
	for b.Loop() {
		f := newFramer(isTimestampStart, 1<<20)
		out := make([]agent.Record, 0, 4096)
		carry, pos := 0, 0
		for pos < len(input) {
			n := copy(buf[carry:], input[pos:])
			pos += n
			p := buf[:carry+n]
			var c int
			out, c = f.feed(p, false, out[:0])
			records += len(out)
			carry = copy(buf, p[c:])
		}
		records += len(f.flush(out[:0], true))
	}
	b.ReportMetric(float64(records)/time.Since(start).Seconds(), "records/s")
}
