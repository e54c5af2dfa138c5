package pipeline

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DefaultTimeout bounds a stage attempt when neither the stage nor the
// pipeline's defaults set a timeout.
const DefaultTimeout = time.Hour

// DefaultShell runs a stage's commands, as `sh -e -c SCRIPT`.
const DefaultShell = "sh"

// Plan is what the engine executes: every stage instance with defaults,
// templates and matrix values applied, in topological waves. It is a plain
// value that round-trips through JSON.
type Plan struct {
	Pipeline    string       `json:"pipeline"`
	Concurrency *Concurrency `json:"concurrency,omitempty"`
	// Steps are the stage instances, wave by wave, in file order within a
	// wave.
	Steps []Step `json:"steps"`
	// Waves lists the step IDs of each wave. Every step's needs are in
	// earlier waves, so a wave can run once those before it are done;
	// the engine starts a step as soon as its own needs are met.
	Waves [][]string `json:"waves"`
	// Targets are the deployment targets by name.
	Targets map[string]Target `json:"targets,omitempty"`
	// On is the pipeline's `on` node; nil when the file has none (see
	// On for the defaults).
	On *On `json:"on,omitempty"`
	// Inputs are the pipeline's `inputs`, in file order.
	Inputs []Input `json:"inputs,omitempty"`
}

// Step is one instance of a stage: the stage itself, or one combination of
// its matrix.
type Step struct {
	// ID names the instance: the stage name, followed for a matrix stage by
	// its values, as in `test [os=linux, rust=1.75]`.
	ID string `json:"id"`
	// Stage is the name of the stage this is an instance of.
	Stage string `json:"stage"`
	// Matrix holds this instance's matrix values.
	Matrix map[string]string `json:"matrix,omitempty"`
	Kind   Kind              `json:"kind"`
	Wave   int               `json:"wave"`
	// Needs are the IDs of the steps this one waits for.
	Needs []string `json:"needs,omitempty"`

	Image   string   `json:"image,omitempty"`
	Run     []string `json:"run,omitempty"`
	Shell   string   `json:"shell"`
	Workdir string   `json:"workdir,omitempty"`
	// Env is the pipeline's environment, then the stage's, then the
	// MATRIX_* variables.
	Env          map[string]string `json:"env,omitempty"`
	Secrets      []string          `json:"secrets,omitempty"`
	When         *When             `json:"when,omitempty"`
	Timeout      time.Duration     `json:"timeout"`
	Retry        int               `json:"retry,omitempty"`
	AllowFailure bool              `json:"allow_failure,omitempty"`
	Services     []Service         `json:"services,omitempty"`
	Cache        []Cache           `json:"cache,omitempty"`
	Artifacts    []ArtifactSpec    `json:"artifacts,omitempty"`
	Approval     *Approval         `json:"approval,omitempty"`
	Resources    *Resources        `json:"resources,omitempty"`
	Deploy       *Deploy           `json:"deploy,omitempty"`
}

// Step returns the step with the given ID, or nil.
func (p *Plan) Step(id string) *Step {
	for i := range p.Steps {
		if p.Steps[i].ID == id {
			return &p.Steps[i]
		}
	}
	return nil
}

// NewPlan expands a valid pipeline (one that Load returned) into its plan.
// It is Pipeline.Plan for callers with no context whose pipeline is known
// to fit its limits, such as tests; it panics when the plan is over them.
func NewPlan(p *Pipeline) *Plan {
	plan, err := p.Plan(context.Background())
	if err != nil {
		panic(err)
	}
	return plan
}

// Compile loads src under l and expands it into its plan, as a server does
// with a pushed pipeline. Every problem, a limit included, comes back as
// Diagnostics, and the Plan is nil when any is an error; the error is
// ctx's, when it ends first.
func (l Limits) Compile(ctx context.Context, file string, src []byte) (*Plan, Diagnostics, error) {
	p, diags := l.Load(file, src)
	if p == nil {
		return nil, diags, nil
	}
	plan, err := p.Plan(ctx)
	var refused Diagnostics
	if errors.As(err, &refused) {
		refused.attachSnippets(src)
		return nil, append(diags, refused...), nil
	}
	return plan, diags, err
}

