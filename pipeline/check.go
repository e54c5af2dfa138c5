package pipeline

import (
	"fmt"
	"sort"
	"strings"
)

// resolveTemplates applies each stage's template (and the templates those
// extend) to it, and warns about templates nothing uses. A chain deeper
// than the limit, or settings copied past the size limit, stop it: both
// grow with the square of a file's length otherwise.
func (d *decoder) resolveTemplates(p *Pipeline) {
	used := map[string]bool{}
	names := sortedKeys(p.Templates)
	// depth caches, for each template whose own extends chain has been
	// applied, how many templates the chain holds, itself included.
	depth := map[string]int{}
	// broken marks templates whose chain is in error, so that it is
	// reported once.
	broken := map[string]bool{}
	// resolve applies t's chain to t and returns its depth, or 0 when the
	// chain is in error. chain lists the templates from where resolving
	// started down to t.
	var resolve func(t *Stage, chain []string) int
	resolve = func(t *Stage, chain []string) int {
		if d.stopped || broken[t.Name] {
			return 0
		}
		if n, ok := depth[t.Name]; ok {
			return n
		}
		if t.Extends == "" {
			depth[t.Name] = 1
			return 1
		}
		for i, c := range chain {
			if c == t.Extends {
				cycle := append(append([]string{}, chain[i:]...), t.Extends)
				for _, name := range cycle {
					broken[name] = true
				}
				d.errorf(p.Templates[chain[i]].Pos, "templates extend each other in a cycle: %s", strings.Join(cycle, " -> "))
				return 0
			}
		}
		parent, ok := p.Templates[t.Extends]
		if !ok {
			broken[t.Name] = true
			d.unknownTemplate(t, names)
			return 0
		}
		used[parent.Name] = true
		// Checked before going down the chain as well as after, so that
		// a long chain is not walked to its end.
		if len(chain) >= d.lim.TemplateDepth {
			d.tooDeep(p, append(chain, t.Extends))
			return 0
		}
		n := resolve(parent, append(chain, t.Extends))
		if n == 0 {
			return 0
		}
		if n+1 > d.lim.TemplateDepth {
			d.tooDeep(p, append(chain, t.Extends))
			return 0
		}
		if !d.applyTemplate("template", t, parent) {
			return 0
		}
		depth[t.Name] = n + 1
		return n + 1
	}
	for _, name := range names {
		resolve(p.Templates[name], []string{name})
		if d.stopped {
			return
		}
	}
	for _, s := range p.Stages {
		if s.Extends == "" {
			continue
		}
		t, ok := p.Templates[s.Extends]
		if !ok {
			d.unknownTemplate(s, names)
			continue
		}
		used[t.Name] = true
		what := "stage"
		if s.Kind == KindDeploy {
			what = "deploy"
		}
		if !d.applyTemplate(what, s, t) {
			return
		}
		d.checkShape(s)
	}
	for _, name := range names {
		if !used[name] {
			d.warnf(p.Templates[name].Pos, "template %q is never used", name)
		}
	}
}

// tooDeep reports a chain of templates over the depth limit, at the
// template where it was entered, and stops decoding.
func (d *decoder) tooDeep(p *Pipeline, chain []string) {
	shown := chain
	if len(chain) > 5 {
		shown = append(append(append([]string{}, chain[:3]...), "…"), chain[len(chain)-1])
	}
	d.refuse(p.Templates[chain[0]].Pos, "templates extend each other more than %d deep: %s -> …; the limit is %d",
		d.lim.TemplateDepth, strings.Join(shown, " -> "), d.lim.TemplateDepth)
}

// applyTemplate applies t to s and counts what that adds against the
// limit on expansion, stopping decoding when it is over. One stage's
// settings are bounded by the file's size; it is the sum over every stage
// that extends a template that must be bounded.
func (d *decoder) applyTemplate(what string, s, t *Stage) bool {
	apply(s, t)
	if !d.grown.fits(encodedSize(s)) {
		d.refuse(s.Pos, "%s %q extends template %q: with templates applied the stages grow past %s, the limit on what expansion produces",
			what, s.Name, t.Name, byteSize(d.lim.PlanBytes))
		return false
	}
	return true
}

func (d *decoder) unknownTemplate(s *Stage, names []string) {
	msg := "extends unknown template " + quote(s.Extends)
	if sug := suggest(s.Extends, names); sug != "" {
		msg += "; did you mean " + quote(sug) + "?"
	}
	d.errorf(s.Pos, "%s", msg)
}

