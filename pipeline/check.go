package pipeline

import (
	"sort"
	"strings"
)

// resolveTemplates applies each stage's template (and the templates those
// extend) to it, and warns about templates nothing uses.
func (d *decoder) resolveTemplates(p *Pipeline) {
	used := map[string]bool{}
	names := sortedKeys(p.Templates)
	// resolved caches templates whose own extends chain has been applied.
	resolved := map[string]bool{}
	// broken marks templates in a cycle, so that it is reported once.
	broken := map[string]bool{}
	var resolve func(t *Stage, chain []string) bool
	resolve = func(t *Stage, chain []string) bool {
		if broken[t.Name] {
			return false
		}
		if t.Extends == "" || resolved[t.Name] {
			return true
		}
		for i, c := range chain {
			if c == t.Extends {
				cycle := append(append([]string{}, chain[i:]...), t.Extends)
				for _, name := range cycle {
					broken[name] = true
				}
				d.errorf(p.Templates[chain[i]].Pos, "templates extend each other in a cycle: %s", strings.Join(cycle, " -> "))
				return false
			}
		}
		parent, ok := p.Templates[t.Extends]
		if !ok {
			d.unknownTemplate(t, names)
			return false
		}
		used[parent.Name] = true
		if !resolve(parent, append(chain, t.Extends)) {
			return false
		}
		apply(t, parent)
		resolved[t.Name] = true
		return true
	}
	for _, name := range names {
		resolve(p.Templates[name], []string{name})
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
		apply(s, t)
		d.checkShape(s)
	}
	for _, name := range names {
		if !used[name] {
			d.warnf(p.Templates[name].Pos, "template %q is never used", name)
		}
	}
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
		s.Matrix = t.Matrix
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
