package pipeline

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/buildit-ci/buildit/kdl"
)

// The bounds of the lists `on` and `inputs` hold: a schedule is a Temporal
// Schedule and an input a field of every manual run's form.
const (
	MaxSchedules = 20
	MaxInputs    = 50
)

var (
	onNodes          = []string{"push", "pull-request", "tag", "manual", "schedule"}
	pushFields       = []string{"branch", "paths", "paths-ignore"}
	pullRequestField = []string{"branch", "types", "paths", "paths-ignore"}
	scheduleFields   = []string{"name", "branch", "timezone", "jitter", "overlap"}
	scheduleNodes    = []string{"name", "branch", "timezone", "jitter", "overlap", "inputs"}
	overlaps         = []string{OverlapSkip, OverlapBufferOne, OverlapCancelOther}
	inputProps       = []string{"type", "default", "required", "description"}
	inputTypes       = []string{InputString, InputBoolean, InputChoice, InputNumber}
	cronMacros       = []string{"@hourly", "@daily", "@weekly", "@monthly"}
)

// inputName and scheduleName are what an input's and a schedule's names
// may be.
var (
	inputName    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	scheduleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
)

// on decodes the `on` node.
func (d *decoder) on(n *kdl.Node) *On {
	d.noArgs(n)
	d.noProps(n)
	on := &On{Pos: posOf(n.NamePos)}
	seen := map[string]kdl.Pos{}
	names := map[string]Position{}
	for _, c := range n.Children {
		if !contains(onNodes, c.Name) {
			d.unknown(posOf(c.NamePos), "node", c.Name, "on", onNodes)
			continue
		}
		if c.Name != "schedule" {
			if first, dup := seen[c.Name]; dup {
				d.errorf(posOf(c.NamePos), "%s is set twice in on (first at %d:%d)", c.Name, first.Line, first.Col)
				continue
			}
			seen[c.Name] = c.NamePos
		}
		switch c.Name {
		case "push":
			d.noArgs(c)
			t := &PushTrigger{}
			for _, f := range d.settings(c, "push", pushFields) {
				globs := d.globs(f)
				switch f.name {
				case "branch":
					t.Branches = append(t.Branches, globs...)
				case "paths":
					t.Paths = append(t.Paths, globs...)
				case "paths-ignore":
					t.PathsIgnore = append(t.PathsIgnore, globs...)
				}
			}
			on.Push = t
		case "pull-request":
			d.noArgs(c)
			t := &PullRequestTrigger{}
			for _, f := range d.settings(c, "pull-request", pullRequestField) {
				if f.name == "types" {
					for _, v := range f.vals {
						if s, ok := d.text(v, "pull-request type"); ok {
							if !contains(pullRequestTypes, s) {
								d.badChoice(posOf(v.Pos), "pull-request type", s, pullRequestTypes)
								continue
							}
							t.Types = append(t.Types, s)
						}
					}
					continue
				}
				globs := d.globs(f)
				switch f.name {
				case "branch":
					t.Branches = append(t.Branches, globs...)
				case "paths":
					t.Paths = append(t.Paths, globs...)
				case "paths-ignore":
					t.PathsIgnore = append(t.PathsIgnore, globs...)
				}
			}
			on.PullRequest = t
		case "tag":
			d.onlyArgs(c)
			t := &TagTrigger{}
			t.Tags = d.globs(field{name: "tag", vals: c.Args, pos: posOf(c.NamePos)})
			on.Tag = t
		case "manual":
			d.onlyArgs(c)
			on.Manual = true
			if len(c.Args) > 1 {
				d.errorf(posOf(c.Args[1].Pos), "manual takes no value, or one: manual #false")
			}
			if len(c.Args) > 0 {
				on.Manual, _ = d.boolean(c.Args[0], "manual")
			}
		case "schedule":
			if len(on.Schedules) >= MaxSchedules {
				d.limitf(posOf(c.NamePos), "too many schedules: a pipeline declares at most %d", MaxSchedules)
				continue
			}
			s := d.schedule(c, len(on.Schedules)+1)
			if first, dup := names[s.Name]; dup && s.Name != "" {
				d.errorf(s.Pos, "duplicate schedule name %q (first at %d:%d)", s.Name, first.Line, first.Col)
				continue
			}
			names[s.Name] = s.Pos
			on.Schedules = append(on.Schedules, s)
		}
	}
	if len(n.Children) == 0 {
		d.errorf(posOf(n.NamePos), "on names no event: write on { push; pull-request; tag \"v*\"; manual; schedule \"0 3 * * *\" }")
	}
	return on
}

