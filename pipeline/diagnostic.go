package pipeline

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Diagnostic is one problem found in a pipeline file.
type Diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
	// Warning marks a problem that does not make the file invalid.
	Warning bool `json:"warning,omitempty"`
	// Limit marks an error that is one of Limits refusing the file: a
	// server whose operator raised that limit may take it.
	Limit bool `json:"limit,omitempty"`
	// Snippet is the source line and a caret under the column, when known.
	Snippet string `json:"-"`
}

// String renders the diagnostic as `file:line:col: message`, with
// "warning: " before the message of a warning.
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		b.WriteByte(':')
	}
	fmt.Fprintf(&b, "%d:%d: ", d.Line, d.Col)
	if d.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// Diagnostics are every problem found in a file, in source order.
type Diagnostics []Diagnostic

// OnlyLimits reports whether every error is a limit's (Diagnostic.Limit),
// and there is one: the file may be valid where the limits are higher.
func (ds Diagnostics) OnlyLimits() bool {
	errs := ds.Errors()
	for _, d := range errs {
		if !d.Limit {
			return false
		}
	}
	return len(errs) > 0
}

// HasErrors reports whether any diagnostic is an error rather than a warning.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if !d.Warning {
			return true
		}
	}
	return false
}

// Errors returns the diagnostics that are errors.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if !d.Warning {
			out = append(out, d)
		}
	}
	return out
}

// Warnings returns the diagnostics that are warnings.
func (ds Diagnostics) Warnings() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Warning {
			out = append(out, d)
		}
	}
	return out
}

// Error renders the diagnostics one per line, so that Diagnostics can be
// returned as an error.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

func (ds Diagnostics) sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Line != ds[j].Line {
			return ds[i].Line < ds[j].Line
		}
		return ds[i].Col < ds[j].Col
	})
}

// MaxDiagnostics is the most diagnostics Load returns for one file; the
// rest are counted in a last one. A file of a million unknown nodes would
// otherwise make a million messages (and a response that size).
const MaxDiagnostics = 100

// reporter collects diagnostics for one file.
type reporter struct {
	file  string
	diags Diagnostics
	// dropped counts the diagnostics past MaxDiagnostics, and
	// droppedErrors those of them that are errors.
	dropped, droppedErrors int
	// firstDropped is where the first dropped diagnostic points.
	firstDropped Position
}

func (r *reporter) errorf(p Position, format string, args ...any) {
	r.add(Diagnostic{Line: p.Line, Col: p.Col}, format, args)
}

func (r *reporter) warnf(p Position, format string, args ...any) {
	r.add(Diagnostic{Line: p.Line, Col: p.Col, Warning: true}, format, args)
}

// limitf reports a file over one of its Limits.
func (r *reporter) limitf(p Position, format string, args ...any) {
	r.add(Diagnostic{Line: p.Line, Col: p.Col, Limit: true}, format, args)
}

// full reports whether further diagnostics are only counted.
func (r *reporter) full() bool { return len(r.diags) >= MaxDiagnostics }

// add appends d with its file and message, or only counts it once there
// are MaxDiagnostics.
func (r *reporter) add(d Diagnostic, format string, args []any) {
	if r.full() {
		if r.dropped == 0 {
			r.firstDropped = Position{Line: d.Line, Col: d.Col}
		}
		r.dropped++
		if !d.Warning {
			r.droppedErrors++
		}
		return
	}
	d.File, d.Message = r.file, fmt.Sprintf(format, args...)
	r.diags = append(r.diags, d)
}

// finish returns the diagnostics in source order, with a last one that
// counts those left out.
func (r *reporter) finish(src []byte) Diagnostics {
	r.diags.sort()
	if r.dropped > 0 {
		r.diags = append(r.diags, Diagnostic{File: r.file, Line: r.firstDropped.Line, Col: r.firstDropped.Col,
			Message: fmt.Sprintf("too many problems: %d more not shown (%d of them errors); fix these first", r.dropped, r.droppedErrors),
			Warning: r.droppedErrors == 0})
	}
	r.diags.attachSnippets(src)
	return r.diags
}

// attachSnippets gives each diagnostic that has none the source line it
// points at and a caret under its column.
func (ds Diagnostics) attachSnippets(src []byte) {
	lines := strings.Split(string(src), "\n")
	for i := range ds {
		d := &ds[i]
		if d.Snippet != "" || d.Line < 1 || d.Line > len(lines) {
			continue
		}
		line := strings.TrimRight(lines[d.Line-1], "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		line, col := snippetWindow(line, d.Col)
		caret := make([]rune, 0, col)
		for j, r := range []rune(line) {
			if j >= col-1 {
				break
			}
			if r == '\t' {
				caret = append(caret, '\t')
			} else {
				caret = append(caret, ' ')
			}
		}
		d.Snippet = line + "\n" + string(caret) + "^"
	}
}

// snippetWidth is how many characters of a long line a snippet shows.
const snippetWidth = 120

// snippetWindow cuts a long line to the snippetWidth characters around
// column col (counted in runes from 1), marking the cuts with "…", and
// returns the column in the cut line. A minified file can be one line of a
// megabyte; each snippet must not copy all of it.
func snippetWindow(line string, col int) (string, int) {
	if len(line) <= snippetWidth {
		return line, col
	}
	total := utf8.RuneCountInString(line)
	if total <= snippetWidth {
		return line, col
	}
	start := max(0, min(col-1-snippetWidth/2, total-snippetWidth))
	end := start + snippetWidth
	// Byte offsets of runes start and end, found without converting the
	// whole line.
	from, to, n := 0, len(line), 0
	for i := range line {
		if n == start {
			from = i
		}
		if n == end {
			to = i
			break
		}
		n++
	}
	out := line[from:to]
	col -= start
	if start > 0 {
		out = "…" + out
		col++
	}
	if end < total {
		out += "…"
	}
	return out, col
}
