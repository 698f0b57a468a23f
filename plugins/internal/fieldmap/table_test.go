package fieldmap_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hooktail/hooktail/plugins/internal/fieldmap"
)

func TestTable(t *testing.T) {
	m := map[string]int{}
	for i := range 200 {
		m[fmt.Sprintf("key%d", i)] = i
	}
	m["a"], m["ab"], m["ba"], m["é"] = -1, -2, -3, -4
	tb := fieldmap.NewTable(m)
	if got, want := tb.Len(), len(m); got != want {
		t.Fatalf("Len()=%d, want %d", got, want)
	}
	for k, v := range m {
		if got, ok := tb.Lookup([]byte(k)); !ok || got != v {
			t.Errorf("Lookup(%q) = %d, %v; want %d", k, got, ok, v)
		}
	}
	for _, k := range []string{"", "key200", "b", "key", "aab"} {
		if got, ok := tb.Lookup([]byte(k)); ok {
			t.Errorf("Lookup(%q) = %d, found", k, got)
		}
	}
	empty := fieldmap.NewTable(map[string]int{})
	if _, ok := empty.Lookup([]byte("x")); ok {
		t.Error("empty table found a key")
	}
}

func TestMarkSuperseded(t *testing.T) {
	for _, keys := range [][]string{
		{}, {"a"}, {"a", "b", "a"}, {"a", "a", "a"}, {"x", "y", "z", "y", "x", "w"},
		// More keys than the 64-bit filter has bits: collisions are compared.
		func() (ks []string) {
			for i := range 300 {
				ks = append(ks, fmt.Sprintf("k%d", i%150))
			}
			return ks
		}(),
	} {
		got := make([]bool, len(keys))
		fieldmap.MarkSuperseded(len(keys), func(i int) []byte { return []byte(keys[i]) }, got)
		want := make([]bool, len(keys))
		for i := range keys {
			for j := i + 1; j < len(keys); j++ {
				if keys[i] == keys[j] {
					want[i] = true
				}
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("MarkSuperseded(%q) (-want +got):\n%s", keys, diff)
		}
	}
}

func TestMapping(t *testing.T) {
	var keys [fieldmap.NumFields][]string
	keys[fieldmap.Message] = []string{"text", "msg", "text"}
	keys[fieldmap.Step] = []string{}
	keys[fieldmap.HookID] = []string{"msg"}
	m := fieldmap.NewMapping(keys)
	if diff := cmp.Diff([]string{"text", "msg"}, m.Keys(fieldmap.Message)); diff != "" {
		t.Errorf("Keys(message) (-want +got):\n%s", diff)
	}
	if !m.Explicit(fieldmap.Message) || !m.Explicit(fieldmap.Step) || m.Explicit(fieldmap.Level) {
		t.Errorf("Explicit: message %v, step %v, level %v; want true, true, false",
			m.Explicit(fieldmap.Message), m.Explicit(fieldmap.Step), m.Explicit(fieldmap.Level))
	}
	if got := m.Lookup([]byte("step")); got != nil {
		t.Errorf("Lookup(step)=%v, want nothing: the field is mapped to no key", got)
	}
	want := []fieldmap.Slot{{Field: fieldmap.Message, Rank: 1}, {Field: fieldmap.HookID, Rank: 0}}
	if diff := cmp.Diff(want, m.Lookup([]byte("msg"))); diff != "" {
		t.Errorf("Lookup(msg) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fieldmap.DefaultKeys(fieldmap.Level), m.Keys(fieldmap.Level)); diff != "" {
		t.Errorf("Keys(level) (-want +got):\n%s", diff)
	}
	for _, name := range fieldmap.FieldNames() {
		f, ok := fieldmap.FieldByName(name)
		if !ok || f.String() != name {
			t.Errorf("FieldByName(%q) = %v, %v", name, f, ok)
		}
	}
	if got := m.Describe(fieldmap.Message); got != `"text", "msg"` {
		t.Errorf("Describe(message)=%s", got)
	}
}

func TestPicker(t *testing.T) {
	var p fieldmap.Picker
	p.Reset()
	p.Offer(0, []fieldmap.Slot{{Field: fieldmap.Level, Rank: 1}})
	p.Offer(1, []fieldmap.Slot{{Field: fieldmap.Level, Rank: 0}, {Field: fieldmap.Message, Rank: 2}})
	p.Offer(2, []fieldmap.Slot{{Field: fieldmap.Level, Rank: 1}})
	p.Offer(3, []fieldmap.Slot{{Field: fieldmap.Message, Rank: 2}}) // same key again: the last wins
	if i, ok := p.Chosen(fieldmap.Level); !ok || i != 1 {
		t.Errorf("Chosen(level) = %d, %v; want 1", i, ok)
	}
	if i, ok := p.Chosen(fieldmap.Message); !ok || i != 3 {
		t.Errorf("Chosen(message) = %d, %v; want 3", i, ok)
	}
	p.Drop(fieldmap.Message)
	used := make([]bool, 4)
	p.MarkUsed(used)
	if diff := cmp.Diff([]bool{false, true, false, false}, used); diff != "" {
		t.Errorf("MarkUsed (-want +got):\n%s", diff)
	}
	if _, ok := p.Chosen(fieldmap.HookID); ok {
		t.Error("Chosen(hook_id) found an item nothing offered")
	}
}
