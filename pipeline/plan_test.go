package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mustPlan loads src and returns its plan, failing the test on any error.
func mustPlan(t *testing.T, src string) *Plan {
	t.Helper()
	p, diags := Load("test.kdl", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	return NewPlan(p)
}

func TestPlanWaves(t *testing.T) {
	t.Parallel()
	plan := mustPlan(t, `pipeline "p"
stage "lint" { run "l"; }
stage "test" { run "t"; }
stage "build" needs="test" { run "b"; }
stage "package" { needs "build" "lint"; run "p"; }
stage "docs" { run "d"; }
`)
	want := [][]string{{"lint", "test", "docs"}, {"build"}, {"package"}}
	if !reflect.DeepEqual(plan.Waves, want) {
		t.Errorf("waves = %v, want %v", plan.Waves, want)
	}
	var order []string
	for _, st := range plan.Steps {
		order = append(order, st.ID)
	}
	if got := strings.Join(order, ","); got != "lint,test,docs,build,package" {
		t.Errorf("steps in order %s", got)
	}
	if got := plan.Step("package").Needs; !reflect.DeepEqual(got, []string{"build", "lint"}) {
		t.Errorf("package needs %v", got)
	}
}

func TestPlanMatrix(t *testing.T) {
	t.Parallel()
	plan := mustPlan(t, `pipeline "p"
stage "test" {
    image "rust:${matrix.rust}"
    matrix {
        rust "1.75" "1.80"
        os "linux" "mac"
    }
    env TARGET="${matrix.os}"
    run "cargo +${{ matrix.rust }} test"
}
stage "build" needs="test" { run "b"; }
`)
	wantIDs := []string{
		"test [rust=1.75, os=linux]", "test [rust=1.75, os=mac]",
		"test [rust=1.80, os=linux]", "test [rust=1.80, os=mac]",
	}
	if !reflect.DeepEqual(plan.Waves[0], wantIDs) {
		t.Fatalf("wave 1 = %v, want %v", plan.Waves[0], wantIDs)
	}
	st := plan.Step("test [rust=1.80, os=mac]")
	if st.Image != "rust:1.80" || st.Run[0] != "cargo +1.80 test" || st.Env["TARGET"] != "mac" {
		t.Errorf("matrix values not substituted: %+v", st)
	}
	if st.Env["MATRIX_RUST"] != "1.80" || st.Env["MATRIX_OS"] != "mac" {
		t.Errorf("matrix env missing: %v", st.Env)
	}
	if !reflect.DeepEqual(plan.Step("build").Needs, wantIDs) {
		t.Errorf("build needs %v, want every instance", plan.Step("build").Needs)
	}
}

func TestPlanDefaultsAndTemplates(t *testing.T) {
	t.Parallel()
	plan := mustPlan(t, `pipeline "p"
env A="1" B="pipeline"
defaults { image "base:1"; timeout "30m"; retry 1; shell "bash"; }
template "rust" {
    image "rust:1.75"
    env B="template" C="3"
    secrets "TOKEN"
    timeout "5m"
}
stage "one" extends="rust" {
    env C="stage"
    run "x"
    retry 0
}
stage "two" { run "y"; }
`)
	one := plan.Step("one")
	if one.Image != "rust:1.75" || one.Timeout != 5*time.Minute || one.Retry != 0 || one.Shell != "bash" {
		t.Errorf("one = %+v", one)
	}
	wantEnv := map[string]string{"A": "1", "B": "template", "C": "stage"}
	if !reflect.DeepEqual(one.Env, wantEnv) {
		t.Errorf("one env = %v, want %v", one.Env, wantEnv)
	}
	if !reflect.DeepEqual(one.Secrets, []string{"TOKEN"}) {
		t.Errorf("one secrets = %v", one.Secrets)
	}
	two := plan.Step("two")
	if two.Image != "base:1" || two.Timeout != 30*time.Minute || two.Retry != 1 {
		t.Errorf("two = %+v", two)
	}
}

func TestPlanDefaultTimeoutAndShell(t *testing.T) {
	t.Parallel()
	st := mustPlan(t, "pipeline \"p\"\nstage \"a\" { run \"x\"; }\n").Step("a")
	if st.Timeout != DefaultTimeout || st.Shell != DefaultShell || st.Image != "" || st.Kind != KindRun {
		t.Errorf("a = %+v", st)
	}
}

func TestPlanKinds(t *testing.T) {
	t.Parallel()
	plan := mustPlan(t, `pipeline "p"
stage "gate" { approval { message "ok?"; timeout "1h"; approvers "ann" "bob"; }; }
deploy "d" needs="gate" { target "k"; image "app:1"; health-check path="/h" timeout="2m"; }
target "k" kind="kubernetes" { namespace "apps"; }
`)
	gate := plan.Step("gate")
	if gate.Kind != KindApproval || gate.Approval.Message != "ok?" || gate.Approval.Timeout != time.Hour || len(gate.Approval.Approvers) != 2 {
		t.Errorf("gate = %+v / %+v", gate, gate.Approval)
	}
	d := plan.Step("d")
	if d.Kind != KindDeploy || d.Deploy.Target != "k" || d.Deploy.Replicas != 1 || d.Deploy.Strategy != StrategyRolling ||
		d.Deploy.HealthCheck.Path != "/h" || d.Deploy.HealthCheck.Timeout != 2*time.Minute {
		t.Errorf("deploy = %+v / %+v", d, d.Deploy)
	}
	if plan.Targets["k"].Settings["namespace"] != "apps" {
		t.Errorf("targets = %+v", plan.Targets)
	}
}

func TestPlanJSONRoundTrip(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", "examples", "full.kdl"))
	if err != nil {
		t.Fatal(err)
	}
	plan := mustPlan(t, string(src))
	data, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(plan, &back) {
		t.Errorf("plan changed through JSON:\n%+v\n%+v", plan, &back)
	}
}

func TestGraphFormats(t *testing.T) {
	t.Parallel()
	plan := mustPlan(t, `pipeline "g"
stage "a" { run "x"; }
stage "b" needs="a" allow-failure=#true { image "alpine"; run "y"; }
stage "gate" needs="b" { approval { message "go"; }; }
`)
	tests := map[string]string{
		"text": `pipeline "g": 3 stages in 3 waves
wave 1
  a (host)
wave 2
  b (alpine, allow-failure)  <- a
wave 3
  gate (approval)  <- b
`,
		"dot": `digraph "g" {
  rankdir=LR;
  node [shape=box, style=rounded];
  "a" [label="a"];
  "b" [label="b"];
  "gate" [label="gate", shape=diamond];
  "a" -> "b";
  "b" -> "gate";
}
`,
		"mermaid": `flowchart LR
  s0["a"]
  s1["b"]
  s2{"gate"}
  s0 --> s1
  s1 --> s2
`,
	}
	for format, want := range tests {
		var b strings.Builder
		if err := plan.WriteGraph(&b, format); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("%s graph:\n%s\nwant:\n%s", format, b.String(), want)
		}
	}
	if err := plan.WriteGraph(&strings.Builder{}, "svg"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestExamplesAreValid(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.kdl"))
	if err != nil || len(files) < 8 {
		t.Fatalf("examples: %v, %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, diags, err := LoadFile(f)
			if err != nil || diags.HasErrors() || p == nil {
				t.Fatalf("%v %v", err, diags)
			}
			if len(diags) > 0 {
				t.Errorf("warnings in an example: %v", diags)
			}
		})
	}
}

func TestPlanOnly(t *testing.T) {
	t.Parallel()
	plan := mustPlan(t, `pipeline "p"
stage "a" { run "x"; }
stage "b" needs="a" { run "x"; }
stage "c" { run "x"; }
stage "d" needs="b" { run "x"; }
`)
	only, err := plan.Only("b")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(only.Waves, [][]string{{"a"}, {"b"}}) || len(only.Steps) != 2 || only.Steps[1].Wave != 1 {
		t.Errorf("only b: %+v", only)
	}
	if _, err := plan.Only("zz"); err == nil || err.Error() != `no stage named "zz" in pipeline "p"` {
		t.Errorf("unknown stage: %v", err)
	}
}
