package pipeline

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/buildit-ci/buildit/kdl"
)

// decoder turns KDL nodes into model values, reporting every problem it
// meets and carrying on, so that one pass finds them all.
type decoder struct {
	*reporter
	lim Limits
	// grown counts what applying templates adds to the pipeline.
	grown budget
	// stopped is set when a limit is hit.
	stopped bool
}

// refuse reports the file over one of its limits and stops decoding: the
// rest of the file is not looked at, as that is the work the limit bounds.
func (d *decoder) refuse(p Position, format string, args ...any) {
	d.limitf(p, format, args...)
	d.stopped = true
}

func posOf(p kdl.Pos) Position { return Position{Line: p.Line, Col: p.Col} }

// field is one setting of a node, written either as a property
// (`health-check path="/"`) or as a child (`health-check { path "/" }`).
type field struct {
	name string
	vals []kdl.Value
	pos  Position
}

// settings reads the properties and children of n as named settings and
// reports any whose name is not in known. It does not look at n's arguments.
func (d *decoder) settings(n *kdl.Node, what string, known []string) []field {
	var out []field
	for _, p := range lastProps(n) {
		if !contains(known, p.Key) {
			d.unknown(posOf(p.Pos), "property", p.Key, what, known)
			continue
		}
		out = append(out, field{name: p.Key, vals: []kdl.Value{p.Value}, pos: posOf(p.Pos)})
	}
	for _, c := range n.Children {
		if !contains(known, c.Name) {
			d.unknown(posOf(c.NamePos), "node", c.Name, what, known)
			continue
		}
		d.noProps(c)
		d.noChildren(c)
		if len(c.Args) == 0 {
			d.errorf(posOf(c.NamePos), "%s needs a value", c.Name)
			continue
		}
		out = append(out, field{name: c.Name, vals: c.Args, pos: posOf(c.NamePos)})
	}
	return out
}

// lastProps returns n's properties with only the last of each key kept, in
// the order of their last occurrence, as the KDL spec says.
func lastProps(n *kdl.Node) []kdl.Prop {
	seen := make(map[string]int, len(n.Props))
	for i, p := range n.Props {
		seen[p.Key] = i
	}
	out := make([]kdl.Prop, 0, len(seen))
	for i, p := range n.Props {
		if seen[p.Key] == i {
			out = append(out, p)
		}
	}
	return out
}