// globs reads a setting's values as globs of MatchGlob.
func (d *decoder) globs(f field) []string {
	var out []string
	for _, v := range f.vals {
		s, ok := d.text(v, f.name)
		if !ok {
			continue
		}
		if s == "" {
			d.errorf(posOf(v.Pos), "%s pattern is empty", f.name)
			continue
		}
		if _, err := globRegexp(s); err != nil {
			d.errorf(posOf(v.Pos), "invalid %s pattern: %v", f.name, err)
			continue
		}
		out = append(out, s)
	}
	return out
}

// schedule decodes one `schedule "CRON" name=… { inputs … }`; nth counts
// the schedules from 1, for the default name.
func (d *decoder) schedule(n *kdl.Node, nth int) Schedule {
	s := Schedule{Pos: posOf(n.NamePos)}
	if len(n.Args) != 1 {
		d.errorf(posOf(n.NamePos), "schedule takes one cron expression: schedule \"0 3 * * *\"")
	} else if c, ok := d.text(n.Args[0], "schedule"); ok {
		if err := checkCron(c); err != nil {
			d.errorf(posOf(n.Args[0].Pos), "schedule %q: %v", c, err)
		}
		s.Cron = c
	}
	var fields []field
	for _, p := range lastProps(n) {
		if !contains(scheduleFields, p.Key) {
			d.unknown(posOf(p.Pos), "property", p.Key, "schedule", scheduleFields)
			continue
		}
		fields = append(fields, field{name: p.Key, vals: []kdl.Value{p.Value}, pos: posOf(p.Pos)})
	}
	for _, c := range n.Children {
		if !contains(scheduleNodes, c.Name) {
			d.unknown(posOf(c.NamePos), "node", c.Name, "schedule", scheduleNodes)
			continue
		}
		if c.Name == "inputs" {
			if s.Inputs == nil {
				s.Inputs = map[string]string{}
			}
			d.scheduleInputs(c, s.Inputs)
			continue
		}
		d.onlyArgs(c)
		if len(c.Args) == 0 {
			d.errorf(posOf(c.NamePos), "%s needs a value", c.Name)
			continue
		}
		fields = append(fields, field{name: c.Name, vals: c.Args, pos: posOf(c.NamePos)})
	}
	for _, f := range fields {
		v := d.single(f)
		switch f.name {
		case "name":
			if name, ok := d.text(v, "schedule name"); ok {
				if !scheduleName.MatchString(name) || len(name) > 64 {
					d.errorf(posOf(v.Pos), "invalid schedule name %q: use up to 64 letters, digits, '-' and '_'", name)
				}
				s.Name = name
			}
		case "branch":
			s.Branch, _ = d.text(v, "schedule branch")
		case "timezone":
			if tz, ok := d.text(v, "timezone"); ok {
				if err := checkTimezone(tz); err != nil {
					d.errorf(posOf(v.Pos), "%v", err)
				}
				s.Timezone = tz
			}
		case "jitter":
			s.Jitter, _ = d.duration(v, "jitter")
		case "overlap":
			if o, ok := d.text(v, "overlap"); ok {
				if !contains(overlaps, o) {
					d.badChoice(posOf(v.Pos), "overlap", o, overlaps)
				}
				s.Overlap = o
			}
		}
	}
	if s.Name == "" {
		s.Name = "schedule-" + strconv.Itoa(nth)
	}
	if s.Overlap == "" {
		s.Overlap = OverlapSkip
	}
	return s
}

// scheduleInputs reads `inputs NAME="value" …` or `inputs { NAME "value" }`.
func (d *decoder) scheduleInputs(n *kdl.Node, dst map[string]string) {
	d.noArgs(n)
	for _, p := range lastProps(n) {
		if v, ok := d.scalar(p.Value, "input "+p.Key); ok {
			dst[p.Key] = v
		}
	}
	for _, c := range n.Children {
		d.onlyArgs(c)
		if len(c.Args) != 1 {
			d.errorf(posOf(c.NamePos), "input %s takes one value, got %d", c.Name, len(c.Args))
			continue
		}
		if v, ok := d.scalar(c.Args[0], "input "+c.Name); ok {
			dst[c.Name] = v
		}
	}
}

