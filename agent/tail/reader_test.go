package tail_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hooktail/hooktail/agent"
	"github.com/hooktail/hooktail/agent/tail"
)

func TestFrameReader(t *testing.T) {
	isStart := func(line []byte) bool { return bytes.HasPrefix(line, []byte("20")) }
	f := func(input string, max int, want ...string) {
		t.Helper()
		var got []string
		var next int64
		err := tail.FrameReader(strings.NewReader(input), tail.FrameOptions{IsStart: isStart, MaxRecordBytes: max}, func(rs []agent.Record) error {
			for _, r := range rs {
				if r.Offset != next {
					t.Errorf("record at %d, want %d", r.Offset, next)
				}
				next = r.End
				got = append(got, string(r.Data))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if next != int64(len(input)) {
			t.Errorf("records end at %d, input is %d bytes", next, len(input))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("FrameReader(%q) = %q, want %q", input, got, want)
		}
	}
	f("", 100)
	f("orphan\n2026 a\ntrace\n2026 b", 100, "orphan", "2026 a\ntrace", "2026 b")
	f("2026 a\n2026 b\n", 100, "2026 a", "2026 b")
	f("2026 abcdef\nmore\n", 4, "2026")
	long := "2026 " + strings.Repeat("x", tail.ReadBufferSize+10) + "\n2026 z\n"
	f(long, tail.ReadBufferSize*2, long[:len(long)-8], "2026 z")
}
