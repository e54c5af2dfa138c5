package kdl

import "strings"

// This file holds what only KDL 1.0 needs: its raw strings, and the version
// marker that selects a grammar. The rest of the KDL 1.0 differences are
// handled by the parser's v1 flag (bare true/false/null keywords, the \/
// escape, no whitespace escapes, literal newlines in strings, no multi-line
// strings, and the KDL 1.0 identifier characters).

// versionMarker returns 1 or 2 when s starts (after an optional BOM) with
// the version marker "/- kdl-version 1" or "/- kdl-version 2" on a line of its
// own, and 0 otherwise.
func versionMarker(s string) int {
	s = strings.TrimPrefix(s, "\uFEFF")
	if !strings.HasPrefix(s, "/-") {
		return 0
	}
	i := 2
	for n := wsLen(s, i); n > 0; n = wsLen(s, i) {
		i += n
	}
	if !strings.HasPrefix(s[i:], "kdl-version") {
		return 0
	}
	i += len("kdl-version")
	if wsLen(s, i) == 0 {
		return 0
	}
	for n := wsLen(s, i); n > 0; n = wsLen(s, i) {
		i += n
	}
	if i >= len(s) || (s[i] != '1' && s[i] != '2') {
		return 0
	}
	v := int(s[i] - '0')
	i++
	for n := wsLen(s, i); n > 0; n = wsLen(s, i) {
		i += n
	}
	if i < len(s) && nlLen(s, i) == 0 {
		return 0
	}
	return v
}

// isV1RawString reports whether p.pos (an 'r') starts a KDL 1.0 raw string:
// r"..." or r#"..."#.
func (p *parser) isV1RawString() bool {
	i := p.pos + 1
	for i < len(p.src) && p.src[i] == '#' {
		i++
	}
	return i < len(p.src) && p.src[i] == '"'
}

// v1RawString parses a KDL 1.0 raw string at p.pos. Its content runs to the
// first '"' followed by as many '#' as it opened with, and may span lines.
func (p *parser) v1RawString() (string, error) {
	s := p.src
	start := p.pos
	q := start + 1
	for s[q] == '#' {
		q++
	}
	hashes := q - start - 1
	for i := q + 1; i < len(s); i++ {
		if s[i] == '"' && closesRaw(s, i+1, hashes) {
			p.pos = i + 1 + hashes
			return s[q+1 : i], nil
		}
	}
	return "", p.fail(start, "unterminated raw string: missing '\"%s'", strings.Repeat("#", hashes))
}
