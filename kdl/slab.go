package kdl

// slab hands out small slices carved from larger allocations, so that a
// document's nodes, values and integers cost a few allocations rather than
// one each. Every slice it returns has its capacity equal to its length, so
// appending to one never writes into its neighbours.
type slab[T any] struct {
	free []T
	next int
}

// alloc returns a zeroed slice of n elements (nil when n is 0).
func (s *slab[T]) alloc(n int) []T {
	if n == 0 {
		return nil
	}
	if len(s.free) < n {
		size := max(s.next, 8)
		if size < n {
			size = n
		}
		s.free = make([]T, size)
		if s.next < 2048 {
			s.next = size * 2
		}
	}
	out := s.free[:n:n]
	s.free = s.free[n:]
	return out
}

// entryStack collects the entries (arguments or properties) of one node at a
// time directly in slab memory, so that finishing a node costs no copy: the
// node's slice is the run of elements pushed since the previous take.
// Entries of different nodes never interleave, because a node's entries are
// complete before its children block starts.
type entryStack[T any] struct {
	buf  []T
	base int // start of the current node's entries
	top  int // end of the current node's entries
	next int // size of the next chunk
}

// push appends a zero element and returns a pointer to it, valid until the
// next push.
func (s *entryStack[T]) push() *T {
	if s.top == len(s.buf) {
		n := s.top - s.base
		size := max(s.next, 16, 2*n)
		buf := make([]T, size)
		copy(buf, s.buf[s.base:s.top])
		clear(s.buf[s.base:s.top])
		s.buf, s.base, s.top = buf, 0, n
		if s.next < 2048 {
			s.next = size * 2
		}
	}
	s.top++
	return &s.buf[s.top-1]
}

// pop removes the last element pushed.
func (s *entryStack[T]) pop() {
	s.top--
	var zero T
	s.buf[s.top] = zero
}

// take returns the elements pushed since the last take (nil if none), with
// their capacity equal to their length.
func (s *entryStack[T]) take() []T {
	if s.top == s.base {
		return nil
	}
	out := s.buf[s.base:s.top:s.top]
	s.base = s.top
	return out
}
