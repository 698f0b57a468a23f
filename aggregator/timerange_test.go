package aggregator_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/aggregator"
)

func TestKnownTime(t *testing.T) {
	plus1 := time.FixedZone("", 3600)
	tests := map[string]struct {
		in, want time.Time
	}{
		"zero":                     {time.Time{}, time.Time{}},
		"ordinary":                 {t0, t0},
		"converted to UTC":         {t0.In(plus1), t0},
		"year -1 in UTC":           {time.Date(0, 1, 1, 0, 0, 0, 5e8, plus1), time.Time{}},
		"year 0":                   {time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC), time.Time{}},
		"first microsecond":        {time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC)},
		"last microsecond":         {time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		"year 10000":               {time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}},
		"year 10000 only locally":  {time.Date(9999, 12, 31, 23, 30, 0, 0, time.UTC).In(plus1), time.Date(9999, 12, 31, 23, 30, 0, 0, time.UTC)},
		"far future from the wire": {time.UnixMicro(1 << 62), time.Time{}},
	}
	for name, tc := range tests {
		got := aggregator.KnownTime(tc.in)
		if got != tc.want {
			t.Errorf("%s: KnownTime(%v) = %v, want %v", name, tc.in, got, tc.want)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Errorf("%s: KnownTime(%v) does not encode: %v", name, tc.in, err)
		}
	}
}

func TestNormalizeTimes(t *testing.T) {
	bad := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &aggregator.Completion{Status: "failed", StartedAt: t0, CompletedAt: bad,
		Steps: []aggregator.Step{{Name: "a", StartedAt: bad}, {Name: "b", StartedAt: t0}}}
	e := aggregator.Entry{Timestamp: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), TimestampRaw: "-0001", Completion: c}
	orig := *c
	origSteps := append([]aggregator.Step(nil), c.Steps...)

	if !aggregator.NormalizeTimes(&e) {
		t.Fatal("NormalizeTimes() = false, want a change")
	}
	want := aggregator.Entry{TimestampRaw: "-0001", Completion: &aggregator.Completion{Status: "failed", StartedAt: t0,
		Steps: []aggregator.Step{{Name: "a"}, {Name: "b", StartedAt: t0}}}}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("normalized entry (-want +got):\n%s", diff)
	}
	// The shared completion is untouched.
	if e.Completion == c || c.CompletedAt != orig.CompletedAt || !cmp.Equal(origSteps, c.Steps) {
		t.Errorf("NormalizeTimes changed the entry's original completion")
	}
	if _, err := json.Marshal(e); err != nil {
		t.Errorf("normalized entry does not encode: %v", err)
	}
	// Nothing to do: nothing changes, nothing is copied.
	if aggregator.NormalizeTimes(&e) {
		t.Error("second NormalizeTimes() = true, want false")
	}
	ok := aggregator.Entry{Timestamp: t0, Completion: c}
	c.CompletedAt, c.Steps[0].StartedAt = t0, t0
	if aggregator.NormalizeTimes(&ok) || ok.Completion != c {
		t.Error("NormalizeTimes changed an entry whose times are all in range")
	}
}

func TestInvalidEntryError(t *testing.T) {
	cause := errors.New("cause")
	err := fmt.Errorf("ingest: %w", &aggregator.InvalidEntryError{Index: 4, Err: cause})
	if !errors.Is(err, aggregator.ErrInvalidEntry) || !errors.Is(err, cause) {
		t.Errorf("errors.Is(%v, ErrInvalidEntry / cause) = false, want true", err)
	}
	if errors.Is(errors.New("other"), aggregator.ErrInvalidEntry) {
		t.Error("a plain error is an ErrInvalidEntry")
	}
	if got, want := err.Error(), "ingest: invalid entry 4 of batch: cause"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&aggregator.InvalidEntryError{Index: -1, Err: cause}).Error(), "invalid entry in batch: cause"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
