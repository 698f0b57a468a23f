package metrics

import (
	"testing"
	"time"
)

// TestLagMarksBounded checks that a file growing at every scrape while
// nothing is acknowledged keeps at most maxMarks observations, and still
// reports the time since the first.
func TestLagMarksBounded(t *testing.T) {
	var m lagMarks
	start := time.Unix(1_800_000_000, 0)
	var d time.Duration
	for i := range 1000 {
		d = m.observe(start.Add(time.Duration(i)*time.Second), int64(100*(i+1)), 0)
	}
	if len(m) > maxMarks {
		t.Errorf("%d marks kept, want at most %d", len(m), maxMarks)
	}
	if want := 999 * time.Second; d != want {
		t.Errorf("lag = %v, want %v", d, want)
	}
	// Acknowledging up to a size observed later drops the older marks: the
	// lag is then at most the time since that later observation.
	now := start.Add(1000 * time.Second)
	if d := m.observe(now, 100_000, 99_950); d > 2*time.Second || d <= 0 {
		t.Errorf("lag after acknowledging almost everything = %v, want about a second", d)
	}
	if d := m.observe(now, 100_000, 100_000); d != 0 || len(m) != 1 {
		t.Errorf("lag once caught up = %v with %d marks, want 0 (a fresh mark)", d, len(m))
	}
}
