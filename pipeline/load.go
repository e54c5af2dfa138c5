package pipeline

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/buildit-ci/buildit/kdl"
)

// The names each node accepts, for validation and suggestions.
var (
	topLevelNodes   = []string{"pipeline", "env", "defaults", "concurrency", "on", "inputs", "stage", "deploy", "template", "target"}
	defaultsFields  = []string{"image", "shell", "workdir", "timeout", "retry"}
	stageProps      = []string{"needs", "allow-failure", "extends"}
	runStageNodes   = []string{"image", "run", "env", "secrets", "workdir", "shell", "needs", "when", "timeout", "retry", "allow-failure", "matrix", "services", "cache", "artifacts", "approval", "resources", "extends"}
	deployNodes     = []string{"target", "environment", "image", "replicas", "port", "env", "secrets", "resources", "health-check", "strategy", "needs", "when", "timeout", "retry", "allow-failure", "extends"}
	whenFields      = []string{"branch", "event", "status"}
	approvalFields  = []string{"message", "timeout", "approvers"}
	resourcesFields = []string{"cpu", "memory"}
	healthFields    = []string{"path", "timeout"}
	serviceNodes    = []string{"image", "env", "command"}
	targetKinds     = []string{string(TargetKubernetes), string(TargetFly)}
	targetSettings  = map[TargetKind][]string{
		TargetKubernetes: {"namespace", "context", "kubeconfig", "kubeconfig-secret"},
		TargetFly:        {"app", "region", "org", "api-url", "token-secret"},
	}
	whenStatuses = []string{StatusSuccess, StatusFailure, StatusAlways}
	strategies   = []string{StrategyRolling, StrategyAllAtOnce}
)

// LoadFile reads and decodes the pipeline file at path under
// DefaultLimits. A file that cannot be read is returned as an error;
// problems in its content come back as Diagnostics (warnings included), and
// the Pipeline is nil when any of them is an error.
func LoadFile(path string) (*Pipeline, Diagnostics, error) {
	return DefaultLimits.LoadFile(path)
}

// LoadFile is the package's LoadFile under l. It reads no more of the file
// than l allows.
func (l Limits) LoadFile(path string) (*Pipeline, Diagnostics, error) {
	l = l.WithDefaults()
	src, err := readAtMost(path, l.FileBytes+1)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	p, diags := l.Load(path, src)
	return p, diags, nil
}

func readAtMost(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, int64(n)))
}

// Load decodes a pipeline file's content under DefaultLimits. file names
// it in diagnostics. It returns every problem found (up to
// MaxDiagnostics); the Pipeline is nil when any is an error.
func Load(file string, src []byte) (*Pipeline, Diagnostics) {
	return DefaultLimits.Load(file, src)
}

// Load is the package's Load under l: a file over one of l's limits is
// refused with a diagnostic that names the limit, found before the work
// the limit bounds. The Pipeline keeps l for its Plan.
func (l Limits) Load(file string, src []byte) (*Pipeline, Diagnostics) {
	l = l.WithDefaults()
	r := &reporter{file: file}
	if len(src) > l.FileBytes {
		// No snippet: the first line of a file this size can be all of it.
		r.limitf(Position{Line: 1, Col: 1}, "the file is larger than %s, the limit for a pipeline file", byteSize(l.FileBytes))
		return nil, r.diags
	}
	doc, err := kdl.Parse(src)
	if err != nil {
		var ke *kdl.Error
		if errors.As(err, &ke) {
			r.diags = append(r.diags, Diagnostic{File: file, Line: ke.Pos.Line, Col: ke.Pos.Col, Message: ke.Msg, Snippet: ke.Snippet()})
		} else {
			r.errorf(Position{Line: 1, Col: 1}, "%v", err)
		}
		return nil, r.diags
	}
	d := &decoder{reporter: r, lim: l, grown: budget{limit: l.PlanBytes}}
	p := d.document(doc)
	p.File = file
	p.limits = l
	// Each step is bounded by a limit checked in the one before; after a
	// limit is hit, the next steps would only add noise to its message.
	for _, step := range []func(*Pipeline){d.resolveTemplates, d.nameArtifacts, d.checkReferences, d.checkSchedules, d.checkCycles, d.checkInstances} {
		if d.stopped {
			break
		}
		step(p)
	}
	diags := r.finish(src)
	if diags.HasErrors() {
		return nil, diags
	}
	return p, diags
}

