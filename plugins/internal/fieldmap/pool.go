package fieldmap

import "sync"

// MaxKept is the largest record buffer a parser's scratch keeps for the
// next Parse call (in bytes, or elements for byte buffers); the buffers of
// huge records go to the garbage collector.
const MaxKept = 64 << 10

// Kept returns b, or nil when its capacity grew past max elements: a
// buffer that grew for one huge record is not kept for the next call.
func Kept[T any](b []T, max int) []T {
	if cap(b) > max {
		return nil
	}
	return b
}

// Pool keeps the scratch state of a parser's Parse calls for the next
// call: a typed sync.Pool of *S.
type Pool[S any] struct {
	pool sync.Pool
}

// Get returns a pooled *S, or a new one.
func (p *Pool[S]) Get() *S {
	if s, ok := p.pool.Get().(*S); ok {
		return s
	}
	return new(S)
}

// Put returns s to the pool.
func (p *Pool[S]) Put(s *S) { p.pool.Put(s) }
