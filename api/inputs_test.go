package api

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/runclient"
)

const inputsKDL = `pipeline "deploy"
on {
    manual
    push branch="main"
}
inputs {
    environment type="choice" default="staging" { values "staging" "production"; }
    replicas type="number" required=#true
    dry-run type="boolean" default=#false
}
concurrency group="deploy-${inputs.environment}-${BUILDIT_BRANCH}"
stage "show" {
    env TARGET="${inputs.environment}"
    run "echo target=$TARGET replicas=${inputs.replicas} var=$BUILDIT_INPUT_REPLICAS dry=$BUILDIT_INPUT_DRY_RUN event=$BUILDIT_EVENT"
}
`

// Inputs through the API: resolved against the pipeline (a wrong one is a
// 422 naming the input, and makes no run), replaced in the plan, given to
// stages as BUILDIT_INPUT_*, expanded in the concurrency group, shown in
// the run's view, and given again to a rerun.
func TestRunInputsThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "deploy", "source": inputsKDL})
	base := "/orgs/acme/tenants/web/pipelines/deploy/runs"

	for _, tc := range []struct {
		name   string
		inputs map[string]string
		msg    string
		input  string
	}{
		{"missing required", nil, "input replicas: is required", "replicas"},
		{"not a choice", map[string]string{"replicas": "2", "environment": "prod"}, `input environment: "prod" is not one of staging, production`, "environment"},
		{"not a number", map[string]string{"replicas": "two"}, `input replicas: "two" is not a number`, "replicas"},
		{"not a boolean", map[string]string{"replicas": "2", "dry-run": "maybe"}, `input dry-run: "maybe" is not a boolean: give true or false`, "dry-run"},
		{"undeclared", map[string]string{"replicas": "2", "replica": "2"}, `input replica: pipeline "deploy" declares no such input; did you mean "replicas"?`, "replica"},
	} {
		r := owner.do("POST", base, map[string]any{"inputs": tc.inputs})
		var body struct {
			Error struct {
				Code, Message string
				Details       struct{ Input string }
			}
		}
		r.json(t, &body)
		if r.status != 422 || body.Error.Code != "invalid" || body.Error.Message != tc.msg || body.Error.Details.Input != tc.input {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
		}
	}

	var started apiview.Run
	owner.must(201, "POST", base, map[string]any{"branch": "main", "inputs": map[string]string{"environment": "production", "replicas": "3.0"}}).json(t, &started)
	if started.Number != 1 {
		t.Fatalf("the refused triggers made runs: this is run %d", started.Number)
	}
	done := owner.waitRun(base+"/1", ended)
	if done.Status != buildit.RunSucceeded {
		t.Fatalf("run %s: %+v", done.Status, done.Stages)
	}
	wantInputs := map[string]string{"environment": "production", "replicas": "3", "dry-run": "false"}
	if !maps.Equal(done.Inputs, wantInputs) || done.ConcurrencyGroup != "deploy-production-main" {
		t.Errorf("run inputs %v group %q", done.Inputs, done.ConcurrencyGroup)
	}
	if d := done.TriggerDetail; d == nil || d.Event != buildit.EventAPI || d.Branch != "main" {
		t.Errorf("trigger detail %+v", d)
	}
	wantLog := []string{"target=production replicas=3 var=3 dry=false event=api"}
	if got := logLines(t, owner, base+"/1/logs?stage=show"); !slices.Equal(got, wantLog) {
		t.Errorf("log %q, want %q", got, wantLog)
	}

	// A rerun has the same inputs.
	var rerun apiview.Run
	owner.must(201, "POST", base+"/1/rerun", nil).json(t, &rerun)
	rerun = owner.waitRun(base+"/2", ended)
	if rerun.Status != buildit.RunSucceeded || !maps.Equal(rerun.Inputs, wantInputs) || rerun.ConcurrencyGroup != "deploy-production-main" {
		t.Errorf("rerun %s inputs %v group %q", rerun.Status, rerun.Inputs, rerun.ConcurrencyGroup)
	}
	if got := logLines(t, owner, base+"/2/logs?stage=show"); !slices.Equal(got, wantLog) {
		t.Errorf("rerun log %q, want %q", got, wantLog)
	}

	// A pipeline whose `on` lacks manual is not run by hand.
	owner.must(200, "PUT", "/orgs/acme/tenants/web/pipelines/deploy", map[string]string{"source": "pipeline \"deploy\"\non { push; }\nstage \"a\" { run \"true\"; }\n"})
	r := owner.do("POST", base, nil)
	if r.status != 422 || r.code() != "invalid" || !strings.Contains(string(r.body), "pipeline deploy does not allow manual runs: add `manual` to its `on`") {
		t.Errorf("manual run of a push-only pipeline: %d %s", r.status, r.body)
	}
}

// A pull request's run started by the run service (as a webhook does):
// its whole trigger is kept and shown, its concurrency group expands
// BUILDIT_PR, and, from a fork, its stages get no tenant secrets and say
// so; the repository's opt-in gives them back.
func TestPullRequestRunFromAFork(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "PUT", "/orgs/acme/tenants/web/secrets/TOKEN", map[string]string{"value": "s3cr3t-token-value"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "ci", "source": `pipeline "ci"
concurrency group="pr-${BUILDIT_PR}" cancel-in-progress=#true
stage "test" {
    secrets "TOKEN"
    run "echo token=${TOKEN:-unset} pr=$BUILDIT_PR base=$BUILDIT_BASE_BRANCH"
}
`})
	ctx := context.Background()
	org, err := e.store.Organizations().GetBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := e.store.Tenants().Get(ctx, org.ID, "web")
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.store.Pipelines().Get(ctx, tenant.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	trigger := buildit.Trigger{Event: buildit.EventPullRequest, Branch: "feat", Base: "main", PR: 12, Action: "opened", Fork: true,
		Author: "mallory", Message: "improve things"}
	base := "/orgs/acme/tenants/web/pipelines/ci/runs"
	for i, src := range []*runclient.RepoSource{nil, {ForkSecrets: true}} {
		if _, err := e.svc.Start(ctx, org, tenant, p, runclient.Trigger{Trigger: trigger, Via: "webhook", Source: src}); err != nil {
			t.Fatal(err)
		}
		path := base + "/" + []string{"1", "2"}[i]
		done := owner.waitRun(path, ended)
		if done.Status != buildit.RunSucceeded || done.ConcurrencyGroup != "pr-12" {
			t.Fatalf("run %s group %q: %+v", done.Status, done.ConcurrencyGroup, done.Stages)
		}
		if done.TriggerDetail == nil || *done.TriggerDetail != trigger {
			t.Errorf("trigger detail %+v, want %+v", done.TriggerDetail, trigger)
		}
		got := logLines(t, owner, path+"/logs?stage=test")
		want := []string{
			"buildit: secrets withheld because this run is a pull request from a fork: TOKEN (not set; the repository may allow them to forks)",
			"token=unset pr=12 base=main",
		}
		if src != nil {
			want = []string{"token=*** pr=12 base=main"}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("fork secrets %v: log %q, want %q", src != nil, got, want)
		}
	}
}

func logLines(t *testing.T, c *client, path string) []string {
	t.Helper()
	var logs apiview.Logs
	c.must(200, "GET", path, nil).json(t, &logs)
	var out []string
	for _, l := range logs.Lines {
		out = append(out, l.Line)
	}
	return out
}