func (d *decoder) document(doc *kdl.Document) *Pipeline {
	p := &Pipeline{
		Env:       map[string]string{},
		Templates: map[string]*Stage{},
		Targets:   map[string]*Target{},
	}
	var pipelineNode *kdl.Node
	stagePos := map[string]Position{}
	stageNodes := 0
	onePerFile := map[string]kdl.Pos{}
nodes:
	for _, n := range doc.Nodes {
		switch n.Name {
		case "pipeline":
			if pipelineNode != nil {
				d.errorf(posOf(n.NamePos), "pipeline is declared twice (first at %d:%d)", pipelineNode.NamePos.Line, pipelineNode.NamePos.Col)
				continue
			}
			pipelineNode = n
			if name, ok := d.oneText(n); ok {
				if strings.TrimSpace(name) == "" {
					d.errorf(posOf(n.Args[0].Pos), "pipeline name must not be empty")
				}
				p.Name = name
			}
		case "env":
			d.env(n, p.Env)
		case "defaults":
			d.defaults(n, &p.Defaults)
		case "concurrency":
			p.Concurrency = d.concurrency(n)
		case "on", "inputs":
			if first, dup := onePerFile[n.Name]; dup {
				d.errorf(posOf(n.NamePos), "%s is declared twice (first at %d:%d)", n.Name, first.Line, first.Col)
				continue
			}
			onePerFile[n.Name] = n.NamePos
			if n.Name == "on" {
				p.On = d.on(n)
			} else {
				d.inputs(n, p)
			}
		case "stage", "deploy":
			if stageNodes++; stageNodes > d.lim.Stages {
				d.refuse(posOf(n.NamePos), "too many stages: a pipeline declares at most %d stage and deploy nodes", d.lim.Stages)
				break nodes
			}
			s := d.stage(n, false)
			if s == nil {
				continue
			}
			if first, dup := stagePos[s.Name]; dup {
				d.errorf(s.Pos, "duplicate stage name %q (first defined at %d:%d)", s.Name, first.Line, first.Col)
				continue
			}
			stagePos[s.Name] = s.Pos
			p.Stages = append(p.Stages, s)
		case "template":
			s := d.stage(n, true)
			if s == nil {
				continue
			}
			if first, dup := p.Templates[s.Name]; dup {
				d.errorf(s.Pos, "duplicate template name %q (first defined at %d:%d)", s.Name, first.Pos.Line, first.Pos.Col)
				continue
			}
			p.Templates[s.Name] = s
		case "target":
			t := d.target(n)
			if t == nil {
				continue
			}
			if first, dup := p.Targets[t.Name]; dup {
				d.errorf(t.Pos, "duplicate target name %q (first defined at %d:%d)", t.Name, first.Pos.Line, first.Pos.Col)
				continue
			}
			p.Targets[t.Name] = t
		default:
			d.unknown(posOf(n.NamePos), "node", n.Name, "the pipeline file", topLevelNodes)
		}
	}
	if pipelineNode == nil {
		d.errorf(Position{Line: 1, Col: 1}, "missing pipeline node: start the file with pipeline \"NAME\"")
	}
	if len(p.Stages) == 0 && pipelineNode != nil {
		d.warnf(posOf(pipelineNode.NamePos), "pipeline has no stages")
	}
	return p
}

func (d *decoder) defaults(n *kdl.Node, def *Defaults) {
	d.noArgs(n)
	for _, f := range d.settings(n, "defaults", defaultsFields) {
		v := d.single(f)
		switch f.name {
		case "image":
			def.Image, _ = d.text(v, "image")
		case "shell":
			def.Shell, _ = d.text(v, "shell")
		case "workdir":
			def.Workdir, _ = d.text(v, "workdir")
		case "timeout":
			def.Timeout, _ = d.duration(v, "timeout")
		case "retry":
			def.Retry, _ = d.integer(v, "retry", 0, maxRetry)
		}
	}
}

