package pipeline

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const triggersSrc = `pipeline "ci"
on {
    push { branch "main" "release/**"; paths "src/**" "go.mod"; paths-ignore "docs/**"; }
    pull-request branch="main" { types "opened" "synchronized"; }
    tag "v*"
    manual
    schedule "0 3 * * *" name="nightly" branch="main" timezone="Europe/Berlin" jitter="5m" overlap="buffer-one" {
        inputs environment="production" dry-run=#true
    }
    schedule "@hourly"
}
inputs {
    environment type="choice" default="staging" { values "staging" "production"; }
    dry-run type="boolean" default=#false
    replicas type="number" default=3 description="how many"
    message
}
concurrency group="deploy-${inputs.environment}-${BUILDIT_PR}"
stage "build" {
    image "alpine:${inputs.environment}"
    run "echo ${inputs.message} ${{ inputs.replicas }} ${inputs.nope}"
    env TARGET="${inputs.environment}"
}
`

func TestLoadOnAndInputs(t *testing.T) {
	t.Parallel()
	plan := mustPlan(t, triggersSrc)
	on := plan.On
	if on == nil {
		t.Fatal("plan has no On")
	}
	if want := (&PushTrigger{Branches: []string{"main", "release/**"}, Paths: []string{"src/**", "go.mod"}, PathsIgnore: []string{"docs/**"}}); !reflect.DeepEqual(on.Push, want) {
		t.Errorf("push = %+v, want %+v", on.Push, want)
	}
	if want := (&PullRequestTrigger{Branches: []string{"main"}, Types: []string{"opened", "synchronized"}}); !reflect.DeepEqual(on.PullRequest, want) {
		t.Errorf("pull request = %+v, want %+v", on.PullRequest, want)
	}
	if on.Tag == nil || !slices.Equal(on.Tag.Tags, []string{"v*"}) || !on.Manual {
		t.Errorf("tag %+v manual %v", on.Tag, on.Manual)
	}
	if len(on.Schedules) != 2 {
		t.Fatalf("schedules = %+v", on.Schedules)
	}
	s := on.Schedules[0]
	s.Pos = Position{}
	want := Schedule{Name: "nightly", Cron: "0 3 * * *", Timezone: "Europe/Berlin", Branch: "main", Jitter: 5 * time.Minute,
		Overlap: OverlapBufferOne, Inputs: map[string]string{"environment": "production", "dry-run": "true"}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("schedule = %+v, want %+v", s, want)
	}
	if got := on.Schedules[1]; got.Name != "schedule-2" || got.Overlap != OverlapSkip || got.Cron != "@hourly" {
		t.Errorf("second schedule = %+v", got)
	}
	if len(plan.Inputs) != 4 {
		t.Fatalf("inputs = %+v", plan.Inputs)
	}
	env := plan.Inputs[0]
	if env.Type != InputChoice || *env.Default != "staging" || !slices.Equal(env.Values, []string{"staging", "production"}) {
		t.Errorf("environment = %+v", env)
	}
	if in := plan.Inputs[1]; in.Type != InputBoolean || *in.Default != "false" {
		t.Errorf("dry-run = %+v", in)
	}
	if in := plan.Inputs[2]; in.Type != InputNumber || *in.Default != "3" || in.Description != "how many" {
		t.Errorf("replicas = %+v", in)
	}
	if in := plan.Inputs[3]; in.Type != InputString || in.Default != nil || in.Required {
		t.Errorf("message = %+v", in)
	}
}

