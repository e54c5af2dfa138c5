package kdl

import (
	"strings"
	"unicode/utf8"
)

// posTracker turns byte offsets into positions. It scans the source lazily
// and incrementally, so asking for increasing offsets costs O(len(src)) in
// total.
type posTracker struct {
	src       string
	off       int // offset scanned up to
	line      int // line at off
	col       int // column at off
	lineStart int // offset where the line of off starts
	first     int // offset where the first line starts (after a BOM)
}

func newPosTracker(src string) posTracker {
	t := posTracker{src: src}
	if strings.HasPrefix(src, "\uFEFF") {
		t.first = 3
	}
	t.reset()
	return t
}

func (t *posTracker) reset() {
	t.off, t.line, t.col, t.lineStart = t.first, 1, 1, t.first
}

// at returns the position of byte offset off.
func (t *posTracker) at(off int) Pos {
	if off > len(t.src) {
		off = len(t.src)
	}
	if off < t.first {
		return Pos{Line: 1, Col: 1, Offset: off}
	}
	if off < t.off {
		if off >= t.lineStart {
			t.off, t.col = t.lineStart, 1
		} else {
			t.reset()
		}
	}
	s := t.src
	i, line, col, ls := t.off, t.line, t.col, t.lineStart
	for i < off {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf {
			n := printableRun(s[i:off])
			col += n
			i += n
			continue
		}
		if n := nlLen(s, i); n > 0 && i+n <= off {
			i += n
			line++
			col = 1
			ls = i
			continue
		}
		if c < 0x80 || c >= 0xC0 {
			col++
		}
		i++
	}
	t.off, t.line, t.col, t.lineStart = i, line, col, ls
	return Pos{Line: line, Col: col, Offset: off}
}
