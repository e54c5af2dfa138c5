package pipeline

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// On is the pipeline's `on` node: the events that start it. A pipeline
// without one (On nil) runs on push and pull_request, on every branch, and
// manually: what a Woodpecker pipeline without `when` does.
//
//	on {
//	    push { branch "main" "release/*"; paths "src/**" "go.mod"; paths-ignore "docs/**"; }
//	    pull-request { branch "main"; types "opened" "synchronized"; }
//	    tag "v*"
//	    manual
//	    schedule "0 3 * * *" name="nightly" branch="main" timezone="Europe/Berlin" jitter="5m" overlap="skip"
//	}
//
// Each child may be written with properties (`push branch="main"`) when one
// value is enough, as `when` allows.
type On struct {
	// Push, when set, runs the pipeline on pushes to matching branches
	// that change matching paths.
	Push *PushTrigger `json:"push,omitempty"`
	// PullRequest, when set, runs it on pull requests into matching
	// target branches.
	PullRequest *PullRequestTrigger `json:"pull_request,omitempty"`
	// Tag, when set, runs it when a matching tag is pushed.
	Tag *TagTrigger `json:"tag,omitempty"`
	// Manual allows runs through the API, the CLI and the dashboard.
	Manual bool `json:"manual,omitempty"`
	// Schedules are cron schedules, each a Temporal Schedule.
	Schedules []Schedule `json:"schedules,omitempty"`
	Pos       Position   `json:"-"`
}

// PushTrigger filters pushes. Empty lists match anything.
type PushTrigger struct {
	// Branches are globs (path.Match syntax, "release/*", and "**" for
	// any depth) matched against the pushed branch.
	Branches []string `json:"branches,omitempty"`
	// Paths: the push runs the pipeline only when a changed file matches
	// one ("src/**", "*.go"); PathsIgnore: not when every changed file
	// matches one. A push whose changed files are unknown matches.
	Paths       []string `json:"paths,omitempty"`
	PathsIgnore []string `json:"paths_ignore,omitempty"`
}

// PullRequestTrigger filters pull requests.
type PullRequestTrigger struct {
	// Branches are globs matched against the target (base) branch.
	Branches []string `json:"branches,omitempty"`
	// Types are the actions that run the pipeline: opened, synchronized,
	// reopened (all three when empty).
	Types []string `json:"types,omitempty"`
	// Paths and PathsIgnore as for a push.
	Paths       []string `json:"paths,omitempty"`
	PathsIgnore []string `json:"paths_ignore,omitempty"`
}

// The pull request actions of PullRequestTrigger.Types and Event.Action.
const (
	ActionOpened       = "opened"
	ActionSynchronized = "synchronized"
	ActionReopened     = "reopened"
)

// TagTrigger filters pushed tags.
type TagTrigger struct {
	// Tags are globs ("v*"); empty matches every tag.
	Tags []string `json:"tags,omitempty"`
}

// Schedule is one `schedule` child of `on`.
type Schedule struct {
	// Name is unique in the pipeline: the node's name= or "schedule-N"
	// for the Nth schedule. It is part of the Temporal Schedule's ID.
	Name string `json:"name"`
	// Cron is a five-field cron expression ("0 3 * * *"), or one of
	// @hourly, @daily, @weekly, @monthly.
	Cron string `json:"cron"`
	// Timezone is an IANA zone name; "" is UTC.
	Timezone string `json:"timezone,omitempty"`
	// Branch is the branch the scheduled run builds; "" is the
	// repository's default branch (or none for a pipeline without one).
	Branch string `json:"branch,omitempty"`
	// Jitter delays each run by a random duration up to it.
	Jitter time.Duration `json:"jitter,omitempty"`
	// Overlap is what happens when a run is due while the previous one
	// still runs: OverlapSkip (the default), OverlapBufferOne or
	// OverlapCancelOther.
	Overlap string `json:"overlap,omitempty"`
	// Inputs are the values of the pipeline's inputs for scheduled runs.
	Inputs map[string]string `json:"inputs,omitempty"`
	Pos    Position          `json:"-"`
}

// The values of Schedule.Overlap.
const (
	OverlapSkip        = "skip"
	OverlapBufferOne   = "buffer-one"
	OverlapCancelOther = "cancel-other"
)