func (d *decoder) concurrency(n *kdl.Node) *Concurrency {
	d.noArgs(n)
	c := &Concurrency{}
	for _, f := range d.settings(n, "concurrency", []string{"group", "cancel-in-progress"}) {
		v := d.single(f)
		switch f.name {
		case "group":
			c.Group, _ = d.text(v, "group")
		case "cancel-in-progress":
			c.CancelInProgress, _ = d.boolean(v, "cancel-in-progress")
		}
	}
	if c.Group == "" {
		d.errorf(posOf(n.NamePos), "concurrency needs a group: concurrency group=\"NAME\"")
	}
	return c
}

const maxRetry = 10

// stage decodes a `stage`, `deploy` or `template` node.
func (d *decoder) stage(n *kdl.Node, template bool) *Stage {
	s := &Stage{Kind: KindRun, Pos: posOf(n.NamePos), set: map[string]bool{}}
	if n.Name == "deploy" {
		s.Kind = KindDeploy
		s.Deploy = &Deploy{}
	}
	if len(n.Args) != 1 {
		d.errorf(posOf(n.NamePos), "%s needs exactly one name: %s \"NAME\" { … }", n.Name, n.Name)
		return nil
	}
	name, ok := d.text(n.Args[0], n.Name+" name")
	if !ok {
		return nil
	}
	if strings.TrimSpace(name) == "" || strings.ContainsAny(name, "[]\n") {
		d.errorf(posOf(n.Args[0].Pos), "invalid %s name %q: it must not be empty or contain '[', ']' or a newline", n.Name, name)
	}
	s.Name = name

	for _, p := range lastProps(n) {
		switch p.Key {
		case "needs":
			if v, ok := d.text(p.Value, "needs"); ok {
				s.addNeed(v, posOf(p.Value.Pos))
			}
		case "allow-failure":
			s.AllowFailure, _ = d.boolean(p.Value, "allow-failure")
			s.set["allow-failure"] = true
		case "extends":
			s.Extends, _ = d.text(p.Value, "extends")
		default:
			d.unknown(posOf(p.Pos), "property", p.Key, n.Name+" "+quote(name), stageProps)
		}
	}

	known := runStageNodes
	if s.Kind == KindDeploy {
		known = deployNodes
	}
	seen := map[string]kdl.Pos{}
	for _, c := range n.Children {
		if !contains(known, c.Name) {
			d.unknown(posOf(c.NamePos), "node", c.Name, n.Name+" "+quote(name), known)
			continue
		}
		switch c.Name {
		case "run", "env", "secrets", "needs", "cache", "artifacts":
			// Repeatable: each adds to the list.
		default:
			if first, dup := seen[c.Name]; dup {
				d.errorf(posOf(c.NamePos), "%s is set twice in %s %q (first at %d:%d)", c.Name, n.Name, name, first.Line, first.Col)
				continue
			}
			seen[c.Name] = c.NamePos
		}
		s.set[c.Name] = true
		d.stageChild(s, c)
	}

	if !template {
		d.checkStageShape(s, n)
	}
	return s
}

func (s *Stage) addNeed(name string, p Position) {
	s.Needs = append(s.Needs, name)
	s.needsPos = append(s.needsPos, p)
}

