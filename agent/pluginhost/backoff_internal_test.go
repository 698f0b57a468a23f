package pluginhost

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	h := &Host{opts: Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: 10 * time.Second}}
	f := func(n int, lo, hi time.Duration) {
		t.Helper()
		for range 100 {
			if d := h.backoff(n); d < lo || d > hi {
				t.Fatalf("backoff(%d)=%v, want within [%v, %v]", n, d, lo, hi)
			}
		}
	}
	f(0, 0, 0) // the first start waits for nothing
	f(1, 50*time.Millisecond, 100*time.Millisecond)
	f(2, 100*time.Millisecond, 200*time.Millisecond)
	f(5, 800*time.Millisecond, 1600*time.Millisecond)
	f(8, 5*time.Second, 10*time.Second)  // capped
	f(64, 5*time.Second, 10*time.Second) // no overflow
	f(1<<30, 5*time.Second, 10*time.Second)

	seen := map[time.Duration]bool{}
	for range 50 {
		seen[h.backoff(3)] = true
	}
	if len(seen) < 2 {
		t.Errorf("backoff(3) is not jittered: always %v", seen)
	}
}