// Input is one entry of the `inputs` node: a value a manual (or scheduled)
// run is given.
//
//	inputs {
//	    environment type="choice" default="staging" { values "staging" "production"; }
//	    dry-run type="boolean" default=#false
//	    replicas type="number" required=#true description="how many"
//	    message                                  // a string, default ""
//	}
type Input struct {
	// Name: letters, digits, '-' and '_', starting with a letter.
	Name string `json:"name"`
	// Type is InputString (the default), InputBoolean, InputChoice or
	// InputNumber.
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	// Default is the value when none is given; nil for none.
	Default *string `json:"default,omitempty"`
	// Required inputs without a default must be given.
	Required bool `json:"required,omitempty"`
	// Values are a choice's allowed values.
	Values []string `json:"values,omitempty"`
	Pos    Position `json:"-"`
}

// The values of Input.Type.
const (
	InputString  = "string"
	InputBoolean = "boolean"
	InputChoice  = "choice"
	InputNumber  = "number"
)

// Event is what happened, as triggers see it: what a webhook, a schedule
// or a manual start says about the run it asks for.
type Event struct {
	// Kind is push, pull_request, tag, manual or schedule (buildit.Event*).
	Kind string
	// Branch is the pushed branch or the pull request's head branch.
	Branch string
	// Base is a pull request's target branch.
	Base string
	// Tag is the pushed tag.
	Tag string
	// Action is the pull request's action (Action*).
	Action string
	// Changed are the paths the push or pull request changed; nil when
	// the forge did not say (every path filter then matches).
	Changed []string
}

// InputError says which input a run was given wrongly, or lacks. Its
// message is safe to show and names the input.
type InputError struct {
	Input string
	Msg   string
}

func (e *InputError) Error() string { return fmt.Sprintf("input %s: %s", e.Input, e.Msg) }

// Triggered reports whether ev starts a run of the plan under its `on`
// (or the default triggers when it has none).
//
// Without `on`, a pipeline runs on every push, on pull requests opened,
// synchronized or reopened, and manually (and through the API); not on
// tags or schedules. An event of kind "api" is a manual one.
func (p Plan) Triggered(ev Event) bool {
	on := p.On
	switch ev.Kind {
	case "push":
		if on == nil {
			return true
		}
		t := on.Push
		return t != nil && globsMatch(t.Branches, ev.Branch) && pathsMatch(t.Paths, t.PathsIgnore, ev.Changed)
	case "pull_request":
		if on == nil {
			return prActionMatches(nil, ev.Action)
		}
		t := on.PullRequest
		return t != nil && globsMatch(t.Branches, ev.Base) && prActionMatches(t.Types, ev.Action) &&
			pathsMatch(t.Paths, t.PathsIgnore, ev.Changed)
	case "tag":
		return on != nil && on.Tag != nil && globsMatch(on.Tag.Tags, ev.Tag)
	case "manual", "api":
		return on == nil || on.Manual
	case "schedule":
		return on != nil && len(on.Schedules) > 0
	}
	return false
}

// pullRequestTypes are the actions of PullRequestTrigger.Types.
var pullRequestTypes = []string{ActionOpened, ActionSynchronized, ActionReopened}

// prActionMatches: an empty action (the forge did not say) matches, as an
// unknown list of changed paths does.
func prActionMatches(types []string, action string) bool {
	if action == "" {
		return true
	}
	if len(types) == 0 {
		types = pullRequestTypes
	}
	return slices.Contains(types, action)
}

// globsMatch reports whether name matches one of globs; no globs match
// anything.
func globsMatch(globs []string, name string) bool {
	return len(globs) == 0 || compileGlobs(globs).match(name)
}

// globSet is a list of globs compiled once, for matching many names.
type globSet struct {
	exact []string
	res   []*regexp.Regexp
}

func compileGlobs(globs []string) globSet {
	var g globSet
	for _, p := range globs {
		g.exact = append(g.exact, p)
		if re, err := globRegexp(p); err == nil {
			g.res = append(g.res, re)
		}
	}
	return g
}