// apply fills the settings s does not write itself from template t.
// Environment maps are merged (s wins); secrets are joined.
func apply(s, t *Stage) {
	take := func(field string) bool { return !s.set[field] && t.set[field] }
	if take("image") {
		if s.Kind == KindDeploy {
			s.Deploy.Image = t.Image
		} else {
			s.Image = t.Image
		}
	}
	if take("run") {
		s.Run = append([]string(nil), t.Run...)
	}
	if take("shell") {
		s.Shell = t.Shell
	}
	if take("workdir") {
		s.Workdir = t.Workdir
	}
	if take("timeout") {
		s.Timeout = t.Timeout
	}
	if take("retry") {
		s.Retry = t.Retry
	}
	if take("allow-failure") {
		s.AllowFailure = t.AllowFailure
	}
	if take("when") {
		s.When = t.When
	}
	if take("matrix") {
		s.Matrix, s.matrixPos = t.Matrix, t.matrixPos
	}
	if take("services") {
		s.Services = t.Services
	}
	if take("resources") {
		s.Resources = t.Resources
	}
	if take("approval") {
		s.Approval = t.Approval
	}
	if take("cache") {
		s.Cache = t.Cache
	}
	if take("artifacts") {
		s.Artifacts = t.Artifacts
	}
	if len(t.Env) > 0 {
		env := map[string]string{}
		mergeInto(env, t.Env)
		mergeInto(env, s.Env)
		s.Env = env
	}
	for _, sec := range t.Secrets {
		if !contains(s.Secrets, sec) {
			s.Secrets = append(s.Secrets, sec)
		}
	}
	if len(s.Needs) == 0 && len(t.Needs) > 0 {
		for i, n := range t.Needs {
			s.addNeed(n, t.needsPos[i])
		}
	}
	for field := range t.set {
		if !s.set[field] {
			s.set[field] = true
		}
	}
}

// checkReferences checks the names stages refer to: needs and targets.
func (d *decoder) checkReferences(p *Pipeline) {
	names := make([]string, 0, len(p.Stages))
	for _, s := range p.Stages {
		names = append(names, s.Name)
	}
	byName := stagesByName(p)
	for _, s := range p.Stages {
		seen := map[string]bool{}
		for i, need := range s.Needs {
			pos := s.needsPos[i]
			switch {
			case need == s.Name:
				d.errorf(pos, "stage %q needs itself", s.Name)
			case byName[need] == nil:
				msg := "stage " + quote(s.Name) + " needs unknown stage " + quote(need)
				if sug := suggest(need, names); sug != "" {
					msg += "; did you mean " + quote(sug) + "?"
				}
				d.errorf(pos, "%s", msg)
			case seen[need]:
				d.warnf(pos, "stage %q lists %q in needs twice", s.Name, need)
			}
			seen[need] = true
		}
		if s.Kind == KindDeploy && s.Deploy.Target != "" {
			if _, ok := p.Targets[s.Deploy.Target]; !ok {
				msg := "deploy " + quote(s.Name) + " uses unknown target " + quote(s.Deploy.Target)
				if sug := suggest(s.Deploy.Target, sortedKeys(p.Targets)); sug != "" {
					msg += "; did you mean " + quote(sug) + "?"
				}
				d.errorf(s.Pos, "%s", msg)
			}
		}
	}
	usedTargets := map[string]bool{}
	for _, s := range p.Stages {
		if s.Deploy != nil {
			usedTargets[s.Deploy.Target] = true
		}
	}
	for _, name := range sortedKeys(p.Targets) {
		if !usedTargets[name] {
			d.warnf(p.Targets[name].Pos, "target %q is never used", name)
		}
	}
}

// checkCycles reports each dependency cycle once, as a -> b -> c -> a,
// at the stage where the cycle is first entered in file order.
func (d *decoder) checkCycles(p *Pipeline) {
	byName := stagesByName(p)
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(s *Stage)
	visit = func(s *Stage) {
		state[s.Name] = onStack
		stack = append(stack, s.Name)
		for i, need := range s.Needs {
			next := byName[need]
			if next == nil || need == s.Name {
				continue
			}
			switch state[need] {
			case unvisited:
				visit(next)
			case onStack:
				start := indexOf(stack, need)
				cycle := append(append([]string{}, stack[start:]...), need)
				d.errorf(s.needsPos[i], "dependency cycle: %s", strings.Join(cycle, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		state[s.Name] = done
	}
	for _, s := range p.Stages {
		if state[s.Name] == unvisited {
			visit(s)
		}
	}
}

// checkInstances checks the number of instances of each stage (the
// product of its matrix axes' lengths) and of the whole plan, before
// anything is expanded.
func (d *decoder) checkInstances(p *Pipeline) {
	total := 0
	for _, s := range p.Stages {
		n := instances(s.Matrix)
		if n > d.lim.Matrix {
			d.refuse(matrixPos(s), "%s", d.lim.tooManyInstances(s, n))
			continue
		}
		if total += n; total > d.lim.Instances && !d.stopped {
			d.refuse(s.Pos, "%s", d.lim.tooManyInPlan(s))
		}
	}
}

// matrixPos is where s's matrix was written: in s, or in its template.
func matrixPos(s *Stage) Position {
	if s.matrixPos.Line == 0 {
		return s.Pos
	}
	return s.matrixPos
}

func (l Limits) tooManyInstances(s *Stage, n int) string {
	return fmt.Sprintf("stage %q has %s matrix instances (%s); the limit is %d per stage",
		s.Name, count(n), describeMatrix(s.Matrix), l.Matrix)
}

func (l Limits) tooManyInPlan(s *Stage) string {
	return fmt.Sprintf("the pipeline has more than %d stage instances (stages with their matrix expanded) with stage %q; the limit is %d per pipeline",
		l.Instances, s.Name, l.Instances)
}

func stagesByName(p *Pipeline) map[string]*Stage {
	m := make(map[string]*Stage, len(p.Stages))
	for _, s := range p.Stages {
		m[s.Name] = s
	}
	return m
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
