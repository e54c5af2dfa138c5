package workflows

import (
	"context"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit"
)

// A pull request's run: `when event="pull_request"` runs, `when
// event="push"` and `when event="tag"` skip, `when branch=` tests the
// head branch (not the base), and every stage's input carries the whole
// trigger, its BUILDIT_* variables and the run's NoSecrets.
func TestPullRequestRunSeesItsTrigger(t *testing.T) {
	src := `pipeline "pr"
stage "build" { run "x"; }
stage "on-pr" needs="build" { when event="pull_request"; run "x"; }
stage "on-push" needs="build" { when event="push"; run "x"; }
stage "on-tag" needs="build" { when event="tag"; run "x"; }
stage "on-head" needs="build" { when branch="feature/*"; run "x"; }
stage "on-base" needs="build" { when branch="main"; run "x"; }
`
	trigger := buildit.Trigger{Event: buildit.EventPullRequest, Branch: "feature/x", Base: "main", Commit: "abc", PR: 12,
		Action: "opened", Fork: true, Author: "ann", Message: "add x"}
	for _, noSecrets := range []bool{false, true} {
		env := newEnv()
		env.RegisterWorkflowWithOptions(PipelineRun, workflow.RegisterOptions{Name: PipelineRunWorkflow})
		var mu sync.Mutex
		inputs := map[string]StageInput{}
		env.RegisterActivityWithOptions(func(_ context.Context, in StageInput) (StageResult, error) {
			mu.Lock()
			inputs[in.Step.ID] = in
			mu.Unlock()
			return StageResult{}, nil
		}, activity.RegisterOptions{Name: RunStageActivity})
		env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
			RunInput:    RunInput{Plan: planOf(t, src), Trigger: trigger, Env: map[string]string{"BUILDIT_INPUT_X": "1"}},
			ServerInput: ServerInput{NoSecrets: noSecrets},
		})
		st := outcome(t, env)
		wantStatuses(t, st, map[string]buildit.StageStatus{
			"build": buildit.StageSucceeded, "on-pr": buildit.StageSucceeded, "on-push": buildit.StageSkipped,
			"on-tag": buildit.StageSkipped, "on-head": buildit.StageSucceeded, "on-base": buildit.StageSkipped,
		})
		in := inputs["on-pr"]
		if in.Trigger != trigger || in.NoSecrets != noSecrets {
			t.Errorf("stage input trigger %+v no_secrets %v", in.Trigger, in.NoSecrets)
		}
		vars := in.Vars()
		for k, want := range map[string]string{
			"BUILDIT_EVENT": "pull_request", "BUILDIT_BRANCH": "feature/x", "BUILDIT_BASE_BRANCH": "main", "BUILDIT_PR": "12",
			"BUILDIT_PR_ACTION": "opened", "BUILDIT_COMMIT": "abc", "BUILDIT_AUTHOR": "ann", "BUILDIT_COMMIT_MESSAGE": "add x",
			"BUILDIT_INPUT_X": "1",
		} {
			if vars[k] != want {
				t.Errorf("%s = %q, want %q", k, vars[k], want)
			}
		}
		if _, ok := vars["BUILDIT_TAG"]; ok {
			t.Error("BUILDIT_TAG set for a pull request")
		}
	}
}
