package kdl

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds the parsing of quoted, raw and multi-line strings.

// quotedString parses a quoted string at p.pos (a multi-line one if it opens
// with """ in KDL 2.0) and returns its value.
func (p *parser) quotedString() (string, error) {
	s := p.src
	start := p.pos
	if !p.v1 && strings.HasPrefix(s[start:], `"""`) {
		return p.multiLine(start, start+3, 0)
	}
	for i := start + 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			p.pos = i + 1
			return s[start+1 : i], nil
		case '\\':
			return p.quotedSlow(start, i)
		case '\n', '\r', '\v', '\f', 0xC2, 0xE2:
			if !p.v1 && nlLen(s, i) > 0 {
				return "", p.newlineInString(start, i)
			}
		}
	}
	return "", p.fail(start, "unterminated string: missing '\"'")
}

func (p *parser) newlineInString(start, i int) error {
	return p.fail(i, "unterminated string: the string that starts at column %d cannot contain a newline "+
		"(close it with '\"' on this line, write the newline as \\n, or use \"\"\" for a multi-line string)", p.pt.at(start).Col)
}

// quotedSlow continues quotedString from the first backslash at offset i.
func (p *parser) quotedSlow(start, i int) (string, error) {
	s := p.src
	buf := append(p.buf[:0], s[start+1:i]...)
	for i < len(s) {
		c := s[i]
		switch c {
		case '"':
			p.pos = i + 1
			p.buf = buf
			return string(buf), nil
		case '\\':
			r, n, ws, msg := decodeEscape(s, i, p.v1)
			if msg != "" {
				return "", p.fail(i, "%s", msg)
			}
			if !ws {
				buf = utf8.AppendRune(buf, r)
			}
			i += n
			continue
		case '\n', '\r', '\v', '\f', 0xC2, 0xE2:
			if !p.v1 && nlLen(s, i) > 0 {
				return "", p.newlineInString(start, i)
			}
		}
		buf = append(buf, c)
		i++
	}
	return "", p.fail(start, "unterminated string: missing '\"'")
}

// decodeEscape decodes the escape sequence that starts with the backslash at
// s[i]. It returns the rune, the length of the sequence, whether it was a
// whitespace escape (which stands for nothing), and an error message.
func decodeEscape(s string, i int, v1 bool) (r rune, n int, ws bool, msg string) {
	if i+1 >= len(s) {
		return 0, 0, false, "unterminated string: the file ends after '\\'"
	}
	switch c := s[i+1]; c {
	case 'n':
		return '\n', 2, false, ""
	case 'r':
		return '\r', 2, false, ""
	case 't':
		return '\t', 2, false, ""
	case '\\':
		return '\\', 2, false, ""
	case '"':
		return '"', 2, false, ""
	case 'b':
		return '\b', 2, false, ""
	case 'f':
		return '\f', 2, false, ""
	case 's':
		if !v1 {
			return ' ', 2, false, ""
		}
	case '/':
		if v1 {
			return '/', 2, false, ""
		}
		return 0, 0, false, `invalid escape \/ (KDL 2.0 has no \/ escape; write / as it is)`
	case 'u':
		return decodeUnicodeEscape(s, i)
	}
	if !v1 {
		j := i + 1
		for {
			if k := wsLen(s, j); k > 0 {
				j += k
			} else if k := nlLen(s, j); k > 0 {
				j += k
			} else {
				break
			}
		}
		if j > i+1 {
			return 0, j - i, true, ""
		}
	}
	if i+1 < len(s) && s[i+1] >= utf8.RuneSelf {
		r, _ := utf8.DecodeRuneInString(s[i+1:])
		if isSpaceRune(r) || isNewlineRune(r) {
			return 0, 0, false, "invalid escape: KDL 1.0 has no whitespace escapes"
		}
		return 0, 0, false, "invalid escape \\" + string(r)
	}
	if s[i+1] < 0x20 || s[i+1] == 0x7F {
		return 0, 0, false, "invalid escape: '\\' followed by " + runeName(rune(s[i+1]))
	}
	return 0, 0, false, `invalid escape \` + s[i+1:i+2] + ` (the escapes are \n \r \t \\ \" \b \f \s \u{...} and \ before whitespace)`
}

// decodeUnicodeEscape decodes \u{X...} at s[i].
func decodeUnicodeEscape(s string, i int) (rune, int, bool, string) {
	j := i + 2
	if j >= len(s) || s[j] != '{' {
		return 0, 0, false, `invalid unicode escape: expected '{' after \u, as in \u{1F600}`
	}
	j++
	var v rune
	k := j
	for k < len(s) && isHexDigit(s[k]) && k-j < 7 {
		v = v<<4 | rune(digitValue(s[k]))
		k++
	}
	if k == j || k-j > 6 || k >= len(s) || s[k] != '}' {
		return 0, 0, false, `invalid unicode escape: \u{...} takes 1 to 6 hexadecimal digits`
	}
	if v > utf8.MaxRune || v >= 0xD800 && v <= 0xDFFF {
		return 0, 0, false, `invalid unicode escape \u{` + s[j:k] + `}: not a Unicode scalar value`
	}
	return v, k + 1 - i, false, ""
}

// rawString parses a KDL 2.0 raw string at p.pos, which starts with hashes
// '#' characters followed by '"'.
func (p *parser) rawString(hashes int) (string, error) {
	s := p.src
	start := p.pos
	q := start + hashes
	if strings.HasPrefix(s[q:], `"""`) {
		return p.multiLine(start, q+3, hashes)
	}
	for i := q + 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			if closesRaw(s, i+1, hashes) {
				p.pos = i + 1 + hashes
				return s[q+1 : i], nil
			}
		case '\n', '\r', '\v', '\f', 0xC2, 0xE2:
			if nlLen(s, i) > 0 {
				if !strings.Contains(s[i:], `"`+strings.Repeat("#", hashes)) {
					return "", p.fail(start, "unterminated raw string: missing '\"%s'", strings.Repeat("#", hashes))
				}
				return "", p.fail(i, "unterminated raw string: the raw string that starts at column %d cannot contain a newline "+
					"(use #\"\"\" ... \"\"\"# for a multi-line raw string)", p.pt.at(start).Col)
			}
		}
	}
	return "", p.fail(start, "unterminated raw string: missing '\"%s'", strings.Repeat("#", hashes))
}

