package kdl

import "unicode/utf8"

// This file holds the character classes of the KDL grammar: whitespace,
// newlines, identifier characters and disallowed code points. The functions
// that take a string and an offset assume the text is valid UTF-8 (Parse
// checks that first) and return the byte length of the matched sequence, or 0.

// identASCII2 and identASCII1 tell which ASCII bytes may appear in a bare
// identifier in KDL 2.0 and KDL 1.0 respectively.
var identASCII2, identASCII1 [utf8.RuneSelf]bool

// asciiAllowed tells which ASCII bytes may appear literally in a document.
var asciiAllowed [utf8.RuneSelf]bool

// byteClass classifies the first byte of a character for the fast paths of
// wsLen and nlLen.
var byteClass [256]uint8

const (
	classSpace        = 1 << iota // a one-byte space: ' ' or '\t'
	classMaybeSpace               // may start a multi-byte unicode-space
	classMaybeNewline             // may start a newline
)

func init() {
	for c := 0x21; c < 0x7f; c++ {
		identASCII2[c] = true
		identASCII1[c] = true
	}
	for _, c := range `\/(){};[]"#=` {
		identASCII2[c] = false
	}
	for _, c := range `\/(){}<>;[]=,"` {
		identASCII1[c] = false
	}
	for c := 0x20; c < 0x7f; c++ {
		asciiAllowed[c] = true
	}
	for _, c := range "\t\n\v\f\r" {
		asciiAllowed[c] = true
	}
	byteClass[' '] = classSpace
	byteClass['\t'] = classSpace
	for _, c := range []byte{0xC2, 0xE1, 0xE2, 0xE3} {
		byteClass[c] |= classMaybeSpace
	}
	for _, c := range []byte{'\n', '\v', '\f', '\r', 0xC2, 0xE2} {
		byteClass[c] |= classMaybeNewline
	}
}

// wsLen returns the length of the unicode-space character at s[i], or 0.
func wsLen(s string, i int) int {
	if i < len(s) && byteClass[s[i]]&(classSpace|classMaybeSpace) != 0 {
		return wsLenSlow(s, i)
	}
	return 0
}

func wsLenSlow(s string, i int) int {
	switch c := s[i]; c {
	case ' ', '\t':
		return 1
	case 0xC2: // U+00A0
		if i+1 < len(s) && s[i+1] == 0xA0 {
			return 2
		}
	case 0xE1: // U+1680
		if i+2 < len(s) && s[i+1] == 0x9A && s[i+2] == 0x80 {
			return 3
		}
	case 0xE2:
		if i+2 < len(s) {
			c1, c2 := s[i+1], s[i+2]
			// U+2000-200A, U+202F
			if c1 == 0x80 && (c2 <= 0x8A || c2 == 0xAF) {
				return 3
			}
			// U+205F
			if c1 == 0x81 && c2 == 0x9F {
				return 3
			}
		}
	case 0xE3: // U+3000
		if i+2 < len(s) && s[i+1] == 0x80 && s[i+2] == 0x80 {
			return 3
		}
	}
	return 0
}

// nlLen returns the length of the newline sequence at s[i], or 0. CRLF is a
// single newline of length 2.
func nlLen(s string, i int) int {
	if i < len(s) && byteClass[s[i]]&classMaybeNewline != 0 {
		return nlLenSlow(s, i)
	}
	return 0
}

func nlLenSlow(s string, i int) int {
	switch s[i] {
	case '\n', '\v', '\f':
		return 1
	case '\r':
		if i+1 < len(s) && s[i+1] == '\n' {
			return 2
		}
		return 1
	case 0xC2: // U+0085 NEL
		if i+1 < len(s) && s[i+1] == 0x85 {
			return 2
		}
	case 0xE2: // U+2028 LS, U+2029 PS
		if i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9) {
			return 3
		}
	}
	return 0
}

// isSpaceRune reports whether r is a KDL unicode-space (non-newline
// whitespace).
func isSpaceRune(r rune) bool {
	switch {
	case r == ' ', r == '\t', r == 0xA0, r == 0x1680, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	case r >= 0x2000 && r <= 0x200A:
		return true
	}
	return false
}

// isNewlineRune reports whether r is one of KDL's newline characters.
func isNewlineRune(r rune) bool {
	switch r {
	case '\n', '\v', '\f', '\r', 0x85, 0x2028, 0x2029:
		return true
	}
	return false
}

// isDisallowedRune reports whether r may not appear literally in a KDL
// document (U+FEFF is allowed only as the very first code point, which the
// caller handles).
func isDisallowedRune(r rune) bool {
	switch {
	case r < 0x20:
		return r <= 0x08 || r >= 0x0E
	case r == 0x7F:
		return true
	case r < 0x200E:
		return false
	case r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	case r >= 0xD800 && r <= 0xDFFF, r == 0xFEFF, r > utf8.MaxRune:
		return true
	}
	return false
}

// isIdentRune reports whether the non-ASCII rune r may appear in a bare
// identifier (the rules are the same in KDL 1.0 and 2.0 outside ASCII).
func isIdentRune(r rune) bool {
	if r < utf8.RuneSelf {
		return identASCII2[r]
	}
	return !isSpaceRune(r) && !isNewlineRune(r) && !isDisallowedRune(r) && r != utf8.RuneError
}

// identLen returns the length of the identifier character at s[i], or 0.
func identLen(s string, i int, v1 bool) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	if c < utf8.RuneSelf {
		if v1 {
			if identASCII1[c] {
				return 1
			}
		} else if identASCII2[c] {
			return 1
		}
		return 0
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if isIdentRune(r) {
		return n
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// validate checks that s is UTF-8 without disallowed code points, and returns
// the offset of the first problem and a message, or -1.
func validate(s string) (int, string) {
	i := 0
	if len(s) >= 3 && s[:3] == "\uFEFF" {
		i = 3
	}
	for i < len(s) {
		i += printableRun(s[i:])
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if !asciiAllowed[c] {
				return i, "disallowed control character " + runeName(rune(c))
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return i, "invalid UTF-8 encoding"
		}
		if isDisallowedRune(r) {
			if r == 0xFEFF {
				return i, "a byte order mark (U+FEFF) is only allowed at the very start of a document"
			}
			return i, "disallowed code point " + runeName(r)
		}
		i += n
	}
	return -1, ""
}

// runeName renders r as U+XXXX.
func runeName(r rune) string {
	const hex = "0123456789ABCDEF"
	var b [10]byte
	n := len(b)
	for v := uint32(r); ; v >>= 4 {
		n--
		b[n] = hex[v&0xF]
		if v < 0x10 && len(b)-n >= 4 {
			break
		}
	}
	return "U+" + string(b[n:])
}

// printableRun returns the length of the run of printable ASCII bytes
// (0x20-0x7E) that s starts with, looking at eight bytes at a time.
func printableRun(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		// A byte has its high bit set, is below 0x20, or is 0x7F.
		below := (w - 0x20*ones) & ^w & highs
		x := w ^ 0x7F*ones
		del := (x - ones) & ^x & highs
		if (w&highs)|below|del != 0 {
			break
		}
	}
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7F {
		i++
	}
	return i
}