// Plan expands a valid pipeline (one that Load returned) into its plan,
// under the limits it was loaded with. A plan that grows past their
// PlanBytes is refused with Diagnostics, at the stage where it did, before
// more memory is taken; when ctx ends, Plan stops and returns ctx's error.
func (p *Pipeline) Plan(ctx context.Context) (*Plan, error) {
	lim := p.limits.WithDefaults()
	e := &expansion{ctx: ctx, p: p, lim: lim, size: budget{limit: lim.PlanBytes}}
	return e.plan()
}

// expansion is the state of one Pipeline.Plan.
type expansion struct {
	ctx  context.Context
	p    *Pipeline
	lim  Limits
	size budget
}

// refuse returns msg as the Diagnostics of a plan refused at pos.
func (e *expansion) refuse(pos Position, msg string) error {
	return Diagnostics{{File: e.p.File, Line: pos.Line, Col: pos.Col, Message: msg, Limit: true}}
}

// tooBig refuses a plan over the size limit, at stage s.
func (e *expansion) tooBig(s *Stage) error {
	return e.refuse(s.Pos, fmt.Sprintf("stage %q: with its matrix expanded the plan grows past %s, the limit on what expansion produces",
		s.Name, byteSize(e.size.limit)))
}

func (e *expansion) plan() (*Plan, error) {
	p := e.p
	plan := &Plan{Pipeline: p.Name, Concurrency: p.Concurrency, On: p.On, Inputs: p.Inputs}
	if len(p.Targets) > 0 {
		plan.Targets = make(map[string]Target, len(p.Targets))
		for name, t := range p.Targets {
			plan.Targets[name] = Target{Name: t.Name, Kind: t.Kind, Settings: t.Settings}
		}
	}
	// The plan's fields besides its steps come from the file once.
	e.size.fits(encodedSize(&Plan{Pipeline: plan.Pipeline, Concurrency: plan.Concurrency, Targets: plan.Targets, On: plan.On, Inputs: plan.Inputs}))

	// Expand every stage into its instances, in file order. Load bounded
	// their number; their size is counted as they are made, since one
	// stage's settings repeat in each of its instances.
	instanceIDs := map[string][]string{}
	var steps []Step
	total := 0
	for _, s := range p.Stages {
		// Load checked these; a Pipeline built by hand was not loaded.
		n := instances(s.Matrix)
		if n > e.lim.Matrix {
			return nil, e.refuse(matrixPos(s), e.lim.tooManyInstances(s, n))
		}
		if total += n; total > e.lim.Instances {
			return nil, e.refuse(s.Pos, e.lim.tooManyInPlan(s))
		}
		for _, combo := range combinations(s.Matrix) {
			if err := e.ctx.Err(); err != nil {
				return nil, err
			}
			st, ok := e.expand(s, combo)
			// A step's ID is written again in its wave.
			if !ok || !e.size.fits(encodedSize(&st)+len(st.ID)+3) {
				return nil, e.tooBig(s)
			}
			instanceIDs[s.Name] = append(instanceIDs[s.Name], st.ID)
			steps = append(steps, st)
		}
	}
	// Needs name stages; an instance waits for every instance of each.
	byStage := stagesByName(p)
	for i := range steps {
		if err := e.ctx.Err(); err != nil {
			return nil, err
		}
		s := byStage[steps[i].Stage]
		for j, need := range s.Needs {
			if slices.Contains(s.Needs[:j], need) {
				continue
			}
			for _, id := range instanceIDs[need] {
				if !e.size.fits(len(id) + 3) {
					return nil, e.tooBig(s)
				}
				steps[i].Needs = append(steps[i].Needs, id)
			}
		}
	}
	// A step's wave is one more than the latest wave among its needs.
	wave := map[string]int{}
	index := map[string]int{}
	for i, st := range steps {
		index[st.ID] = i
	}
	var waveOf func(id string) int
	waveOf = func(id string) int {
		if w, ok := wave[id]; ok {
			return w
		}
		w := 0
		for _, need := range steps[index[id]].Needs {
			w = max(w, waveOf(need)+1)
		}
		wave[id] = w
		return w
	}
	for i := range steps {
		steps[i].Wave = waveOf(steps[i].ID)
		for len(plan.Waves) <= steps[i].Wave {
			plan.Waves = append(plan.Waves, nil)
		}
	}
	for w := range plan.Waves {
		for _, st := range steps {
			if st.Wave == w {
				plan.Steps = append(plan.Steps, st)
				plan.Waves[w] = append(plan.Waves[w], st.ID)
			}
		}
	}
	return plan, nil
}

