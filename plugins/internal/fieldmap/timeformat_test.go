package fieldmap_test

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests read named zones

	"github.com/hooktail/hooktail/plugins/internal/fieldmap"
)

func TestParseTimeFormat(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "auto", want: "auto"},
		{in: "RFC3339", want: "rfc3339"},
		{in: "unix", want: "unix"},
		{in: "Unix_MS", want: "unix_ms"},
		{in: "unix_us", want: "unix_us"},
		{in: "unix_ns", want: "unix_ns"},
		{in: "2006-01-02 15:04:05,000", want: "2006-01-02 15:04:05,000"},
		{in: "Jan _2 2006 15:04:05 MST", want: "Jan _2 2006 15:04:05 MST"},
		{in: "", err: "no layout element"},
		{in: "iso8601", err: "the named formats are auto, rfc3339"},
		{in: "iso", err: "neither a named format"},
		{in: "Jan _2 15:04:05", err: "no year"},
		{in: "2006-01-02 15:04:05 Z07", want: "2006-01-02 15:04:05 Z07"},
	} {
		tf, err := fieldmap.ParseTimeFormat(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseTimeFormat(%q) error = %v, want one saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTimeFormat(%q): %v", tc.in, err)
			continue
		}
		if got := tf.String(); got != tc.want {
			t.Errorf("ParseTimeFormat(%q).String()=%q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTimeFormatParse(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatalf("load location: %v", err)
	}
	us := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("bad test time %q: %v", s, err)
		}
		return tm.UnixMicro()
	}
	ref := us("2026-07-31T10:15:02.101877Z")
	sec := us("2026-07-31T10:15:02Z")
	for _, tc := range []struct {
		format, in string
		loc        *time.Location
		want       int64
		ok         bool
	}{
		{"auto", "2026-07-31T10:15:02.101877Z", nil, ref, true},
		{"auto", "  2026-07-31T10:15:02.101877Z ", nil, ref, true},
		{"auto", "2026-07-31t10:15:02.101877z", nil, ref, true},
		{"auto", "2026-07-31 10:15:02.101877+00:00", nil, ref, true},
		{"auto", "2026-07-31T12:15:02.101877+02:00", nil, ref, true},
		{"auto", "2026-07-31T12:15:02.101877+0200", nil, ref, true},
		{"auto", "2026-07-31T12:15:02.101877+02", nil, ref, true},
		{"auto", "2026-07-31T06:15:02.101877-04:00", nil, ref, true},
		{"auto", "2026-07-31T10:15:02,101877", nil, ref, true},
		{"auto", "2026-07-31T10:15:02.1018779999", nil, ref, true},
		{"auto", "2026-07-31T06:15:02.101877", ny, ref, true},
		{"auto", "2026-07-31T10:15:02", nil, sec, true},
		{"auto", "2026-07-31T10:15", nil, 0, false},
		{"auto", "2026-07-31T10:15:02.", nil, 0, false},
		{"auto", "2026-07-31T10:15:02Z ", nil, sec, true},
		{"auto", "2026-07-31T10:15:02ZZ", nil, 0, false},
		{"auto", "2026-07-31T10:15:02+24:00", nil, 0, false},
		{"auto", "2026-07-31T10:15:02+00:60", nil, 0, false},
		{"auto", "2026-02-29T10:15:02Z", nil, 0, false},
		{"auto", "2024-02-29T10:15:02Z", nil, us("2024-02-29T10:15:02Z"), true},
		{"auto", "2026-07-31T24:00:00Z", nil, 0, false},
		{"auto", "2026-07-31T23:59:60Z", nil, 0, false},
		{"auto", "0000-01-01T00:00:00Z", nil, 0, false},
		{"auto", "0001-01-01T00:00:00+01:00", nil, 0, false},
		{"auto", "9999-12-31T23:59:59.999999Z", nil, us("9999-12-31T23:59:59.999999Z"), true},
		{"auto", "1785492902", nil, sec, true},
		{"auto", "1785492902.101877", nil, ref, true},
		{"auto", "1785492902101.877", nil, ref, true},
		{"auto", "1785492902101877", nil, ref, true},
		{"auto", "1785492902101877000", nil, ref, true},
		{"auto", "1.785492902101877e9", nil, ref, true},
		{"auto", "-1.5", nil, -1500000, true},
		{"auto", "-0.0000015", nil, -2, true},
		{"auto", "1e400", nil, 0, false},
		{"auto", "12345678901234567890", nil, 0, false},
		{"auto", "2026/07/31 10:15:02.101877", nil, ref, true},
		{"auto", "31/Jul/2026:12:15:02 +0200", nil, sec, true},
		{"auto", "Fri, 31 Jul 2026 10:15:02 +0000", nil, sec, true},
		{"auto", "Fri Jul 31 06:15:02 2026", ny, sec, true},
		{"auto", "yesterday", nil, 0, false},
		{"auto", "", nil, 0, false},
		{"rfc3339", "2026-07-31T10:15:02.101877Z", nil, ref, true},
		{"rfc3339", "2026-07-31T12:15:02.101877+02:00", nil, ref, true},
		{"rfc3339", "2026-07-31 10:15:02Z", nil, 0, false},
		{"rfc3339", "2026-07-31T10:15:02", nil, 0, false},
		{"rfc3339", "2026-07-31T10:15:02+0200", nil, 0, false},
		{"rfc3339", "2026-07-31T10:15:02,5Z", nil, 0, false},
		{"rfc3339", "1785492902", nil, 0, false},
		{"unix", "1785492902", nil, sec, true},
		{"unix", "1785492902101", nil, 0, false}, // year 58550
		{"unix_ms", "1785492902101.877", nil, ref, true},
		{"unix_us", "1785492902101877", nil, ref, true},
		{"unix_ns", "1785492902101877999", nil, ref, true},
		{"unix_ns", "-1", nil, -1, true},
		{"unix_ms", "2026-07-31T10:15:02Z", nil, 0, false},
		{"2006-01-02 15:04:05,000", "2026-07-31 06:15:02,101", ny, us("2026-07-31T10:15:02.101Z"), true},
		{"2006-01-02 15:04:05 -0700", "2026-07-31 12:15:02 +0200", ny, sec, true},
		{"2006-01-02 15:04:05,000", "2026-07-31 06:15:02", ny, 0, false},
	} {
		tf, err := fieldmap.ParseTimeFormat(tc.format)
		if err != nil {
			t.Fatalf("ParseTimeFormat(%q): %v", tc.format, err)
		}
		got, ok := tf.Parse([]byte(tc.in), tc.loc)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s.Parse(%q) = %d, %v; want %d, %v", tc.format, tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzISOShapes writes a time in each ISO shape "auto" reads and checks
// that it reads back the same instant, in UTC, at an offset and naive in
// a zone with DST.
func FuzzISOShapes(f *testing.F) {
	f.Add(int64(1785492902), int32(101877123), int16(120))
	f.Add(int64(-62135596800), int32(0), int16(0))
	f.Add(int64(253402300799), int32(999999999), int16(-59))
	f.Add(int64(951782400), int32(5), int16(-720))
	jerusalem, err := time.LoadLocation("Asia/Jerusalem")
	if err != nil {
		f.Fatalf("load location: %v", err)
	}
	auto, _ := fieldmap.ParseTimeFormat("auto")
	strict, _ := fieldmap.ParseTimeFormat("rfc3339")
	f.Fuzz(func(t *testing.T, sec int64, nsec int32, offMin int16) {
		if nsec < 0 || nsec >= 1e9 || offMin <= -24*60 || offMin >= 24*60 {
			return
		}
		tm := time.Unix(sec, int64(nsec)).In(time.FixedZone("", int(offMin)*60))
		if tm.Year() < 1 || tm.Year() > 9999 || tm.UTC().Year() < 1 || tm.UTC().Year() > 9999 {
			return
		}
		want := tm.UnixMicro()
		for _, layout := range []string{
			"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.000000Z0700", "2006-01-02T15:04:05.000000000-07:00",
		} {
			s := tm.Format(layout)
			if got, ok := auto.Parse([]byte(s), nil); !ok || got != want {
				t.Fatalf("auto.Parse(%q) = %d, %v; want %d", s, got, ok, want)
			}
		}
		s := tm.Format(time.RFC3339Nano)
		if got, ok := strict.Parse([]byte(s), nil); !ok || got != want {
			t.Fatalf("rfc3339.Parse(%q) = %d, %v; want %d", s, got, ok, want)
		}
		local := tm.In(jerusalem)
		if local.Year() < 1 || local.Year() > 9999 {
			return
		}
		s = local.Format("2006-01-02T15:04:05.999999999")
		naive, _ := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, jerusalem)
		if got, ok := auto.Parse([]byte(s), jerusalem); !ok || got != naive.UnixMicro() {
			t.Fatalf("auto.Parse(%q) in Jerusalem = %d, %v; want %d", s, got, ok, naive.UnixMicro())
		}
	})
}