// stageChild decodes one child node of a stage.
func (d *decoder) stageChild(s *Stage, c *kdl.Node) {
	switch c.Name {
	case "image":
		if s.Kind == KindDeploy {
			s.Deploy.Image, _ = d.oneText(c)
		} else {
			s.Image, _ = d.oneText(c)
		}
	case "run":
		for _, cmd := range d.texts(c) {
			if strings.TrimSpace(cmd) == "" {
				d.errorf(posOf(c.NamePos), "run command is empty")
				continue
			}
			s.Run = append(s.Run, cmd)
		}
	case "env":
		dst := map[string]string{}
		d.env(c, dst)
		if s.Kind == KindDeploy {
			if s.Deploy.Env == nil {
				s.Deploy.Env = map[string]string{}
			}
			mergeInto(s.Deploy.Env, dst)
		} else {
			if s.Env == nil {
				s.Env = map[string]string{}
			}
			mergeInto(s.Env, dst)
		}
	case "secrets":
		for i, name := range d.texts(c) {
			if !envName.MatchString(name) {
				d.errorf(posOf(c.Args[i].Pos), "invalid secret name %q: use letters, digits and _, not starting with a digit", name)
				continue
			}
			s.Secrets = append(s.Secrets, name)
		}
	case "workdir":
		s.Workdir, _ = d.oneText(c)
	case "shell":
		s.Shell, _ = d.oneText(c)
	case "extends":
		s.Extends, _ = d.oneText(c)
	case "needs":
		d.onlyArgs(c)
		if len(c.Args) == 0 {
			d.errorf(posOf(c.NamePos), "needs names at least one stage")
		}
		for _, a := range c.Args {
			if v, ok := d.text(a, "needs"); ok {
				s.addNeed(v, posOf(a.Pos))
			}
		}
	case "timeout":
		d.onlyArgs(c)
		if len(c.Args) != 1 {
			d.errorf(posOf(c.NamePos), "timeout takes one duration, like timeout \"20m\"")
			return
		}
		s.Timeout, _ = d.duration(c.Args[0], "timeout")
	case "retry":
		d.onlyArgs(c)
		if len(c.Args) != 1 {
			d.errorf(posOf(c.NamePos), "retry takes one number of extra attempts, like retry 2")
			return
		}
		if r, ok := d.integer(c.Args[0], "retry", 0, maxRetry); ok {
			s.Retry = &r
		}
	case "allow-failure":
		d.onlyArgs(c)
		s.AllowFailure = true
		if len(c.Args) > 0 {
			s.AllowFailure, _ = d.boolean(c.Args[0], "allow-failure")
		}
	case "when":
		s.When = d.when(c)
	case "matrix":
		s.Matrix = d.matrix(c)
		s.matrixPos = posOf(c.NamePos)
	case "services":
		s.Services = d.services(c)
	case "cache":
		s.Cache = append(s.Cache, d.cache(c))
	case "artifacts":
		s.Artifacts = append(s.Artifacts, d.artifacts(c))
	case "approval":
		s.Approval = d.approval(c)
	case "resources":
		s.Resources = d.resources(c)
	case "target":
		s.Deploy.Target, _ = d.oneText(c)
	case "environment":
		s.Deploy.Environment, _ = d.oneText(c)
	case "replicas":
		if v, ok := d.oneValue(c); ok {
			s.Deploy.Replicas, _ = d.integer(v, "replicas", 0, 1000)
		}
	case "port":
		if v, ok := d.oneValue(c); ok {
			s.Deploy.Port, _ = d.integer(v, "port", 1, 65535)
		}
	case "strategy":
		if v, ok := d.oneText(c); ok {
			if !contains(strategies, v) {
				d.badChoice(posOf(c.Args[0].Pos), "strategy", v, strategies)
			}
			s.Deploy.Strategy = v
		}
	case "health-check":
		s.Deploy.HealthCheck = d.healthCheck(c)
	}
}

func (d *decoder) oneValue(n *kdl.Node) (kdl.Value, bool) {
	d.onlyArgs(n)
	if len(n.Args) != 1 {
		d.errorf(posOf(n.NamePos), "%s takes one value, got %d", n.Name, len(n.Args))
		return kdl.Value{}, false
	}
	return n.Args[0], true
}

func (d *decoder) badChoice(p Position, what, got string, choices []string) {
	msg := fmt.Sprintf("invalid %s %q: want one of %s", what, got, strings.Join(choices, ", "))
	if s := suggest(got, choices); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	d.errorf(p, "%s", msg)
}

func (d *decoder) when(n *kdl.Node) *When {
	d.noArgs(n)
	w := &When{}
	for _, f := range d.settings(n, "when", whenFields) {
		switch f.name {
		case "branch", "event":
			for _, v := range f.vals {
				s, ok := d.text(v, f.name)
				if !ok {
					continue
				}
				if f.name == "branch" {
					w.Branch = append(w.Branch, s)
				} else {
					d.checkEvent(v, s)
					w.Event = append(w.Event, s)
				}
			}
		case "status":
			v := d.single(f)
			if s, ok := d.text(v, "status"); ok {
				if !contains(whenStatuses, s) {
					d.badChoice(posOf(v.Pos), "when status", s, whenStatuses)
				}
				w.Status = s
			}
		}
	}
	if len(n.Props) == 0 && len(n.Children) == 0 {
		d.errorf(posOf(n.NamePos), "when has no condition: write when branch=\"main\", event=\"push\" or status=\"failure\"")
	}
	return w
}

