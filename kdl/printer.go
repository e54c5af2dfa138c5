package kdl

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format prints a document in the canonical form of the KDL test suite:
// one node per line, children indented by four spaces, arguments in order,
// properties sorted by key with only the last of duplicated keys kept,
// strings bare when they are valid identifiers and quoted otherwise, numbers
// in decimal, and a final newline. An empty document prints as a single
// newline. The output is always KDL 2.0, whatever version was parsed.
func Format(d *Document) []byte {
	if d == nil || len(d.Nodes) == 0 {
		return []byte("\n")
	}
	var b []byte
	for _, n := range d.Nodes {
		b = appendNode(b, n, 0)
	}
	if len(b) == 0 {
		return []byte("\n")
	}
	return b
}

// String returns Format(d) as a string.
func (d *Document) String() string {
	return string(Format(d))
}

// String returns the node, with its children, in the canonical form that
// Format writes, including the final newline.
func (n *Node) String() string {
	return string(appendNode(nil, n, 0))
}

// String returns the value in KDL form, with its type annotation if it has
// one: a bare identifier or a quoted string, a decimal number, or a keyword
// such as #true or #null.
func (v Value) String() string {
	return string(appendValue(nil, v))
}

func appendNode(b []byte, n *Node, depth int) []byte {
	if n == nil {
		return b
	}
	b = appendIndent(b, depth)
	if n.HasType || n.Type != "" {
		b = append(b, '(')
		b = appendString(b, n.Type)
		b = append(b, ')')
	}
	b = appendString(b, n.Name)
	for _, a := range n.Args {
		b = append(b, ' ')
		b = appendValue(b, a)
	}
	for _, pr := range canonicalProps(n.Props) {
		b = append(b, ' ')
		b = appendString(b, pr.Key)
		b = append(b, '=')
		b = appendValue(b, pr.Value)
	}
	if len(n.Children) > 0 {
		b = append(b, " {\n"...)
		for _, c := range n.Children {
			b = appendNode(b, c, depth+1)
		}
		b = appendIndent(b, depth)
		b = append(b, '}')
	}
	return append(b, '\n')
}

func appendIndent(b []byte, depth int) []byte {
	for range depth {
		b = append(b, "    "...)
	}
	return b
}

// canonicalProps returns the properties with only the last of each key,
// sorted by key.
func canonicalProps(props []Prop) []Prop {
	if len(props) <= 1 {
		return props
	}
	out := make([]Prop, 0, len(props))
	if len(props) <= 16 {
		for i, pr := range props {
			dup := false
			for _, later := range props[i+1:] {
				if later.Key == pr.Key {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, pr)
			}
		}
	} else {
		last := make(map[string]int, len(props))
		for i, pr := range props {
			last[pr.Key] = i
		}
		for i, pr := range props {
			if last[pr.Key] == i {
				out = append(out, pr)
			}
		}
	}
	slices.SortFunc(out, func(a, b Prop) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func appendValue(b []byte, v Value) []byte {
	if v.HasType || v.Type != "" {
		b = append(b, '(')
		b = appendString(b, v.Type)
		b = append(b, ')')
	}
	switch v.Kind {
	case KindString:
		return appendString(b, v.Str)
	case KindInt:
		if v.Int == nil {
			return append(b, '0')
		}
		return v.Int.Append(b, 10)
	case KindFloat:
		return append(b, formatFloat(v)...)
	case KindBool:
		if v.Bool {
			return append(b, "#true"...)
		}
		return append(b, "#false"...)
	}
	return append(b, "#null"...)
}

// formatFloat renders a float. When the value still matches its source text
// it keeps the source's digits (so 1.23E+1000 survives even though it does
// not fit a float64), normalised: no '+' sign or underscores, an upper-case
// 'E' and an explicit exponent sign.
func formatFloat(v Value) string {
	if s, ok := canonicalFloat(v.Raw); ok {
		if f, err := strconv.ParseFloat(s, 64); (err == nil || isRangeError(err)) && f == v.Float {
			return s
		}
	}
	f := v.Float
	switch {
	case math.IsNaN(f):
		return "#nan"
	case math.IsInf(f, 1):
		return "#inf"
	case math.IsInf(f, -1):
		return "#-inf"
	}
	a := math.Abs(f)
	if f == math.Trunc(f) && a < 1e16 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	if a >= 1e-4 && a < 1e16 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'E', -1, 64)
}

// canonicalFloat normalises the text of a decimal float, and reports false
// if raw is not one.
func canonicalFloat(raw string) (string, bool) {
	if raw == "" {
		return "", false
	}
	b := make([]byte, 0, len(raw)+1)
	i := 0
	switch raw[0] {
	case '-':
		b = append(b, '-')
		i++
	case '+':
		i++
	}
	digits := func() bool {
		if i >= len(raw) || !isDigit(raw[i]) {
			return false
		}
		for i < len(raw) && (isDigit(raw[i]) || raw[i] == '_') {
			if raw[i] != '_' {
				b = append(b, raw[i])
			}
			i++
		}
		return true
	}
	if !digits() {
		return "", false
	}
	float := false
	if i < len(raw) && raw[i] == '.' {
		b = append(b, '.')
		i++
		if !digits() {
			return "", false
		}
		float = true
	}
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		b = append(b, 'E')
		i++
		sign := byte('+')
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			sign = raw[i]
			i++
		}
		b = append(b, sign)
		if !digits() {
			return "", false
		}
		float = true
	}
	if !float || i != len(raw) {
		return "", false
	}
	return string(b), true
}

// appendString writes s bare if it is a valid identifier and quoted
// otherwise.
func appendString(b []byte, s string) []byte {
	if IsIdentifier(s) {
		return append(b, s...)
	}
	return appendQuoted(b, s)
}

// IsIdentifier reports whether s can be written as a bare KDL 2.0
// identifier string, that is without quotes.
func IsIdentifier(s string) bool {
	if s == "" {
		return false
	}
	switch s {
	case "true", "false", "null", "inf", "-inf", "nan":
		return false
	}
	for i := 0; i < len(s); {
		n := identLen(s, i, false)
		if n == 0 {
			return false
		}
		i += n
	}
	i := 0
	if s[0] == '+' || s[0] == '-' {
		i = 1
	}
	if i < len(s) && isDigit(s[i]) {
		return false
	}
	if i < len(s) && s[i] == '.' && i+1 < len(s) && isDigit(s[i+1]) {
		return false
	}
	return true
}

// appendQuoted writes s as a quoted KDL string.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && c != 0x7F {
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch r {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		default:
			if r < 0x20 || isNewlineRune(r) || isDisallowedRune(r) {
				b = append(b, `\u{`...)
				b = strconv.AppendInt(b, int64(r), 16)
				b = append(b, '}')
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return append(b, '"')
}