// expand builds one instance of s for the matrix combination combo. It
// reports false when substituting the matrix values would take the plan
// past its size limit; the text is measured before it is made.
func (e *expansion) expand(s *Stage, combo []matrixValue) (Step, bool) {
	p := e.p
	st := Step{
		ID:           s.Name,
		Stage:        s.Name,
		Kind:         s.Kind,
		Image:        firstNonEmpty(s.Image, p.Defaults.Image),
		Run:          append([]string(nil), s.Run...),
		Shell:        firstNonEmpty(s.Shell, p.Defaults.Shell, DefaultShell),
		Workdir:      firstNonEmpty(s.Workdir, p.Defaults.Workdir),
		Secrets:      append([]string(nil), s.Secrets...),
		When:         s.When,
		Timeout:      s.Timeout,
		Retry:        p.Defaults.Retry,
		AllowFailure: s.AllowFailure,
		Cache:        stepCaches(s.Cache),
		Artifacts:    stepArtifacts(s.Artifacts),
		Approval:     s.Approval,
		Resources:    s.Resources,
	}
	if st.Timeout == 0 {
		st.Timeout = p.Defaults.Timeout
	}
	if st.Timeout == 0 {
		st.Timeout = DefaultTimeout
	}
	if s.Retry != nil {
		st.Retry = *s.Retry
	}
	if s.Kind != KindRun {
		// Approval and deploy stages run no commands.
		st.Image = ""
	}
	env := map[string]string{}
	mergeInto(env, p.Env)
	mergeInto(env, s.Env)
	if len(combo) > 0 {
		st.Matrix = map[string]string{}
		parts := make([]string, len(combo))
		for i, mv := range combo {
			st.Matrix[mv.name] = mv.value
			parts[i] = mv.name + "=" + mv.value
			env["MATRIX_"+envSafe(mv.name)] = mv.value
		}
		st.ID = s.Name + " [" + strings.Join(parts, ", ") + "]"
		for i := range st.Artifacts {
			st.Artifacts[i].Name += st.ID[len(s.Name):]
		}
	}
	// Substitution is where text multiplies: each value can be written
	// many times in one string. The substituted strings of one step are
	// measured together against what the plan has left, and the step
	// itself is counted by the caller once made.
	left := e.size.limit - e.size.used
	ok := true
	sub := func(text string) string {
		if !ok {
			return text
		}
		n := substitutedLen(text, st.Matrix)
		if n > left {
			ok = false
			return text
		}
		left -= n
		return substituteMatrix(text, st.Matrix)
	}
	st.Image = sub(st.Image)
	for i := range st.Run {
		st.Run[i] = sub(st.Run[i])
	}
	for k, v := range env {
		env[k] = sub(v)
	}
	if len(env) > 0 {
		st.Env = env
	}
	for _, svc := range s.Services {
		svc.Image = sub(svc.Image)
		if svc.Env != nil {
			e := make(map[string]string, len(svc.Env))
			for k, v := range svc.Env {
				e[k] = sub(v)
			}
			svc.Env = e
		}
		st.Services = append(st.Services, svc)
	}
	if s.Deploy != nil {
		dep := *s.Deploy
		dep.Image = sub(dep.Image)
		if dep.Strategy == "" {
			dep.Strategy = StrategyRolling
		}
		if dep.Replicas == 0 {
			dep.Replicas = 1
		}
		st.Deploy = &dep
	}
	return st, ok
}