func (d *decoder) matrix(n *kdl.Node) []MatrixAxis {
	d.noArgs(n)
	d.noProps(n)
	var axes []MatrixAxis
	for _, c := range n.Children {
		d.onlyArgs(c)
		if len(c.Args) == 0 {
			d.errorf(posOf(c.NamePos), "matrix axis %q has no values", c.Name)
			continue
		}
		ax := MatrixAxis{Name: c.Name}
		seen := map[string]bool{}
		for _, a := range c.Args {
			v, ok := d.scalar(a, "matrix value")
			if !ok {
				continue
			}
			if seen[v] {
				d.errorf(posOf(a.Pos), "matrix axis %q lists %q twice", c.Name, v)
				continue
			}
			seen[v] = true
			ax.Values = append(ax.Values, v)
		}
		for _, prev := range axes {
			if prev.Name == ax.Name {
				d.errorf(posOf(c.NamePos), "matrix axis %q is declared twice", c.Name)
			}
		}
		axes = append(axes, ax)
	}
	if len(n.Children) == 0 {
		d.errorf(posOf(n.NamePos), "matrix has no values: write matrix { NAME \"value1\" \"value2\" }")
	}
	return axes
}

func (d *decoder) services(n *kdl.Node) []Service {
	d.noArgs(n)
	d.noProps(n)
	var out []Service
	for _, c := range n.Children {
		if c.Name != "service" {
			d.unknown(posOf(c.NamePos), "node", c.Name, "services", []string{"service"})
			continue
		}
		if len(c.Args) != 1 {
			d.errorf(posOf(c.NamePos), "service needs one name: service \"db\" image=\"postgres:16\"")
			continue
		}
		svc := Service{}
		svc.Name, _ = d.text(c.Args[0], "service name")
		for _, p := range lastProps(c) {
			if p.Key != "image" {
				d.unknown(posOf(p.Pos), "property", p.Key, "service", []string{"image"})
				continue
			}
			svc.Image, _ = d.text(p.Value, "image")
		}
		for _, cc := range c.Children {
			switch cc.Name {
			case "image":
				svc.Image, _ = d.oneText(cc)
			case "env":
				if svc.Env == nil {
					svc.Env = map[string]string{}
				}
				d.env(cc, svc.Env)
			case "command":
				svc.Command = d.texts(cc)
			default:
				d.unknown(posOf(cc.NamePos), "node", cc.Name, "service", serviceNodes)
			}
		}
		if svc.Image == "" {
			d.errorf(posOf(c.NamePos), "service %q needs an image", svc.Name)
		}
		out = append(out, svc)
	}
	if len(out) == 0 && len(n.Children) == 0 {
		d.errorf(posOf(n.NamePos), "services lists no service")
	}
	return out
}

var (
	cacheProps     = []string{"key", "restore-keys"}
	artifactsProps = []string{"name", "when", "optional"}
	artifactsWhen  = []string{ArtifactsSuccess, ArtifactsAlways, ArtifactsFailure}
)

func (d *decoder) cache(n *kdl.Node) Cache {
	c := Cache{Pos: posOf(n.NamePos)}
	for _, p := range lastProps(n) {
		switch p.Key {
		case "key":
			if k, ok := d.text(p.Value, "cache key"); ok {
				if _, err := ParseCacheKey(k); err != nil {
					d.errorf(posOf(p.Value.Pos), "cache key: %v", err)
				}
				c.Key = k
			}
		case "restore-keys":
			if k, ok := d.text(p.Value, "restore-keys"); ok {
				c.RestoreKeys = strings.Fields(k)
				for _, rk := range c.RestoreKeys {
					if _, err := ParseCacheKey(rk); err != nil {
						d.errorf(posOf(p.Value.Pos), "restore-keys: %v", err)
					}
				}
				if len(c.RestoreKeys) == 0 {
					d.errorf(posOf(p.Value.Pos), "restore-keys names no prefix: restore-keys=\"cargo- deps-\"")
				}
			}
		default:
			d.unknown(posOf(p.Pos), "property", p.Key, "cache", cacheProps)
		}
	}
	d.noChildren(n)
	c.Paths = d.paths(n, "cache", true, `cache "target" key="cargo"`)
	return c
}

