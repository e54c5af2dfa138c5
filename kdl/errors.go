package kdl

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error is a syntax error in a KDL document. Parse returns every error as an
// *Error.
type Error struct {
	// Pos is where the problem is.
	Pos Pos
	// Msg describes the problem, without position.
	Msg string
	// SourceLine is the text of the source line that holds Pos, without its
	// line terminator.
	SourceLine string
}

// Error returns the error as "LINE:COL: MSG". Callers usually prefix it with
// the file name.
func (e *Error) Error() string {
	return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Msg)
}

// Snippet returns two lines, without a final newline: the source line of the
// error and a line with a caret under the error's column. Tabs before the
// column are kept in the caret line so that the caret lines up in a terminal;
// control and direction-changing characters of the source line are shown as
// U+FFFD so that printing the snippet is safe.
func (e *Error) Snippet() string {
	var line, caret strings.Builder
	col := 1
	for _, r := range e.SourceLine {
		if r != '\t' && (r < 0x20 || r == 0x7F || isDisallowedRune(r) || isNewlineRune(r)) {
			r = utf8.RuneError
		}
		line.WriteRune(r)
		if col < e.Pos.Col {
			if r == '\t' {
				caret.WriteByte('\t')
			} else {
				caret.WriteByte(' ')
			}
		}
		col++
	}
	for ; col < e.Pos.Col; col++ {
		caret.WriteByte(' ')
	}
	caret.WriteByte('^')
	return line.String() + "\n" + caret.String()
}

// lineText returns the text of the line that starts at lineStart.
func lineText(s string, lineStart int) string {
	for i := lineStart; i < len(s); i++ {
		if nlLen(s, i) > 0 {
			return s[lineStart:i]
		}
	}
	return s[lineStart:]
}

// newError builds an *Error for byte offset off of src.
func newError(src string, off int, msg string) *Error {
	t := newPosTracker(src)
	pos := t.at(off)
	return &Error{Pos: pos, Msg: msg, SourceLine: lineText(src, t.lineStart)}
}
