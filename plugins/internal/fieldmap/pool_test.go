package fieldmap_test

import (
	"testing"

	"github.com/hooktail/hooktail/plugins/internal/fieldmap"
)

func TestKept(t *testing.T) {
	tests := []struct {
		capacity, max int
		kept          bool
	}{
		{0, 8, true},
		{8, 8, true},
		{9, 8, false},
		{fieldmap.MaxKept + 1, fieldmap.MaxKept, false},
	}
	for _, tt := range tests {
		b := make([]byte, 1, max(tt.capacity, 1))[:min(1, tt.capacity)]
		got := fieldmap.Kept(b, tt.max)
		if kept := got != nil; kept != tt.kept || (kept && cap(got) != cap(b)) {
			t.Errorf("Kept(cap %d, max %d) = cap %d, nil %v; want kept %v", cap(b), tt.max, cap(got), got == nil, tt.kept)
		}
	}
}

func TestPool(t *testing.T) {
	type scratch struct{ buf []byte }
	var p fieldmap.Pool[scratch]
	s := p.Get()
	if s == nil {
		t.Fatal("Get on an empty pool returned nil")
	}
	s.buf = append(s.buf, "x"...)
	p.Put(s)
	// sync.Pool may drop what it holds: a Get returns the same scratch
	// or a new one, never nil.
	if again := p.Get(); again == nil || (again != s && again.buf != nil) {
		t.Fatalf("Get after Put = %+v, want the same scratch or a new one", again)
	}
}