// FuzzParse reads arbitrary text with every named format: no panic, and a
// time read is within years 1…9999. A strict RFC 3339 time with an
// upper-case T and Z is one time.Parse reads the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"2026-07-31T10:15:02.101877Z", "1785492902.5", "-1e9", "2026-07-31 10:15:02,1+0530", "31/Jul/2026:10:15:02 +0000"} {
		f.Add(s)
	}
	minUS := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxUS := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC).UnixMicro()
	f.Fuzz(func(t *testing.T, s string) {
		for _, name := range fieldmap.TimeFormatNames {
			tf, err := fieldmap.ParseTimeFormat(name)
			if err != nil {
				t.Fatalf("ParseTimeFormat(%q): %v", name, err)
			}
			us, ok := tf.Parse([]byte(s), time.UTC)
			if !ok {
				continue
			}
			if us < minUS || us > maxUS {
				t.Fatalf("%s.Parse(%q) = %d: outside years 1…9999", name, s, us)
			}
			if name == "rfc3339" && !strings.ContainsAny(s, "tz") {
				tm, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
				if err != nil || tm.UnixMicro() != us {
					t.Fatalf("rfc3339.Parse(%q) = %d; time.Parse says %d, %v", s, us, tm.UnixMicro(), err)
				}
			}
		}
	})
}