// closesRaw reports whether s[i:] starts with at least hashes '#'.
func closesRaw(s string, i, hashes int) bool {
	if len(s)-i < hashes {
		return false
	}
	for k := 0; k < hashes; k++ {
		if s[i+k] != '#' {
			return false
		}
	}
	return true
}

// multiLine parses a multi-line string whose opening delimiter (hashes '#'
// then """) starts at offset start and ends at offset open. hashes > 0 makes
// it a raw string.
func (p *parser) multiLine(start, open, hashes int) (string, error) {
	s := p.src
	raw := hashes > 0
	nl := nlLen(s, open)
	if nl == 0 {
		return "", p.fail(open, "a multi-line string must start with a newline right after its opening \"\"\" (for a one-line string use a single '\"')")
	}
	body := open + nl
	closeAt := -1
	escapes := false
	for i := body; i < len(s); {
		c := s[i]
		if c == '"' && strings.HasPrefix(s[i:], `"""`) && (!raw || closesRaw(s, i+3, hashes)) {
			closeAt = i
			break
		}
		if c == '\\' && !raw {
			_, n, _, msg := decodeEscape(s, i, false)
			if msg != "" {
				return "", p.fail(i, "%s", msg)
			}
			escapes = true
			i += n
			continue
		}
		i++
	}
	if closeAt < 0 {
		return "", p.fail(start, "unterminated multi-line string: missing %s\"\"\"%s",
			strings.Repeat("#", hashes), strings.Repeat("#", hashes))
	}
	p.pos = closeAt + 3 + hashes

	text := s[body:closeAt]
	// segs maps offsets in text to offsets in s once whitespace escapes are
	// removed: text[seg.t] is s[seg.s], up to the next segment.
	type segment struct{ t, s int }
	var segs []segment
	if escapes {
		// Whitespace escapes are resolved before dedenting; the other escapes
		// after.
		var b strings.Builder
		last := 0
		for i := 0; i < len(text); {
			if text[i] != '\\' {
				i++
				continue
			}
			_, n, ws, _ := decodeEscape(text, i, false)
			if ws {
				b.WriteString(text[last:i])
				last = i + n
				if segs == nil {
					segs = append(segs, segment{0, body})
				}
				segs = append(segs, segment{b.Len(), body + last})
			}
			i += n
		}
		if last > 0 {
			b.WriteString(text[last:])
			text = b.String()
		}
	}
	srcOff := func(t int) int {
		if segs == nil {
			return body + t
		}
		k := len(segs) - 1
		for k > 0 && segs[k].t > t {
			k--
		}
		return segs[k].s + t - segs[k].t
	}

	// Find the last line, which gives the indentation prefix.
	lastStart := 0
	for i := 0; i < len(text); {
		if n := nlLen(text, i); n > 0 {
			i += n
			lastStart = i
		} else {
			i++
		}
	}
	prefix := text[lastStart:]
	for i := 0; i < len(prefix); {
		n := wsLen(prefix, i)
		if n == 0 {
			return "", p.fail(srcOff(lastStart+i), "the closing \"\"\" of a multi-line string must be on its own line, after only whitespace")
		}
		i += n
	}
	if lastStart == 0 {
		return "", nil
	}

	var out []byte
	for i, first := 0, true; i < lastStart; first = false {
		j := i
		for nlLen(text, j) == 0 {
			j++
		}
		line := text[i:j]
		lineStart := i
		i = j + nlLen(text, j)
		if !first {
			out = append(out, '\n')
		}
		if onlySpace(line) {
			continue
		}
		if !strings.HasPrefix(line, prefix) {
			return "", p.fail(srcOff(lineStart), "every line of a multi-line string must start with the whitespace that precedes its closing \"\"\" (%s)", describePrefix(prefix))
		}
		line = line[len(prefix):]
		if raw || strings.IndexByte(line, '\\') < 0 {
			out = append(out, line...)
			continue
		}
		for k := 0; k < len(line); {
			if line[k] != '\\' {
				out = append(out, line[k])
				k++
				continue
			}
			r, n, ws, _ := decodeEscape(line, k, false)
			if n == 0 {
				n = 1
			}
			if !ws {
				out = utf8.AppendRune(out, r)
			}
			k += n
		}
	}
	return string(out), nil
}

// onlySpace reports whether s holds only unicode-space characters.
func onlySpace(s string) bool {
	for i := 0; i < len(s); {
		n := wsLen(s, i)
		if n == 0 {
			return false
		}
		i += n
	}
	return true
}

func describePrefix(prefix string) string {
	if prefix == "" {
		return "no indentation"
	}
	spaces, tabs, other := 0, 0, 0
	for _, r := range prefix {
		switch r {
		case ' ':
			spaces++
		case '\t':
			tabs++
		default:
			other++
		}
	}
	var parts []string
	if spaces > 0 {
		parts = append(parts, plural(spaces, "space"))
	}
	if tabs > 0 {
		parts = append(parts, plural(tabs, "tab"))
	}
	if other > 0 {
		parts = append(parts, plural(other, "other whitespace character"))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	s := strconv.Itoa(n) + " " + what
	if n != 1 {
		s += "s"
	}
	return s
}