func (d *decoder) artifacts(n *kdl.Node) ArtifactSpec {
	a := ArtifactSpec{Pos: posOf(n.NamePos)}
	for _, p := range lastProps(n) {
		switch p.Key {
		case "name":
			if v, ok := d.text(p.Value, "artifacts name"); ok {
				if msg := badArtifactName(v); msg != "" {
					d.errorf(posOf(p.Value.Pos), "artifacts name %q %s", v, msg)
				}
				a.Name, a.named = v, true
			}
		case "when":
			if v, ok := d.text(p.Value, "artifacts when"); ok {
				if !contains(artifactsWhen, v) {
					d.badChoice(posOf(p.Value.Pos), "artifacts when", v, artifactsWhen)
				}
				a.When = v
			}
		case "optional":
			a.Optional, _ = d.boolean(p.Value, "optional")
		default:
			d.unknown(posOf(p.Pos), "property", p.Key, "artifacts", artifactsProps)
		}
	}
	d.noChildren(n)
	a.Paths = d.paths(n, "artifacts", false, `artifacts "dist/app" "reports/*.xml"`)
	return a
}

// paths decodes the path arguments of a cache or artifacts node: each
// must stay in the workspace (or, with home, the stage's home); a node
// without any is an error showing example.
func (d *decoder) paths(n *kdl.Node, node string, home bool, example string) []string {
	var out []string
	for _, v := range n.Args {
		if s, ok := d.text(v, node+" path"); ok {
			if msg := badPath(s, home); msg != "" {
				d.errorf(posOf(v.Pos), "%s path %q %s", node, s, msg)
				continue
			}
			out = append(out, s)
		}
	}
	if len(n.Args) == 0 {
		d.errorf(posOf(n.NamePos), "%s names no path: %s", node, example)
	}
	return out
}