func (d *decoder) unknown(p Position, kind, name, where string, known []string) {
	if d.full() {
		// Only counted: spare a file of typos the messages and their
		// edit distances.
		d.errorf(p, "unknown %s", kind)
		return
	}
	msg := fmt.Sprintf("unknown %s %q in %s", kind, name, where)
	if s := suggest(name, known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	d.errorf(p, "%s", msg)
}

func (d *decoder) noArgs(n *kdl.Node) {
	if len(n.Args) > 0 {
		d.errorf(posOf(n.Args[0].Pos), "%s takes no arguments", n.Name)
	}
}

func (d *decoder) noProps(n *kdl.Node) {
	for _, p := range n.Props {
		d.errorf(posOf(p.Pos), "unknown property %q on %s", p.Key, n.Name)
	}
}

func (d *decoder) noChildren(n *kdl.Node) {
	if n.HasChildren && len(n.Children) > 0 {
		d.errorf(posOf(n.Children[0].Pos), "%s takes no children block", n.Name)
	}
}

// onlyArgs checks that n is a plain `name arg…` node.
func (d *decoder) onlyArgs(n *kdl.Node) {
	d.noProps(n)
	d.noChildren(n)
}

// text reads a value that must be a string.
func (d *decoder) text(v kdl.Value, what string) (string, bool) {
	if v.Kind != kdl.KindString {
		d.errorf(posOf(v.Pos), "%s must be a string, got %s", what, describe(v))
		return "", false
	}
	return v.Str, true
}

// scalar reads a string, number or boolean as text (env values, matrix
// values), as a shell would see it.
func (d *decoder) scalar(v kdl.Value, what string) (string, bool) {
	switch v.Kind {
	case kdl.KindString:
		return v.Str, true
	case kdl.KindInt:
		return v.Int.String(), true
	case kdl.KindFloat:
		return strconv.FormatFloat(v.Float, 'g', -1, 64), true
	case kdl.KindBool:
		return strconv.FormatBool(v.Bool), true
	}
	d.errorf(posOf(v.Pos), "%s must be a string, number or boolean, got %s", what, v.Kind)
	return "", false
}

// single reads the one value of a setting.
func (d *decoder) single(f field) kdl.Value {
	if len(f.vals) > 1 {
		d.errorf(posOf(f.vals[1].Pos), "%s takes one value, got %d", f.name, len(f.vals))
	}
	return f.vals[0]
}

// oneText reads a node of the form `name "text"`.
func (d *decoder) oneText(n *kdl.Node) (string, bool) {
	d.onlyArgs(n)
	if len(n.Args) != 1 {
		d.errorf(posOf(n.NamePos), "%s takes one string, got %d values", n.Name, len(n.Args))
		return "", false
	}
	return d.text(n.Args[0], n.Name)
}

// texts reads a node of the form `name "a" "b" …` with at least one value.
func (d *decoder) texts(n *kdl.Node) []string {
	d.onlyArgs(n)
	if len(n.Args) == 0 {
		d.errorf(posOf(n.NamePos), "%s needs at least one value", n.Name)
		return nil
	}
	var out []string
	for _, a := range n.Args {
		if s, ok := d.text(a, n.Name); ok {
			out = append(out, s)
		}
	}
	return out
}

// integer reads a value that must be an integer in [lo, hi].
func (d *decoder) integer(v kdl.Value, what string, lo, hi int) (int, bool) {
	if v.Kind != kdl.KindInt {
		d.errorf(posOf(v.Pos), "%s must be an integer, got %s", what, describe(v))
		return 0, false
	}
	i, ok := v.Int64()
	if !ok || i < int64(lo) || i > int64(hi) {
		d.errorf(posOf(v.Pos), "%s must be between %d and %d, got %s", what, lo, hi, v.Raw)
		return 0, false
	}
	return int(i), true
}

// boolean reads a value that must be #true or #false.
func (d *decoder) boolean(v kdl.Value, what string) (bool, bool) {
	if v.Kind != kdl.KindBool {
		d.errorf(posOf(v.Pos), "%s must be #true or #false, got %s", what, describe(v))
		return false, false
	}
	return v.Bool, true
}

// duration reads a duration string such as "90s", "20m", "2h", "1h30m" or
// "3d".
func (d *decoder) duration(v kdl.Value, what string) (time.Duration, bool) {
	s, ok := d.text(v, what)
	if !ok {
		return 0, false
	}
	dur, err := ParseDuration(s)
	if err != nil {
		d.errorf(posOf(v.Pos), "%s: %v", what, err)
		return 0, false
	}
	return dur, true
}

// ParseDuration parses a positive duration written as Go does ("90s",
// "1h30m", "500ms") or in days ("3d").
func ParseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err == nil && n > 0 && n <= 365 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur <= 0 {
		return 0, fmt.Errorf("invalid duration %q: write a positive number and a unit, like \"90s\", \"20m\", \"2h\" or \"3d\"", s)
	}
	return dur, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// env reads `env KEY="value" …` or `env { KEY "value" }` into dst.
func (d *decoder) env(n *kdl.Node, dst map[string]string) {
	d.noArgs(n)
	put := func(key string, v kdl.Value, p Position) {
		if !envName.MatchString(key) {
			d.errorf(p, "invalid environment variable name %q: use letters, digits and _, not starting with a digit", key)
			return
		}
		if s, ok := d.scalar(v, "env "+key); ok {
			dst[key] = s
		}
	}
	for _, p := range lastProps(n) {
		put(p.Key, p.Value, posOf(p.Pos))
	}
	for _, c := range n.Children {
		d.onlyArgs(c)
		if len(c.Args) != 1 {
			d.errorf(posOf(c.NamePos), "env %s takes one value, got %d", c.Name, len(c.Args))
			continue
		}
		put(c.Name, c.Args[0], posOf(c.NamePos))
	}
	if len(n.Props) == 0 && len(n.Children) == 0 {
		d.errorf(posOf(n.NamePos), "env sets nothing: write env NAME=\"value\"")
	}
}

// describe names a value for messages: `an integer (3)`, `a string ("x")`.
func describe(v kdl.Value) string {
	switch v.Kind {
	case kdl.KindNull:
		return "#null"
	case kdl.KindInt:
		return "an integer (" + v.Raw + ")"
	case kdl.KindString:
		return "a string (" + strconv.Quote(v.Str) + ")"
	}
	return "a " + v.Kind.String() + " (" + v.Raw + ")"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
