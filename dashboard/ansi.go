package dashboard

import (
	"strconv"
	"strings"
)

// span is a run of a log line's text in one style: Class holds CSS
// classes (fg1…fg15, bg0…bg15, b, d, i, u), never a style attribute, which
// the CSP forbids.
type span struct {
	Class string
	Text  string
}

// sgr is the state of ANSI Select Graphic Rendition codes.
type sgr struct {
	fg, bg                  int // -1: default; 0–15 the palette
	bold, dim, italic, line bool
}

func (s sgr) class() string {
	var parts []string
	if s.fg >= 0 {
		parts = append(parts, "fg"+strconv.Itoa(s.fg))
	}
	if s.bg >= 0 {
		parts = append(parts, "bg"+strconv.Itoa(s.bg))
	}
	for _, f := range []struct {
		on bool
		c  string
	}{{s.bold, "b"}, {s.dim, "d"}, {s.italic, "i"}, {s.line, "u"}} {
		if f.on {
			parts = append(parts, f.c)
		}
	}
	return strings.Join(parts, " ")
}

// apply applies the parameters of one SGR sequence (ESC [ … m).
func (s *sgr) apply(params string) {
	if params == "" {
		params = "0"
	}
	ps := strings.Split(params, ";")
	for i := 0; i < len(ps); i++ {
		n, err := strconv.Atoi(ps[i])
		if err != nil {
			continue
		}
		switch {
		case n == 0:
			*s = sgr{fg: -1, bg: -1}
		case n == 1:
			s.bold = true
		case n == 2:
			s.dim = true
		case n == 3:
			s.italic = true
		case n == 4:
			s.line = true
		case n == 22:
			s.bold, s.dim = false, false
		case n == 23:
			s.italic = false
		case n == 24:
			s.line = false
		case n >= 30 && n <= 37:
			s.fg = n - 30
		case n >= 90 && n <= 97:
			s.fg = n - 90 + 8
		case n == 39:
			s.fg = -1
		case n >= 40 && n <= 47:
			s.bg = n - 40
		case n >= 100 && n <= 107:
			s.bg = n - 100 + 8
		case n == 49:
			s.bg = -1
		case n == 38 || n == 48:
			// 38;5;N and 38;2;R;G;B: the 16 colours of the palette are
			// kept, the others dropped (a class per colour would be
			// needed, and inline styles are not allowed).
			c := -1
			if i+2 < len(ps) && ps[i+1] == "5" {
				if v, err := strconv.Atoi(ps[i+2]); err == nil && v < 16 {
					c = v
				}
				i += 2
			} else if i+4 < len(ps) && ps[i+1] == "2" {
				i += 4
			}
			if c >= 0 && n == 38 {
				s.fg = c
			} else if c >= 0 {
				s.bg = c
			}
		}
	}
}

// ansiSpans splits a log line into styled runs of text: SGR sequences set
// the style, every other escape sequence (cursor moves, OSC titles and
// links) and control character but the tab is dropped. The text is left
// as it is: the template escapes it.
func ansiSpans(line string) []span {
	if strings.IndexByte(line, 0x1b) < 0 && !hasControl(line) {
		return []span{{Text: line}}
	}
	var out []span
	st := sgr{fg: -1, bg: -1}
	var cur strings.Builder
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		c := st.class()
		if n := len(out); n > 0 && out[n-1].Class == c {
			out[n-1].Text += cur.String()
		} else {
			out = append(out, span{Class: c, Text: cur.String()})
		}
		cur.Reset()
	}
	for i := 0; i < len(line); {
		ch := line[i]
		if ch != 0x1b {
			if ch < 0x20 && ch != '\t' || ch == 0x7f {
				i++
				continue
			}
			cur.WriteByte(ch)
			i++
			continue
		}
		if i+1 >= len(line) {
			break
		}
		switch line[i+1] {
		case '[': // CSI: parameters, intermediates, a final byte
			j := i + 2
			for j < len(line) && (line[j] < 0x40 || line[j] > 0x7e) {
				j++
			}
			if j >= len(line) {
				i = len(line)
				continue
			}
			if line[j] == 'm' {
				flush()
				st.apply(line[i+2 : j])
			}
			i = j + 1
		case ']': // OSC: up to BEL or ESC \
			j := i + 2
			for j < len(line) && line[j] != 0x07 && (line[j] != 0x1b || j+1 >= len(line) || line[j+1] != '\\') {
				j++
			}
			switch {
			case j >= len(line):
				i = len(line)
			case line[j] == 0x07:
				i = j + 1
			default:
				i = j + 2
			}
		default:
			i += 2
		}
	}
	flush()
	if out == nil {
		out = []span{{}}
	}
	return out
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