type matrixValue struct{ name, value string }

// combinations returns the cartesian product of the axes, the first axis
// varying slowest; a stage without a matrix has one empty combination.
func combinations(axes []MatrixAxis) [][]matrixValue {
	out := [][]matrixValue{nil}
	for _, ax := range axes {
		var next [][]matrixValue
		for _, prefix := range out {
			for _, v := range ax.Values {
				c := append(append([]matrixValue(nil), prefix...), matrixValue{ax.Name, v})
				next = append(next, c)
			}
		}
		out = next
	}
	return out
}

var matrixRef = regexp.MustCompile(`\$\{\{?\s*matrix\.([A-Za-z0-9_-]+)\s*\}?\}`)

// substituteMatrix replaces ${matrix.NAME} (or ${{ matrix.NAME }}) with the
// instance's value; unknown names are left as written.
func substituteMatrix(s string, m map[string]string) string {
	if len(m) == 0 || !strings.Contains(s, "matrix.") {
		return s
	}
	return matrixRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := matrixRef.FindStringSubmatch(ref)[1]
		if v, ok := m[name]; ok {
			return v
		}
		return ref
	})
}

// substitutedLen is the length of substituteMatrix(s, m), found without
// making it.
func substitutedLen(s string, m map[string]string) int {
	if len(m) == 0 || !strings.Contains(s, "matrix.") {
		return len(s)
	}
	n := len(s)
	for _, loc := range matrixRef.FindAllStringSubmatchIndex(s, -1) {
		if v, ok := m[s[loc[2]:loc[3]]]; ok {
			n += len(v) - (loc[1] - loc[0])
		}
	}
	return n
}

func envSafe(name string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(name) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// Only returns the plan reduced to the named stages (by stage name or step
// ID) and everything they need, directly or not. It reports names that
// match no step.
func (p *Plan) Only(names ...string) (*Plan, error) {
	keep := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		if keep[id] {
			return
		}
		keep[id] = true
		for _, need := range p.Step(id).Needs {
			visit(need)
		}
	}
	var unknown []string
	for _, name := range names {
		found := false
		for _, st := range p.Steps {
			if st.ID == name || st.Stage == name {
				visit(st.ID)
				found = true
			}
		}
		if !found {
			unknown = append(unknown, quote(name))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("no stage named %s in pipeline %q", strings.Join(unknown, ", "), p.Pipeline)
	}
	out := &Plan{Pipeline: p.Pipeline, Concurrency: p.Concurrency, Targets: p.Targets, On: p.On, Inputs: p.Inputs}
	for _, wave := range p.Waves {
		var ids []string
		for _, id := range wave {
			if keep[id] {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		for _, id := range ids {
			st := *p.Step(id)
			st.Wave = len(out.Waves)
			out.Steps = append(out.Steps, st)
		}
		out.Waves = append(out.Waves, ids)
	}
	return out, nil
}

// stepCaches and stepArtifacts copy a stage's caches and artifacts for
// one of its steps, without what only the file has (positions).
func stepCaches(cs []Cache) []Cache {
	var out []Cache
	for _, c := range cs {
		c.Pos = Position{}
		out = append(out, c)
	}
	return out
}

func stepArtifacts(as []ArtifactSpec) []ArtifactSpec {
	var out []ArtifactSpec
	for _, a := range as {
		a.Pos, a.named = Position{}, false
		out = append(out, a)
	}
	return out
}
