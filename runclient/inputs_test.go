package runclient

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/pipeline"
)

func inputsPlan(t *testing.T, src string) *pipeline.Plan {
	t.Helper()
	p, diags := pipeline.Load("p.kdl", []byte(src))
	if p == nil {
		t.Fatal(diags)
	}
	return pipeline.NewPlan(p)
}

// ResolveRunInputs: a manual run's inputs are checked and applied (in
// run commands as shell variables, elsewhere as text) and become
// BUILDIT_INPUT_*; a push gets the defaults, even of required
// inputs; a value written many times that would grow the plan past
// MaxInputGrowth is refused naming it.
func TestResolveRunInputs(t *testing.T) {
	t.Parallel()
	const src = `pipeline "p"
inputs { env default="staging"; n type="number" required=#true; }
stage "a" { run "echo ${inputs.n} ${inputs.env}"; env E="${inputs.env}${inputs.env}${inputs.env}${inputs.env}"; }
`
	plan := inputsPlan(t, src)
	values, env, err := ResolveRunInputs(plan, buildit.EventManual, map[string]string{"n": "2"}, map[string]string{"K": "v"})
	if err != nil || !maps.Equal(values, map[string]string{"env": "staging", "n": "2"}) ||
		!maps.Equal(env, map[string]string{"K": "v", "BUILDIT_INPUT_ENV": "staging", "BUILDIT_INPUT_N": "2"}) || plan.Steps[0].Run[0] != "echo ${BUILDIT_INPUT_N} ${BUILDIT_INPUT_ENV}" || plan.Steps[0].Env["E"] != "stagingstagingstagingstaging" {
		t.Errorf("manual: %v %v %v %q %v", values, env, err, plan.Steps[0].Run, plan.Steps[0].Env)
	}

	var ie *pipeline.InputError
	if _, _, err := ResolveRunInputs(inputsPlan(t, src), buildit.EventManual, nil, nil); !errors.As(err, &ie) || ie.Input != "n" {
		t.Errorf("manual without a required input: %v", err)
	}
	plan = inputsPlan(t, src)
	values, _, err = ResolveRunInputs(plan, buildit.EventPush, nil, nil)
	if err != nil || !maps.Equal(values, map[string]string{"env": "staging", "n": ""}) {
		t.Errorf("push: %v %v", values, err)
	}

	big := strings.Repeat("x", MaxInputGrowth/4+100)
	_, _, err = ResolveRunInputs(inputsPlan(t, src), buildit.EventManual, map[string]string{"n": "1", "env": big}, nil)
	if !errors.As(err, &ie) || ie.Input != "env" || !strings.Contains(err.Error(), "larger") {
		t.Errorf("a value that grows the plan too much: %v", err)
	}
	// Under the bound passes.
	_, _, err = ResolveRunInputs(inputsPlan(t, src), buildit.EventManual, map[string]string{"n": "1", "env": big[:MaxInputGrowth/8]}, nil)
	if err != nil {
		t.Errorf("a value under the bound: %v", err)
	}
	// A pipeline without inputs given none keeps its env as it is.
	if v, e, err := ResolveRunInputs(inputsPlan(t, "pipeline \"q\"\nstage \"a\" { run \"x\"; }\n"), buildit.EventManual, nil, map[string]string{"K": "v"}); v != nil || e["K"] != "v" || err != nil {
		t.Errorf("no inputs: %v %v %v", v, e, err)
	}
}
