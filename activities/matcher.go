package activities

import (
	"slices"
	"strings"
)

// matcher finds every occurrence of a set of patterns in one pass over a
// text (Aho–Corasick), so that masking a line costs about the same with
// one secret as with a hundred forms of ten. Most lines hold no secret: a
// prefilter on the patterns' first 4 bytes lets them through at a
// fraction of that cost.
type matcher struct {
	// prefix has a bit set for the hash of the first 4 bytes of every
	// pattern: a text where no 4 consecutive bytes hash to a set bit
	// holds no pattern. Nil when a pattern is shorter than 4 bytes.
	prefix []uint64
	// root is the root's transitions (0: none; the root is node 0).
	root [256]int32
	// Per node: the suffix link, and the length of the longest pattern
	// that ends at the node (through its suffix links; 0 for none).
	fail, longest []int32
	// Node i's edges are labels/targets[edges[i]:edges[i+1]], sorted by
	// label.
	edges   []int32
	labels  []byte
	targets []int32
}

func newMatcher(patterns []string) *matcher {
	// Inserted in sorted order, a node's children are made in the order of
	// their labels, and a pattern shares its path with the one before: the
	// child to follow, if any, is always the last one made.
	patterns = slices.Clone(patterns)
	slices.Sort(patterns)
	m := &matcher{prefix: make([]uint64, 1<<prefixBits/64)}
	// The trie as first child, next sibling and last child of each node
	// (0: none; no node but the root is node 0), and each node's label.
	size := 1
	for _, p := range patterns {
		size += len(p)
	}
	first, next, last := make([]int32, 1, size), make([]int32, 1, size), make([]int32, 1, size)
	label := make([]byte, 1, size)
	m.longest = make([]int32, 1, size)
	for _, p := range patterns {
		if len(p) < 4 {
			m.prefix = nil
		} else if m.prefix != nil {
			h := prefixHash(uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]))
			m.prefix[h/64] |= 1 << (h % 64)
		}
		var n int32
		for i := 0; i < len(p); i++ {
			if c := last[n]; c != 0 && label[c] == p[i] {
				n = c
				continue
			}
			c := int32(len(label))
			first, next, last = append(first, 0), append(next, 0), append(last, 0)
			label = append(label, p[i])
			m.longest = append(m.longest, 0)
			if last[n] == 0 {
				first[n] = c
			} else {
				next[last[n]] = c
			}
			last[n] = c
			if n == 0 {
				m.root[p[i]] = c
			}
			n = c
		}
		m.longest[n] = max(m.longest[n], int32(len(p)))
	}
	// Flatten: node n's edges, in label order, at edges[n]:edges[n+1];
	// the root's are in root alone.
	nodes := len(label)
	m.edges = make([]int32, nodes+1)
	m.labels = make([]byte, 0, nodes)
	m.targets = make([]int32, 0, nodes)
	for n := range nodes {
		if n > 0 {
			for c := first[n]; c != 0; c = next[c] {
				m.labels = append(m.labels, label[c])
				m.targets = append(m.targets, c)
			}
		}
		m.edges[n+1] = int32(len(m.labels))
	}
	// Suffix links, breadth first so that a node's link is done before
	// its children need it.
	m.fail = make([]int32, nodes)
	queue := make([]int32, 0, nodes)
	for c := first[0]; c != 0; c = next[c] {
		queue = append(queue, c)
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for c := first[n]; c != 0; c = next[c] {
			f := m.fail[n]
			for {
				if t := m.step(f, label[c]); t > 0 {
					m.fail[c] = t
					break
				}
				if f == 0 {
					break
				}
				f = m.fail[f]
			}
			m.longest[c] = max(m.longest[c], m.longest[m.fail[c]])
			queue = append(queue, c)
		}
	}
	return m
}

// prefixBits sizes the prefilter: 2^18 bits (32 KiB), so that with a few
// hundred patterns a clean 200-byte line passes it most times.
const prefixBits = 18

func prefixHash(x uint32) uint32 { return (x * 0x9e3779b1) >> (32 - prefixBits) }

// mayMatch reports whether s may hold a pattern: false when no 4 bytes of
// s begin one.
func (m *matcher) mayMatch(s string) bool {
	if m.prefix == nil {
		return true
	}
	if len(s) < 4 {
		return false
	}
	x := uint32(s[0])<<16 | uint32(s[1])<<8 | uint32(s[2])
	for i := 3; i < len(s); i++ {
		x = x<<8 | uint32(s[i])
		if h := prefixHash(x); m.prefix[h/64]&(1<<(h%64)) != 0 {
			return true
		}
	}
	return false
}

// step is node n's transition on c, or 0 when it has none.
func (m *matcher) step(n int32, c byte) int32 {
	if n == 0 {
		return m.root[c]
	}
	lo, hi := m.edges[n], m.edges[n+1]
	if hi-lo <= 8 {
		for i := lo; i < hi; i++ {
			if m.labels[i] == c {
				return m.targets[i]
			}
		}
		return 0
	}
	for lo < hi {
		mid := int32(uint32(lo+hi) >> 1)
		switch {
		case m.labels[mid] == c:
			return m.targets[mid]
		case m.labels[mid] < c:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return 0
}

// replace returns s with every maximal run of bytes covered by occurrences
// of the patterns replaced by with; s itself when nothing matched.
func (m *matcher) replace(s, with string) string {
	if !m.mayMatch(s) {
		return s
	}
	type span struct{ from, to int }
	var spans []span
	var n int32
	for i := 0; i < len(s); i++ {
		c := s[i]
		for {
			if t := m.step(n, c); t > 0 {
				n = t
				break
			}
			if n == 0 {
				break
			}
			n = m.fail[n]
		}
		l := int(m.longest[n])
		if l == 0 {
			continue
		}
		sp := span{i + 1 - l, i + 1}
		for len(spans) > 0 && spans[len(spans)-1].to >= sp.from {
			sp.from = min(sp.from, spans[len(spans)-1].from)
			spans = spans[:len(spans)-1]
		}
		spans = append(spans, sp)
	}
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	at := 0
	for _, sp := range spans {
		b.WriteString(s[at:sp.from])
		b.WriteString(with)
		at = sp.to
	}
	b.WriteString(s[at:])
	return b.String()
}
