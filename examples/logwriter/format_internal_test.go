package logwriter

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFormatDuration(t *testing.T) {
	f := func(ms int64, want string, written int64) {
		t.Helper()
		if got := formatDuration(ms); got != want {
			t.Errorf("formatDuration(%d) = %q, want %q", ms, got, want)
		}
		if got := writtenDuration(ms); got != written {
			t.Errorf("writtenDuration(%d) = %d, want %d", ms, got, written)
		}
	}
	f(0, "0ms", 0)
	f(999, "999ms", 999)
	f(1000, "1s", 1000)
	f(7712, "7s712ms", 7712)
	f(1087, "1s87ms", 1087)
	f(192_345, "3m12s", 192_000)
	f(180_000, "3m", 180_000)
	f(3_900_001, "1h5m", 3_900_000)
	f(7_200_000, "2h", 7_200_000)
}

func TestAppendISO(t *testing.T) {
	f := func(tm time.Time, naive bool, want string) {
		t.Helper()
		if got := string(appendISO(nil, tm, naive)); got != want {
			t.Errorf("appendISO(%v, %v) = %q, want %q", tm, naive, got, want)
		}
	}
	f(time.Date(2026, 7, 31, 10, 15, 2, 101877000, time.UTC), false, "2026-07-31T10:15:02.101877+00:00")
	f(time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC), false, "2026-03-15T09:00:00+00:00")
	f(time.Date(2026, 3, 15, 9, 0, 0, 999, time.UTC), false, "2026-03-15T09:00:00+00:00") // below a microsecond
	f(time.Date(2025, 12, 1, 16, 3, 11, 218006000, time.UTC), true, "2025-12-01T16:03:11.218006")
	f(time.Date(2025, 12, 1, 16, 3, 11, 6000, time.UTC), true, "2025-12-01T16:03:11.000006")
	if got, want := pyStr(time.Date(2026, 7, 31, 10, 58, 40, 0, time.UTC)), "2026-07-31 10:58:40+00:00"; got != want {
		t.Errorf("pyStr = %q, want %q", got, want)
	}
}

func TestStripANSI(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := stripANSI(in); got != want {
			t.Errorf("stripANSI(%q) = %q, want %q", in, got, want)
		}
	}
	f("plain", "plain")
	f("\x1b[31m\x1b[47mCRITICAL\x1b[0m", "CRITICAL")
	f("\x1b[36m[u] API rate limit:\x1b[39m Current \x1b[32m4821\x1b[39m of 5000.", "[u] API rate limit: Current 4821 of 5000.")
	f("\x1b[38;5;160mrepo\x1b[0m [e][id]", "repo [e][id]")
	f("trailing\x1b", "trailing")
}

func TestSanitize(t *testing.T) {
	if got, want := sanitize("ci-bot[bot]\nx"), `ci-bot\[bot\] x`; got != want {
		t.Errorf("sanitize = %q, want %q", got, want)
	}
}

func TestPyLen(t *testing.T) {
	if got := pyLen([]byte("a✨b")); got != 3 {
		t.Errorf("pyLen = %d, want 3", got)
	}
}

// FuzzPyJSONString: whatever the string, pyJSON writes a JSON string that
// decodes back to it, with only Python's escapes (non-ASCII as is, no
// \u escapes but for control characters).
func FuzzPyJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote \" backslash \\ slash /", "\n\r\t\b\f\x00\x1f\x7f", "é 🍒 \u2028 <&>", "\x1b[0m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("Python strings are text")
		}
		var j pyJSON
		j.str(s)
		var back string
		if err := json.Unmarshal(j.b, &back); err != nil || back != s {
			t.Fatalf("%q written as %s, read back %q (%v)", s, j.b, back, err)
		}
		for i := 0; i+1 < len(j.b); i++ {
			if j.b[i] == '\\' {
				if j.b[i+1] == 'u' && (i+5 >= len(j.b) || string(j.b[i+2:i+4]) != "00") {
					t.Fatalf("%q written with a non-Python escape: %s", s, j.b)
				}
				i++
			}
		}
	})
}

func TestPyJSONObject(t *testing.T) {
	var j pyJSON
	j.open()
	j.key("a")
	j.int(1)
	j.key("b")
	j.open()
	j.key("c")
	j.null()
	j.key("d")
	j.value(true)
	j.close()
	j.key("e")
	j.strOrNull("")
	j.key("f")
	j.intOrNull(7)
	j.close()
	if got, want := string(j.b), `{"a": 1, "b": {"c": null, "d": true}, "e": null, "f": 7}`; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
