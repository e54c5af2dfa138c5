package runlog

import (
	"strings"
	"unicode/utf8"
)

// MaxLineBytes is the longest line stored. Executors already split longer
// output lines; a Writer splits again, at a character boundary, whatever
// reaches it longer than this.
const MaxLineBytes = 64 << 10

// clean makes line storable in a Postgres text column: invalid UTF-8 is
// replaced by U+FFFD and NUL bytes, which text cannot hold, are removed.
// A line that needs neither is returned as it is, without allocating.
func clean(line string) string {
	if strings.IndexByte(line, 0) < 0 && utf8.ValidString(line) {
		return line
	}
	line = strings.ToValidUTF8(line, "\uFFFD")
	return strings.ReplaceAll(line, "\x00", "")
}

// cut returns the first part of line that fits in MaxLineBytes, ending at a
// character boundary, and the rest.
func cut(line string) (part, rest string) {
	if len(line) <= MaxLineBytes {
		return line, ""
	}
	n := MaxLineBytes
	for n > 0 && !utf8.RuneStart(line[n]) {
		n--
	}
	if n == 0 { // not UTF-8 after all; clean has run, so this cannot happen
		n = MaxLineBytes
	}
	return line[:n], line[n:]
}
