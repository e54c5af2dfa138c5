package activities

import (
	"slices"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/workflows"
)

// A stage of a pull request from a fork (StageInput.NoSecrets): the
// tenant's secrets are not asked for and not set, the stage still runs,
// and its log says which were withheld and why. The same stage without
// NoSecrets gets them, so the test would see a secret that leaks.
func TestRunStageWithholdsSecretsFromForks(t *testing.T) {
	t.Parallel()
	for _, noSecrets := range []bool{true, false} {
		source := &memSecrets{values: map[string]string{"TOKEN": "t0ken-value", "OTHER": "other-value"}}
		sink := &streamLines{}
		acts := New(Shared{Sink: sink, Secrets: source})
		acts.Stages.Host = host.New(host.Options{})
		step := hostStep("test", `echo "token=${TOKEN:-unset} other=${OTHER:-unset}"`)
		step.Secrets = []string{"TOKEN", "OTHER"}
		in := workflows.StageInput{RunID: "run-1", Pipeline: "p", Step: step, Attempt: 1, Workspace: t.TempDir(), NoSecrets: noSecrets,
			Trigger: buildit.Trigger{Event: buildit.EventPullRequest, PR: 3, Fork: true}}
		res, err := runStage(t, acts.Stages, in)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("NoSecrets=%v: RunStage = %+v, %v (log %q)", noSecrets, res, err, sink.lines())
		}
		got := sink.lines()
		slices.Sort(got)
		var want []string
		if noSecrets {
			want = []string{
				"stderr|buildit: secrets withheld because this run is a pull request from a fork: TOKEN, OTHER (not set; the repository may allow them to forks)",
				"stdout|token=unset other=unset",
			}
			if source.ref != nil || strings.Contains(strings.Join(got, "\n"), "t0ken") {
				t.Errorf("secrets were looked up or set")
			}
		} else {
			want = []string{"stdout|token=*** other=***"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("NoSecrets=%v: log %q, want %q", noSecrets, got, want)
		}
	}
}

// Every stage sees the trigger and the inputs as BUILDIT_* variables.
func TestRunStageSeesTheTrigger(t *testing.T) {
	t.Parallel()
	sink := &streamLines{}
	acts := New(Shared{Sink: sink})
	acts.Stages.Host = host.New(host.Options{})
	step := hostStep("vars", `echo "$BUILDIT_EVENT|$BUILDIT_BRANCH|$BUILDIT_COMMIT|$BUILDIT_PR|$BUILDIT_BASE_BRANCH|$BUILDIT_PR_ACTION|$BUILDIT_TAG|$BUILDIT_AUTHOR|$BUILDIT_COMMIT_MESSAGE|$BUILDIT_INPUT_DRY_RUN"`)
	in := workflows.StageInput{RunID: "run-1", Pipeline: "p", Step: step, Attempt: 1, Workspace: t.TempDir(),
		Trigger: buildit.Trigger{Event: buildit.EventPullRequest, Branch: "feat", Commit: "abc123", PR: 12, Base: "main",
			Action: "opened", Author: "ann", Message: "add x"},
		Env: map[string]string{"BUILDIT_INPUT_DRY_RUN": "true"}}
	if res, err := runStage(t, acts.Stages, in); err != nil || res.ExitCode != 0 {
		t.Fatalf("RunStage = %+v, %v (log %q)", res, err, sink.lines())
	}
	want := []string{"stdout|pull_request|feat|abc123|12|main|opened||ann|add x|true"}
	if got := sink.lines(); !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
}