func (g globSet) match(name string) bool {
	for _, p := range g.exact {
		if p == name {
			return true
		}
	}
	for _, re := range g.res {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

// pathsMatch: some changed path matches paths (or paths is empty) and
// no ignore pattern. Unknown changes (nil) match.
func pathsMatch(paths, ignore []string, changed []string) bool {
	if changed == nil || len(paths) == 0 && len(ignore) == 0 {
		return true
	}
	want, skip := compileGlobs(paths), compileGlobs(ignore)
	for _, f := range changed {
		if (len(paths) == 0 || want.match(f)) && (len(ignore) == 0 || !skip.match(f)) {
			return true
		}
	}
	return false
}

// MatchGlob reports whether name matches the glob pattern of a trigger's
// branches, tags or paths: "*" is any run of characters but '/', "?" one
// character but '/', "[a-z]" (or "[!a-z]") a class, "**" any characters
// including '/', and "dir/**" anything below dir. A pattern that is not a
// valid glob matches only its exact text.
func MatchGlob(pattern, name string) bool {
	if pattern == name {
		return true
	}
	re, err := globRegexp(pattern)
	return err == nil && re.MatchString(name)
}

// globRegexp compiles a glob of MatchGlob into an anchored regexp.
func globRegexp(g string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch c {
		case '*':
			if i+1 < len(g) && g[i+1] == '*' {
				i++
				if i+1 < len(g) && g[i+1] == '/' {
					// "**/": no folder or any folders.
					i++
					b.WriteString("(?:.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '[':
			end := strings.IndexByte(g[i+1:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ in %q", g)
			}
			class := g[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			if class == "" || class == "^" {
				return nil, fmt.Errorf("empty [] in %q", g)
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// ResolveInputs checks given against the plan's inputs and returns the
// run's input values: every declared input, given or defaulted (a boolean
// as "true"/"false", a number in Go's shortest form). An undeclared,
// missing required or ill-typed value is an *InputError.
//
// A boolean is given as true, false, yes, no, 1 or 0 (any case). An input
// neither given nor defaulted is "" ("false" for a boolean).
func (p Plan) ResolveInputs(given map[string]string) (map[string]string, error) {
	return resolveInputs(p.Pipeline, p.Inputs, given)
}

func resolveInputs(pipelineName string, inputs []Input, given map[string]string) (map[string]string, error) {
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.Name
	}
	for _, k := range sortedKeys(given) {
		if slices.Contains(names, k) {
			continue
		}
		msg := fmt.Sprintf("pipeline %q declares no such input", pipelineName)
		switch {
		case len(names) == 0:
			msg = fmt.Sprintf("pipeline %q declares no inputs", pipelineName)
		default:
			if s := suggest(k, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				msg += "; it declares " + strings.Join(names, ", ")
			}
		}
		return nil, &InputError{Input: k, Msg: msg}
	}
	out := make(map[string]string, len(inputs))
	for _, in := range inputs {
		v, ok := given[in.Name]
		if !ok {
			switch {
			case in.Default != nil:
				v = *in.Default
			case in.Required:
				return nil, &InputError{Input: in.Name, Msg: "is required"}
			case in.Type == InputBoolean:
				v = "false"
			default:
				out[in.Name] = ""
				continue
			}
		}
		norm, err := normalizeInput(in, v)
		if err != nil {
			return nil, &InputError{Input: in.Name, Msg: err.Error()}
		}
		out[in.Name] = norm
	}
	return out, nil
}

// InputDefaults are the values of the plan's inputs when none is given and
// none is required: each input's default, or "" ("false" for a boolean).
// A run that nobody gives inputs to (a push, a pull request, a tag) has
// these, even for required inputs.
func (p Plan) InputDefaults() map[string]string {
	out := make(map[string]string, len(p.Inputs))
	for _, in := range p.Inputs {
		switch {
		case in.Default != nil:
			out[in.Name] = *in.Default
		case in.Type == InputBoolean:
			out[in.Name] = "false"
		default:
			out[in.Name] = ""
		}
	}
	return out
}

// normalizeInput checks v against the input's type and returns it as
// runs see it.
func normalizeInput(in Input, v string) (string, error) {
	switch in.Type {
	case InputBoolean:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "yes", "1":
			return "true", nil
		case "false", "no", "0":
			return "false", nil
		}
		return "", fmt.Errorf("%q is not a boolean: give true or false", v)
	case InputNumber:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "", fmt.Errorf("%q is not a number", v)
		}
		return formatNumber(f), nil
	case InputChoice:
		if slices.Contains(in.Values, v) {
			return v, nil
		}
		msg := fmt.Sprintf("%q is not one of %s", v, strings.Join(in.Values, ", "))
		if s := suggest(v, in.Values); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return "", fmt.Errorf("%s", msg)
	}
	return v, nil
}

// formatNumber writes f in its shortest form, without an exponent below
// 1e21 ("3", "2.5", "1000000").
func formatNumber(f float64) string {
	if f == 0 {
		return "0"
	}
	if math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

var inputRef = regexp.MustCompile(`\$\{\{?\s*inputs\.([A-Za-z0-9_-]+)\s*\}?\}`)

// substituteInputs replaces ${inputs.NAME} (or ${{ inputs.NAME }}) with
// the value; unknown names are left as written.
func substituteInputs(s string, values map[string]string) string {
	if len(values) == 0 || !strings.Contains(s, "inputs.") {
		return s
	}
	return inputRef.ReplaceAllStringFunc(s, func(ref string) string {
		if v, ok := values[inputRef.FindStringSubmatch(ref)[1]]; ok {
			return v
		}
		return ref
	})
}

// shellInputRefs replaces ${inputs.NAME} of a declared input in a `run`
// command with ${BUILDIT_INPUT_NAME}: the shell expands the variable (the
// stage's environment holds it), so that a value is data and never shell
// code, whoever gives it (a key that may only trigger runs must not run
// commands of its own with the pipeline's secrets).
func shellInputRefs(s string, values map[string]string) string {
	if len(values) == 0 || !strings.Contains(s, "inputs.") {
		return s
	}
	return inputRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := inputRef.FindStringSubmatch(ref)[1]
		if _, ok := values[name]; ok {
			return "${" + InputVar(name) + "}"
		}
		return ref
	})
}

// ApplyInputs replaces ${inputs.NAME} in the steps' image, env, services
// and deploy settings with the values (resolved by ResolveInputs), as
// ${matrix.NAME} is replaced when planning. In `run` commands it becomes
// ${BUILDIT_INPUT_NAME}, which the shell expands: a value is never read
// as shell code (see shellInputRefs).
func (p *Plan) ApplyInputs(values map[string]string) {
	if len(values) == 0 {
		return
	}
	// A copy of the steps: a plan copied from another (a stored one)
	// shares them.
	p.Steps = slices.Clone(p.Steps)
	sub := func(s string) string { return substituteInputs(s, values) }
	subMap := func(m map[string]string) map[string]string {
		if m == nil {
			return nil
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			out[k] = sub(v)
		}
		return out
	}
	for i := range p.Steps {
		st := &p.Steps[i]
		st.Image = sub(st.Image)
		// Copies, so that a plan sharing slices and maps with another
		// (a copied Plan) is not changed under it.
		run := make([]string, len(st.Run))
		for j, r := range st.Run {
			run[j] = shellInputRefs(r, values)
		}
		if st.Run != nil {
			st.Run = run
		}
		st.Env = subMap(st.Env)
		if st.Services != nil {
			svcs := make([]Service, len(st.Services))
			for j, svc := range st.Services {
				svc.Image = sub(svc.Image)
				svc.Env = subMap(svc.Env)
				if svc.Command != nil {
					cmd := make([]string, len(svc.Command))
					for k, c := range svc.Command {
						cmd[k] = sub(c)
					}
					svc.Command = cmd
				}
				svcs[j] = svc
			}
			st.Services = svcs
		}
		if st.Deploy != nil {
			dep := *st.Deploy
			dep.Image = sub(dep.Image)
			dep.Env = subMap(dep.Env)
			st.Deploy = &dep
		}
	}
}

// InputVar is the environment variable a stage sees input name as:
// BUILDIT_INPUT_ and the name in upper case with '-' as '_'.
func InputVar(name string) string {
	return "BUILDIT_INPUT_" + strings.ReplaceAll(strings.ToUpper(name), "-", "_")
}

// skipMarkers are what SkipCI looks for, in lower case.
var skipMarkers = []string{"[skip ci]", "[ci skip]", "[no ci]", "[skip buildit]", "[buildit skip]", "***no_ci***"}

// SkipCI reports whether a commit message asks for no CI run: it holds
// [skip ci], [ci skip], [no ci], [skip buildit] or [buildit skip] (any
// case), or ***NO_CI***, as GitHub, GitLab and Woodpecker honour.
func SkipCI(message string) bool {
	m := strings.ToLower(message)
	for _, s := range skipMarkers {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

var groupRef = regexp.MustCompile(`\$\{\{?\s*([A-Za-z_][A-Za-z0-9_]*|inputs\.[A-Za-z0-9_-]+)\s*\}?\}`)

// ExpandGroup is the concurrency group of a run: Group with ${NAME}
// replaced by vars[NAME] (the run's BUILDIT_* variables and inputs, as
// `pr-${BUILDIT_PR}` needs) and ${inputs.NAME} by the input's value;
// unknown names become "".
//
// The value of ${inputs.NAME} is vars[InputVar(NAME)].
func (c Concurrency) ExpandGroup(vars map[string]string) string {
	if !strings.Contains(c.Group, "${") {
		return c.Group
	}
	return groupRef.ReplaceAllStringFunc(c.Group, func(ref string) string {
		name := groupRef.FindStringSubmatch(ref)[1]
		if in, ok := strings.CutPrefix(name, "inputs."); ok {
			return vars[InputVar(in)]
		}
		return vars[name]
	})
}