// badPath says what is wrong with a path of artifacts or cache, or "":
// they are relative to the workspace, without "..", or (a cache's, when
// home is set) "~" or "~/..." in the stage's home.
func badPath(p string, home bool) string {
	rest := p
	if home && (p == "~" || strings.HasPrefix(p, "~/")) {
		rest = strings.TrimPrefix(strings.TrimPrefix(p, "~"), "/")
		if rest == "" {
			return ""
		}
	}
	switch {
	case rest == "":
		return "is empty"
	case strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, `\`) || (len(rest) > 1 && rest[1] == ':'):
		if home {
			return "is absolute: paths are relative to the workspace, or ~/... in the stage's home"
		}
		return "is absolute: paths are relative to the workspace"
	case strings.HasPrefix(rest, "~"):
		if home {
			return "names another user's home: use ~/..."
		}
		return "is in a home folder: artifacts are relative to the workspace"
	}
	for _, seg := range strings.FieldsFunc(rest, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." {
			return "leaves the workspace (\"..\")"
		}
	}
	return ""
}

// badArtifactName says what is wrong with an artifacts name, or "": it
// names a folder of its own where artifacts are downloaded.
func badArtifactName(name string) string {
	switch {
	case strings.TrimSpace(name) == "":
		return "is empty"
	case name == "." || name == "..":
		return "is not a name"
	case strings.ContainsAny(name, `/\`):
		return "has a slash: a name is one folder's name"
	case len(name) > 100:
		return "is longer than 100 characters"
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "has a control character"
		}
	}
	return ""
}

func (d *decoder) approval(n *kdl.Node) *Approval {
	d.noArgs(n)
	a := &Approval{}
	for _, f := range d.settings(n, "approval", approvalFields) {
		switch f.name {
		case "message":
			a.Message, _ = d.text(d.single(f), "message")
		case "timeout":
			a.Timeout, _ = d.duration(d.single(f), "approval timeout")
		case "approvers":
			for _, v := range f.vals {
				if s, ok := d.text(v, "approver"); ok {
					a.Approvers = append(a.Approvers, s)
				}
			}
		}
	}
	return a
}

func (d *decoder) resources(n *kdl.Node) *Resources {
	d.noArgs(n)
	r := &Resources{}
	for _, f := range d.settings(n, "resources", resourcesFields) {
		v, ok := d.scalar(d.single(f), f.name)
		if !ok {
			continue
		}
		if f.name == "cpu" {
			r.CPU = v
		} else {
			r.Memory = v
		}
	}
	return r
}

func (d *decoder) healthCheck(n *kdl.Node) *HealthCheck {
	d.noArgs(n)
	h := &HealthCheck{}
	for _, f := range d.settings(n, "health-check", healthFields) {
		v := d.single(f)
		if f.name == "path" {
			if s, ok := d.text(v, "path"); ok {
				if !strings.HasPrefix(s, "/") {
					d.errorf(posOf(v.Pos), "health-check path must start with /, got %q", s)
				}
				h.Path = s
			}
		} else {
			h.Timeout, _ = d.duration(v, "health-check timeout")
		}
	}
	return h
}

func (d *decoder) target(n *kdl.Node) *Target {
	t := &Target{Pos: posOf(n.NamePos), Settings: map[string]string{}}
	if len(n.Args) != 1 {
		d.errorf(posOf(n.NamePos), "target needs one name: target \"prod\" kind=\"kubernetes\" { … }")
		return nil
	}
	name, ok := d.text(n.Args[0], "target name")
	if !ok {
		return nil
	}
	t.Name = name
	for _, p := range lastProps(n) {
		if p.Key != "kind" {
			d.unknown(posOf(p.Pos), "property", p.Key, "target "+quote(name), []string{"kind"})
			continue
		}
		if k, ok := d.text(p.Value, "kind"); ok {
			if !contains(targetKinds, k) {
				d.badChoice(posOf(p.Value.Pos), "target kind", k, targetKinds)
			}
			t.Kind = TargetKind(k)
		}
	}
	if t.Kind == "" {
		// `target "NAME"` alone names one of the tenant's targets, for a
		// pipeline run by a BuildIt server; anything more needs a kind.
		if len(n.Children) > 0 {
			d.errorf(posOf(n.NamePos), "target %q needs a kind: kind=\"kubernetes\" or kind=\"fly\"", name)
		}
		return t
	}
	known, ok := targetSettings[t.Kind]
	if !ok {
		return t
	}
	for _, c := range n.Children {
		if !contains(known, c.Name) {
			d.unknown(posOf(c.NamePos), "node", c.Name, string(t.Kind)+" target "+quote(name), known)
			continue
		}
		if v, ok := d.oneText(c); ok {
			t.Settings[c.Name] = v
		}
	}
	if t.Kind == TargetFly {
		if t.Settings["app"] == "" {
			d.errorf(posOf(n.NamePos), "fly target %q needs an app: app \"NAME\"", name)
		}
		if t.Settings["token-secret"] == "" {
			t.Settings["token-secret"] = "FLY_API_TOKEN"
		}
	}
	return t
}

// checkStageShape checks what a stage needs once its own nodes are read.
// Stages that extend a template are checked after the template is applied.
func (d *decoder) checkStageShape(s *Stage, n *kdl.Node) {
	if s.Extends != "" {
		return
	}
	d.checkShape(s)
}

func (d *decoder) checkShape(s *Stage) {
	switch s.Kind {
	case KindDeploy:
		if s.Deploy.Target == "" {
			d.errorf(s.Pos, "deploy %q needs a target: target \"NAME\"", s.Name)
		}
		if s.Deploy.Image == "" {
			d.errorf(s.Pos, "deploy %q needs an image: image \"registry/app:tag\"", s.Name)
		}
	default:
		if s.Approval != nil {
			s.Kind = KindApproval
			if len(s.Run) > 0 || s.Image != "" {
				d.errorf(s.Pos, "stage %q is an approval gate and cannot also have image or run: put the commands in a stage that needs it", s.Name)
			}
			return
		}
		if len(s.Run) == 0 {
			d.errorf(s.Pos, "stage %q has nothing to do: add run \"COMMAND\" (or an approval block)", s.Name)
		}
	}
}

func mergeInto(dst, src map[string]string) {
	for k, v := range src {
		dst[k] = v
	}
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
