package fieldmap

// Table is a read-only map from string keys to V, looked up by []byte
// without allocating. It is an open-addressing hash table on a cheap hash
// of the key's length and first, middle and last bytes: lookups run for
// every key of every record, and hashing whole strings for a Go map was a
// fifth of the logfmt parser's time. It is safe for concurrent use.
type Table[V any] struct {
	slots []tableSlot[V]
	mask  uint32
}

type tableSlot[V any] struct {
	key  string
	val  V
	used bool
}

// NewTable returns a Table holding the entries of m.
func NewTable[V any](m map[string]V) *Table[V] {
	size := 16
	for size < 4*len(m) {
		size *= 2
	}
	t := &Table[V]{slots: make([]tableSlot[V], size), mask: uint32(size - 1)}
	for k, v := range m {
		i := quickHash([]byte(k)) & t.mask
		for t.slots[i].used {
			i = (i + 1) & t.mask
		}
		t.slots[i] = tableSlot[V]{key: k, val: v, used: true}
	}
	return t
}

// Lookup returns the value of key.
func (t *Table[V]) Lookup(key []byte) (V, bool) {
	for i := quickHash(key) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if !s.used {
			var zero V
			return zero, false
		}
		if s.key == string(key) {
			return s.val, true
		}
	}
}

// Len is the number of entries.
func (t *Table[V]) Len() int {
	n := 0
	for i := range t.slots {
		if t.slots[i].used {
			n++
		}
	}
	return n
}

// quickHash mixes a key's length and its first, middle and last bytes.
func quickHash(k []byte) uint32 {
	n := len(k)
	if n == 0 {
		return 0
	}
	h := uint32(n)*0x9e3779b1 ^ uint32(k[0])*0x85ebca77 ^ uint32(k[n/2])*0xc2b2ae3d ^ uint32(k[n-1])*0x27d4eb2f
	return h ^ h>>15
}

// MarkSuperseded sets dup[i] for each of the n keys (key(i) returns the
// i-th) that a later one equals: of duplicate keys the last wins. A
// 64-bit filter of the keys' hashes skips the comparisons of keys seen
// once, so the common case is linear.
func MarkSuperseded(n int, key func(i int) []byte, dup []bool) {
	var seen uint64
	for i := n - 1; i >= 0; i-- {
		k := key(i)
		bit := uint64(1) << (quickHash(k) & 63)
		dup[i] = false
		if seen&bit != 0 {
			for j := i + 1; j < n; j++ {
				if string(key(j)) == string(k) {
					dup[i] = true
					break
				}
			}
		}
		seen |= bit
	}
}
