package pipeline

import (
	"fmt"
	"sort"
	"strings"
)

// Diagnostic is one problem found in a pipeline file.
type Diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
	// Warning marks a problem that does not make the file invalid.
	Warning bool `json:"warning,omitempty"`
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

// reporter collects diagnostics for one file.
type reporter struct {
	file  string
	diags Diagnostics
}

func (r *reporter) errorf(p Position, format string, args ...any) {
	r.diags = append(r.diags, Diagnostic{File: r.file, Line: p.Line, Col: p.Col, Message: fmt.Sprintf(format, args...)})
}

func (r *reporter) warnf(p Position, format string, args ...any) {
	r.diags = append(r.diags, Diagnostic{File: r.file, Line: p.Line, Col: p.Col, Message: fmt.Sprintf(format, args...), Warning: true})
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
		caret := make([]rune, 0, d.Col)
		for j, r := range []rune(line) {
			if j >= d.Col-1 {
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