func TestLoadOnDiagnostics(t *testing.T) {
	t.Parallel()
	const head = "pipeline \"p\"\nstage \"a\" { run \"x\"; }\n"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"pull_request spelt with an underscore", "on {\n    pull_request\n}\n",
			[]string{`4:5: unknown node "pull_request" in on; did you mean "pull-request"?`}},
		{"misspelt push setting", "on {\n    push { brnach \"main\"; }\n}\n",
			[]string{`4:12: unknown node "brnach" in push; did you mean "branch"?`}},
		{"unknown pull request type", "on {\n    pull-request types=\"closed\"\n}\n",
			[]string{`4:24: invalid pull-request type "closed": want one of opened, synchronized, reopened`}},
		{"misspelt pull request type", "on {\n    pull-request { types \"opend\"; }\n}\n",
			[]string{`4:26: invalid pull-request type "opend": want one of opened, synchronized, reopened; did you mean "opened"?`}},
		{"cron with four fields", "on {\n    schedule \"0 3 * *\"\n}\n",
			[]string{`4:14: schedule "0 3 * *": want five fields (minute hour day-of-month month day-of-week), got 4`}},
		{"cron minute out of range", "on {\n    schedule \"60 3 * * *\"\n}\n",
			[]string{`4:14: schedule "60 3 * * *": minute: "60" is not a value from 0 to 59`}},
		{"cron bad step", "on {\n    schedule \"*/0 * * * *\"\n}\n",
			[]string{`4:14: schedule "*/0 * * * *": minute: invalid step "0"`}},
		{"cron backwards range", "on {\n    schedule \"0 5-2 * * *\"\n}\n",
			[]string{`4:14: schedule "0 5-2 * * *": hour: range "5-2" runs backwards`}},
		{"cron macro", "on {\n    schedule \"@daliy\"\n}\n",
			[]string{`4:14: schedule "@daliy": want five fields or one of @hourly, @daily, @weekly, @monthly; did you mean "@daily"?`}},
		{"unknown timezone", "on {\n    schedule \"@daily\" timezone=\"Mars/Olympus\"\n}\n",
			[]string{`4:32: unknown timezone "Mars/Olympus": name an IANA zone like "Europe/Berlin" or "UTC"`}},
		{"bad jitter", "on {\n    schedule \"@daily\" jitter=\"soon\"\n}\n",
			[]string{`4:30: jitter: invalid duration "soon": write a positive number and a unit, like "90s", "20m", "2h" or "3d"`}},
		{"bad overlap", "on {\n    schedule \"@daily\" overlap=\"skp\"\n}\n",
			[]string{`4:31: invalid overlap "skp": want one of skip, buffer-one, cancel-other; did you mean "skip"?`}},
		{"duplicate schedule names", "on {\n    schedule \"@daily\" name=\"n\"\n    schedule \"@hourly\" name=\"n\"\n}\n",
			[]string{`5:5: duplicate schedule name "n" (first at 4:5)`}},
		{"push twice", "on {\n    push\n    push branch=\"x\"\n}\n",
			[]string{`5:5: push is set twice in on (first at 4:5)`}},
		{"on twice", "on { manual; }\non { push; }\n",
			[]string{`4:1: on is declared twice (first at 3:1)`}},
		{"empty on", "on\n", []string{`3:1: on names no event: write on { push; pull-request; tag "v*"; manual; schedule "0 3 * * *" }`}},
		{"bad glob", "on {\n    push branch=\"[main\"\n}\n",
			[]string{`4:17: invalid branch pattern: unclosed [ in "[main"`}},
		{"bad input name", "inputs {\n    \"1st\"\n}\n",
			[]string{`4:5: invalid input name "1st": use up to 64 letters, digits, '-' and '_', starting with a letter`}},
		{"duplicate input", "inputs {\n    a\n    a type=\"number\"\n}\n",
			[]string{`5:5: duplicate input "a" (first at 4:5)`}},
		{"inputs with the same variable", "inputs {\n    dry-run\n    dry_run\n}\n",
			[]string{`5:5: input "dry_run" and input "dry-run" (at 4:5) are both BUILDIT_INPUT_DRY_RUN`}},
		{"choice without values", "inputs {\n    env type=\"choice\"\n}\n",
			[]string{`4:5: choice input "env" has no values: write env type="choice" { values "a" "b"; }`}},
		{"default not among the values", "inputs {\n    env type=\"choice\" default=\"prod\" { values \"staging\" \"production\"; }\n}\n",
			[]string{`4:31: default of input "env": "prod" is not one of staging, production`}},
		{"default not a number", "inputs {\n    n type=\"number\" default=\"many\"\n}\n",
			[]string{`4:29: default of input "n": "many" is not a number`}},
		{"default not a boolean", "inputs {\n    b type=\"boolean\" default=\"yes\"\n}\n",
			[]string{`4:30: default of boolean input "b" must be #true or #false, got a string ("yes")`}},
		{"required with a default", "inputs {\n    s required=#true default=\"x\"\n}\n",
			[]string{`4:30: input "s" is required and has a default: a required input has none`}},
		{"unknown input type", "inputs {\n    s type=\"text\"\n}\n",
			[]string{`4:12: invalid input type "text": want one of string, boolean, choice, number`}},
		{"values on a string", "inputs {\n    s { values \"a\"; }\n}\n",
			[]string{`4:9: input "s" is a string: only a choice has values`}},
		{"schedule names an undeclared input", "inputs { a; }\non {\n    schedule \"@daily\" { inputs b=\"x\"; }\n}\n",
			[]string{`5:5: schedule "schedule-1": input b: pipeline "p" declares no such input; it declares a`}},
		{"schedule lacks a required input", "inputs { a required=#true; }\non {\n    schedule \"@daily\"\n}\n",
			[]string{`5:5: schedule "schedule-1": input a: is required`}},
		{"every mistake at once", "on {\n    pull_request\n    schedule \"bad\"\n}\ninputs {\n    n type=\"number\" default=\"x\"\n}\n",
			[]string{
				`4:5: unknown node "pull_request" in on; did you mean "pull-request"?`,
				`5:14: schedule "bad": want five fields (minute hour day-of-month month day-of-week), got 1`,
				`8:29: default of input "n": "x" is not a number`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, diags := Load("p.kdl", []byte(head+tt.src))
			if p != nil {
				t.Fatalf("loaded; want errors %q", tt.want)
			}
			if got := diagLines(diags); !slices.Equal(got, tt.want) {
				t.Errorf("diagnostics:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLoadScheduleAndInputLimits(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("pipeline \"p\"\nstage \"a\" { run \"x\"; }\non {\n")
	for range MaxSchedules + 1 {
		b.WriteString("    schedule \"@daily\"\n")
	}
	b.WriteString("}\ninputs {\n")
	for i := range MaxInputs + 1 {
		b.WriteString("    in" + strings.Repeat("x", i) + "\n")
	}
	b.WriteString("}\n")
	_, diags := Load("p.kdl", []byte(b.String()))
	errs := diags.Errors()
	if len(errs) != 2 || !errs[0].Limit || !errs[1].Limit ||
		!strings.Contains(errs[0].Message, "too many schedules") || !strings.Contains(errs[1].Message, "too many inputs") {
		t.Fatalf("diagnostics = %v", diags)
	}
}

func TestTriggered(t *testing.T) {
	t.Parallel()
	full := *mustPlan(t, triggersSrc)
	none := *mustPlan(t, "pipeline \"p\"\nstage \"a\" { run \"x\"; }\n")
	pushOnly := *mustPlan(t, "pipeline \"p\"\non { push; }\nstage \"a\" { run \"x\"; }\n")
	deep := *mustPlan(t, "pipeline \"p\"\non { push branch=\"feature/*\"; tag; }\nstage \"a\" { run \"x\"; }\n")
	ignoreOnly := *mustPlan(t, "pipeline \"p\"\non { push paths-ignore=\"**/*.md\"; }\nstage \"a\" { run \"x\"; }\n")
	manualOff := *mustPlan(t, "pipeline \"p\"\non { manual #false; push; }\nstage \"a\" { run \"x\"; }\n")
	tests := []struct {
		name string
		plan Plan
		ev   Event
		want bool
	}{
		{"default: push", none, Event{Kind: "push", Branch: "anything"}, true},
		{"default: pull request opened", none, Event{Kind: "pull_request", Action: ActionOpened}, true},
		{"default: pull request reopened", none, Event{Kind: "pull_request", Action: ActionReopened}, true},
		{"default: pull request closed", none, Event{Kind: "pull_request", Action: "closed"}, false},
		{"default: manual", none, Event{Kind: "manual"}, true},
		{"default: api", none, Event{Kind: "api"}, true},
		{"default: no tag", none, Event{Kind: "tag", Tag: "v1"}, false},
		{"default: no schedule", none, Event{Kind: "schedule"}, false},
		{"unknown kind", none, Event{Kind: "comment"}, false},

		{"push to main", full, Event{Kind: "push", Branch: "main"}, true},
		{"push to release/1.0", full, Event{Kind: "push", Branch: "release/1.0"}, true},
		{"push to release/1.0/hotfix (** crosses /)", full, Event{Kind: "push", Branch: "release/1.0/hotfix"}, true},
		{"push to dev", full, Event{Kind: "push", Branch: "dev"}, false},
		{"push to main-old", full, Event{Kind: "push", Branch: "main-old"}, false},
		{"push changing src", full, Event{Kind: "push", Branch: "main", Changed: []string{"src/a/b.go"}}, true},
		{"push changing go.mod and docs", full, Event{Kind: "push", Branch: "main", Changed: []string{"docs/x.md", "go.mod"}}, true},
		{"push changing only docs", full, Event{Kind: "push", Branch: "main", Changed: []string{"docs/x.md"}}, false},
		{"push changing a file outside paths", full, Event{Kind: "push", Branch: "main", Changed: []string{"README.md"}}, false},
		{"push changing src under docs ignored", full, Event{Kind: "push", Branch: "main", Changed: []string{"docs/src/x"}}, false},
		{"push with no changed files known empty", full, Event{Kind: "push", Branch: "main", Changed: []string{}}, false},
		{"pr into main opened", full, Event{Kind: "pull_request", Branch: "feat", Base: "main", Action: ActionOpened}, true},
		{"pr into main synchronized", full, Event{Kind: "pull_request", Base: "main", Action: ActionSynchronized}, true},
		{"pr into main reopened: not in types", full, Event{Kind: "pull_request", Base: "main", Action: ActionReopened}, false},
		{"pr into dev", full, Event{Kind: "pull_request", Branch: "main", Base: "dev", Action: ActionOpened}, false},
		{"tag v1.2", full, Event{Kind: "tag", Tag: "v1.2"}, true},
		{"tag release-1", full, Event{Kind: "tag", Tag: "release-1"}, false},
		{"manual", full, Event{Kind: "manual"}, true},
		{"schedule", full, Event{Kind: "schedule"}, true},

		{"push only: pr", pushOnly, Event{Kind: "pull_request", Base: "main", Action: ActionOpened}, false},
		{"push only: manual", pushOnly, Event{Kind: "manual"}, false},
		{"push only: tag", pushOnly, Event{Kind: "tag", Tag: "v1"}, false},
		{"push only: schedule", pushOnly, Event{Kind: "schedule"}, false},
		{"push only: any branch", pushOnly, Event{Kind: "push", Branch: "a/b/c"}, true},
		{"* does not cross /", deep, Event{Kind: "push", Branch: "feature/a/b"}, false},
		{"* within a segment", deep, Event{Kind: "push", Branch: "feature/a"}, true},
		{"tag without globs: any tag", deep, Event{Kind: "tag", Tag: "anything"}, true},
		{"paths-ignore: only markdown", ignoreOnly, Event{Kind: "push", Changed: []string{"README.md", "docs/a/b.md"}}, false},
		{"paths-ignore: markdown and code", ignoreOnly, Event{Kind: "push", Changed: []string{"README.md", "main.go"}}, true},
		{"paths-ignore: unknown changes", ignoreOnly, Event{Kind: "push"}, true},
		{"manual #false", manualOff, Event{Kind: "manual"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.plan.Triggered(tt.ev); got != tt.want {
				t.Errorf("Triggered(%+v) = %v, want %v", tt.ev, got, tt.want)
			}
		})
	}
}

func TestMatchGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"main", "main", true},
		{"main", "main2", false},
		{"release/*", "release/1", true},
		{"release/*", "release/1/2", false},
		{"release/**", "release/1/2", true},
		{"release/**", "release", false},
		{"**", "a/b/c", true},
		{"**/*.go", "main.go", true},
		{"**/*.go", "a/b/main.go", true},
		{"**/*.go", "a/b/main.rs", false},
		{"src/**/test", "src/test", true},
		{"src/**/test", "src/a/b/test", true},
		{"v?.*", "v1.2", true},
		{"v[0-9]*", "v1", true},
		{"v[!0-9]*", "v1", false},
		{"a.b", "axb", false},
		{"(x)", "(x)", true},
	}
	for _, tt := range tests {
		if got := MatchGlob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestResolveInputs(t *testing.T) {
	t.Parallel()
	plan := *mustPlan(t, `pipeline "p"
inputs {
    environment type="choice" default="staging" { values "staging" "production"; }
    dry-run type="boolean" default=#false
    replicas type="number" required=#true
    flag type="boolean"
    message
}
stage "a" { run "x"; }
`)
	tests := []struct {
		name    string
		given   map[string]string
		want    map[string]string
		wantErr string
	}{
		{"defaults", map[string]string{"replicas": "2"},
			map[string]string{"environment": "staging", "dry-run": "false", "replicas": "2", "flag": "false", "message": ""}, ""},
		{"all given, normalised", map[string]string{"environment": "production", "dry-run": "YES", "replicas": "1e3", "flag": "1", "message": "hi"},
			map[string]string{"environment": "production", "dry-run": "true", "replicas": "1000", "flag": "true", "message": "hi"}, ""},
		{"number shortest form", map[string]string{"replicas": "2.50"},
			map[string]string{"environment": "staging", "dry-run": "false", "replicas": "2.5", "flag": "false", "message": ""}, ""},
		{"missing required", map[string]string{}, nil, "input replicas: is required"},
		{"unknown input", map[string]string{"replicas": "1", "environmen": "x"}, nil,
			`input environmen: pipeline "p" declares no such input; did you mean "environment"?`},
		{"unknown input without a close name", map[string]string{"replicas": "1", "zzz": "x"}, nil,
			`input zzz: pipeline "p" declares no such input; it declares environment, dry-run, replicas, flag, message`},
		{"not in choices", map[string]string{"replicas": "1", "environment": "prod"}, nil,
			`input environment: "prod" is not one of staging, production`},
		{"not a number", map[string]string{"replicas": "many"}, nil, `input replicas: "many" is not a number`},
		{"infinity is not a number", map[string]string{"replicas": "Inf"}, nil, `input replicas: "Inf" is not a number`},
		{"not a boolean", map[string]string{"replicas": "1", "flag": "maybe"}, nil, `input flag: "maybe" is not a boolean: give true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := plan.ResolveInputs(tt.given)
			if tt.wantErr != "" {
				var ie *InputError
				if !errors.As(err, &ie) || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want *InputError %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ResolveInputs = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := (Plan{Pipeline: "q"}).ResolveInputs(map[string]string{"x": "1"}); err == nil || err.Error() != `input x: pipeline "q" declares no inputs` {
		t.Errorf("no inputs: %v", err)
	}
}

func TestApplyInputs(t *testing.T) {
	t.Parallel()
	plan := mustPlan(t, `pipeline "p"
inputs { env; n type="number" default=1; }
stage "a" {
    image "img:${inputs.env}"
    run "echo ${inputs.env} ${{ inputs.n }} ${inputs.unknown} ${matrix.x}"
    env E="${inputs.env}"
    services { service "db" image="pg:${inputs.n}" { env P="${inputs.env}"; command "--x=${inputs.env}"; }; }
}
target "t" kind="fly" { app "a"; }
deploy "d" { target "t"; image "app:${inputs.env}"; env V="${inputs.n}"; }
`)
	orig := mustPlan(t, `pipeline "p"
inputs { env; n type="number" default=1; }
stage "a" { run "echo ${inputs.env}"; }
`)
	shared := *orig
	plan.ApplyInputs(map[string]string{"env": "prod", "n": "2"})
	a := plan.Step("a")
	if a.Image != "img:prod" || a.Run[0] != "echo ${BUILDIT_INPUT_ENV} ${BUILDIT_INPUT_N} ${inputs.unknown} ${matrix.x}" || a.Env["E"] != "prod" {
		t.Errorf("stage a = image %q run %q env %v", a.Image, a.Run, a.Env)
	}
	svc := a.Services[0]
	if svc.Image != "pg:2" || svc.Env["P"] != "prod" || svc.Command[0] != "--x=prod" {
		t.Errorf("service = %+v", svc)
	}
	d := plan.Step("d").Deploy
	if d.Image != "app:prod" || d.Env["V"] != "2" {
		t.Errorf("deploy = %+v", d)
	}
	// A copy of a plan shares its steps' slices: applying to one leaves
	// the other as it was.
	cp := shared
	cp.Steps = slices.Clone(shared.Steps)
	cp.ApplyInputs(map[string]string{"env": "x"})
	if orig.Steps[0].Run[0] != "echo ${inputs.env}" || cp.Steps[0].Run[0] != "echo ${BUILDIT_INPUT_ENV}" {
		t.Errorf("orig %q copy %q", orig.Steps[0].Run, cp.Steps[0].Run)
	}
}

func TestInputVar(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{"dry-run": "BUILDIT_INPUT_DRY_RUN", "Env": "BUILDIT_INPUT_ENV", "a_b2": "BUILDIT_INPUT_A_B2"} {
		if got := InputVar(name); got != want {
			t.Errorf("InputVar(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestSkipCI(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]bool{
		"fix: typo [skip ci]":       true,
		"[CI SKIP] docs":            true,
		"wip [no ci]":               true,
		"x\n\n[Skip BuildIt]":       true,
		"[buildit skip]":            true,
		"***NO_CI***":               true,
		"skip ci":                   false,
		"fix the [skip-ci] handler": false,
		"":                          false,
	} {
		if got := SkipCI(msg); got != want {
			t.Errorf("SkipCI(%q) = %v, want %v", msg, got, want)
		}
	}
}

func TestExpandGroup(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"BUILDIT_PR": "12", "BUILDIT_BRANCH": "main", "BUILDIT_INPUT_DRY_RUN": "true"}
	tests := map[string]string{
		"pr-${BUILDIT_PR}":                       "pr-12",
		"${BUILDIT_BRANCH}/${BUILDIT_TAG}":       "main/",
		"d-${inputs.dry-run}":                    "d-true",
		"d-${{ inputs.dry-run }}":                "d-true",
		"fixed":                                  "fixed",
		"${missing}-${BUILDIT_PR}-${BUILDIT_PR}": "-12-12",
	}
	for group, want := range tests {
		if got := (Concurrency{Group: group}).ExpandGroup(vars); got != want {
			t.Errorf("ExpandGroup(%q) = %q, want %q", group, got, want)
		}
	}
	// The plan's group expands with the inputs' variables.
	plan := mustPlan(t, triggersSrc)
	if got := plan.Concurrency.ExpandGroup(map[string]string{"BUILDIT_PR": "7", InputVar("environment"): "production"}); got != "deploy-production-7" {
		t.Errorf("plan group = %q", got)
	}
}

// A `when event` no run has is a warning, with the event's right name.
func TestWhenEventWarning(t *testing.T) {
	t.Parallel()
	p, diags := Load("p.kdl", []byte("pipeline \"p\"\nstage \"a\" { run \"x\"; when event=\"pull-request\"; }\nstage \"b\" { run \"x\"; when { event \"tag\" \"pu*\"; }; }\n"))
	want := []string{`2:33: warning: when event "pull-request" matches no run: events are push, pull_request, tag, manual, schedule, api; did you mean "pull_request"?`}
	if p == nil || !slices.Equal(diagLines(diags), want) {
		t.Errorf("diagnostics %q, want %q", diagLines(diags), want)
	}
}