// checkTimezone refuses what time.LoadLocation would not load, and
// "Local", which is the server's zone rather than one the file names.
func checkTimezone(tz string) error {
	if tz == "" || tz == "Local" {
		return fmt.Errorf("invalid timezone %q: name an IANA zone like \"Europe/Berlin\" or \"UTC\"", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("unknown timezone %q: name an IANA zone like \"Europe/Berlin\" or \"UTC\"", tz)
	}
	return nil
}

// cronField is one field of a cron expression: its name, range and the
// names it accepts for its values (jan…, sun…).
type cronField struct {
	name   string
	lo, hi int
	names  []string
}

var cronFields = []cronField{
	{name: "minute", lo: 0, hi: 59},
	{name: "hour", lo: 0, hi: 23},
	{name: "day of month", lo: 1, hi: 31},
	{name: "month", lo: 1, hi: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{name: "day of week", lo: 0, hi: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// checkCron checks a five-field cron expression (minute, hour, day of
// month, month, day of week; each a list of *, N, N-M, with /STEP) or one
// of cronMacros.
func checkCron(expr string) error {
	if strings.HasPrefix(expr, "@") {
		if contains(cronMacros, expr) {
			return nil
		}
		msg := "want five fields or one of " + strings.Join(cronMacros, ", ")
		if s := suggest(expr, cronMacros); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return errors.New(msg)
	}
	parts := strings.Fields(expr)
	if len(parts) != 5 {
		return fmt.Errorf("want five fields (minute hour day-of-month month day-of-week), got %d", len(parts))
	}
	for i, p := range parts {
		if err := cronFields[i].check(p); err != nil {
			return err
		}
	}
	return nil
}

func (f cronField) check(s string) error {
	for _, item := range strings.Split(s, ",") {
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 || n > f.hi {
				return fmt.Errorf("%s: invalid step %q", f.name, step)
			}
		}
		if rng == "*" {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := f.value(lo)
		if err != nil {
			return err
		}
		if isRange {
			b, err := f.value(hi)
			if err != nil {
				return err
			}
			if b < a {
				return fmt.Errorf("%s: range %q runs backwards", f.name, rng)
			}
		}
	}
	return nil
}

func (f cronField) value(s string) (int, error) {
	for i, name := range f.names {
		if strings.EqualFold(s, name) {
			if f.lo == 1 {
				return i + 1, nil
			}
			return i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < f.lo || n > f.hi {
		return 0, fmt.Errorf("%s: %q is not a value from %d to %d", f.name, s, f.lo, f.hi)
	}
	return n, nil
}

// inputs decodes the `inputs` node into p.Inputs.
func (d *decoder) inputs(n *kdl.Node, p *Pipeline) {
	d.noArgs(n)
	d.noProps(n)
	vars := map[string]Input{}
	for _, c := range n.Children {
		if len(p.Inputs) >= MaxInputs {
			d.limitf(posOf(c.NamePos), "too many inputs: a pipeline declares at most %d", MaxInputs)
			return
		}
		in, ok := d.input(c)
		if !ok {
			continue
		}
		if first, dup := vars[InputVar(in.Name)]; dup {
			if first.Name == in.Name {
				d.errorf(in.Pos, "duplicate input %q (first at %d:%d)", in.Name, first.Pos.Line, first.Pos.Col)
			} else {
				d.errorf(in.Pos, "input %q and input %q (at %d:%d) are both %s", in.Name, first.Name, first.Pos.Line, first.Pos.Col, InputVar(in.Name))
			}
			continue
		}
		vars[InputVar(in.Name)] = in
		p.Inputs = append(p.Inputs, in)
	}
	if len(n.Children) == 0 {
		d.errorf(posOf(n.NamePos), "inputs declares nothing: write inputs { NAME type=\"string\" }")
	}
}

// input decodes one entry of `inputs`.
func (d *decoder) input(c *kdl.Node) (Input, bool) {
	in := Input{Name: c.Name, Type: InputString, Pos: posOf(c.NamePos)}
	ok := true
	if !inputName.MatchString(c.Name) || len(c.Name) > 64 {
		d.errorf(in.Pos, "invalid input name %q: use up to 64 letters, digits, '-' and '_', starting with a letter", c.Name)
		ok = false
	}
	d.noArgs(c)
	var def *kdl.Value
	for _, p := range lastProps(c) {
		switch p.Key {
		case "type":
			if t, ok := d.text(p.Value, "input type"); ok {
				if !contains(inputTypes, t) {
					d.badChoice(posOf(p.Value.Pos), "input type", t, inputTypes)
				} else {
					in.Type = t
				}
			}
		case "default":
			v := p.Value
			def = &v
		case "required":
			in.Required, _ = d.boolean(p.Value, "required")
		case "description":
			in.Description, _ = d.text(p.Value, "description")
		default:
			d.unknown(posOf(p.Pos), "property", p.Key, "input "+quote(c.Name), inputProps)
		}
	}
	valuesPos := Position{}
	for _, cc := range c.Children {
		if cc.Name != "values" {
			d.unknown(posOf(cc.NamePos), "node", cc.Name, "input "+quote(c.Name), []string{"values"})
			continue
		}
		valuesPos = posOf(cc.NamePos)
		seen := map[string]bool{}
		d.onlyArgs(cc)
		for _, a := range cc.Args {
			if v, ok := d.scalar(a, "choice value"); ok {
				if seen[v] {
					d.errorf(posOf(a.Pos), "input %q lists %q twice", c.Name, v)
					continue
				}
				seen[v] = true
				in.Values = append(in.Values, v)
			}
		}
	}
	switch {
	case in.Type == InputChoice && len(in.Values) == 0:
		d.errorf(in.Pos, "choice input %q has no values: write %s type=\"choice\" { values \"a\" \"b\"; }", c.Name, c.Name)
	case in.Type != InputChoice && valuesPos.Line > 0:
		d.errorf(valuesPos, "input %q is a %s: only a choice has values", c.Name, in.Type)
	}
	if def != nil {
		if in.Required {
			d.errorf(posOf(def.Pos), "input %q is required and has a default: a required input has none", c.Name)
		}
		if s, ok := d.inputDefault(in, *def); ok {
			in.Default = &s
		}
	}
	return in, ok
}

// inputDefault reads and checks an input's default against its type.
func (d *decoder) inputDefault(in Input, v kdl.Value) (string, bool) {
	switch in.Type {
	case InputBoolean:
		b, ok := d.boolean(v, "default of boolean input "+quote(in.Name))
		return strconv.FormatBool(b), ok
	case InputNumber:
		if v.Kind != kdl.KindInt && v.Kind != kdl.KindFloat && v.Kind != kdl.KindString {
			d.errorf(posOf(v.Pos), "default of number input %q must be a number, got %s", in.Name, describe(v))
			return "", false
		}
	}
	s, ok := d.scalar(v, "default of input "+quote(in.Name))
	if !ok {
		return "", false
	}
	if in.Type == InputChoice && len(in.Values) == 0 {
		return s, true
	}
	norm, err := normalizeInput(in, s)
	if err != nil {
		d.errorf(posOf(v.Pos), "default of input %q: %v", in.Name, err)
		return "", false
	}
	return norm, true
}

// checkSchedules checks each schedule's inputs against the pipeline's:
// an undeclared one, a missing required one or an ill-typed value.
func (d *decoder) checkSchedules(p *Pipeline) {
	if p.On == nil {
		return
	}
	for _, s := range p.On.Schedules {
		if _, err := resolveInputs(p.Name, p.Inputs, s.Inputs); err != nil {
			d.errorf(s.Pos, "schedule %q: %v", s.Name, err)
		}
	}
}

// whenEvents are the events a run has (buildit.Event*; pipeline imports
// nothing of ours).
var whenEvents = []string{"push", "pull_request", "tag", "manual", "schedule", "api"}

// checkEvent warns of a `when event` that no run has: `pull-request` (the
// name of on's node) where the event is pull_request. A warning, since
// events were never checked and a glob ("pull*") is allowed.
func (d *decoder) checkEvent(v kdl.Value, event string) {
	if contains(whenEvents, event) || strings.ContainsAny(event, "*?[") {
		return
	}
	msg := fmt.Sprintf("when event %q matches no run: events are %s", event, strings.Join(whenEvents, ", "))
	if s := suggest(event, whenEvents); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	d.warnf(posOf(v.Pos), "%s", msg)
}
