package workflows

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit"
)

// artifactsEnv runs PipelineRun with a stage activity that keeps one
// artifact per stage (named after it, with the attempt in its key) and
// records what each stage was given to restore.
func artifactsEnv(t *testing.T) (*restores, func(PipelineRunInput) RunState) {
	t.Helper()
	env := newEnv()
	got := &restores{m: map[string][]string{}}
	env.RegisterWorkflowWithOptions(PipelineRun, workflow.RegisterOptions{Name: PipelineRunWorkflow})
	env.RegisterActivityWithOptions(func(_ context.Context, in StageInput) (StageResult, error) {
		var names []string
		for _, a := range in.Restore {
			names = append(names, a.Name+"@"+a.RunID)
		}
		got.mu.Lock()
		got.m[in.Step.ID] = names
		got.mu.Unlock()
		return StageResult{Artifacts: []buildit.Artifact{{Name: in.Step.ID + "-out", Stage: in.Step.ID, RunID: in.RunID, Key: "k/" + in.Step.ID}}}, nil
	}, activity.RegisterOptions{Name: RunStageActivity})
	var records records
	records.register(env)
	return got, func(in PipelineRunInput) RunState {
		env.ExecuteWorkflow(PipelineRunWorkflow, in)
		return outcome(t, env)
	}
}

type restores struct {
	mu sync.Mutex
	m  map[string][]string
}

func TestRestoreIsEveryAncestorsArtifactsInPlanOrder(t *testing.T) {
	got, run := artifactsEnv(t)
	st := run(PipelineRunInput{RunInput: RunInput{RunID: "r1", Plan: planOf(t, diamond), Workspace: "/w"}})
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s", st.Status)
	}
	want := map[string][]string{
		"start": nil,
		"a":     {"start-out@r1"},
		"b":     {"start-out@r1"},
		"c":     {"start-out@r1"},
		"end":   {"start-out@r1", "a-out@r1", "b-out@r1", "c-out@r1"},
	}
	if !reflect.DeepEqual(got.m, want) {
		t.Fatalf("restores:\n got %v\nwant %v", got.m, want)
	}
	if a := stage(st, "a").Artifacts; len(a) != 1 || a[0].Key != "k/a" {
		t.Fatalf("stage a's artifacts in the result: %v", a)
	}
}

func TestRestoreTakesReusedStagesArtifactsFromTheRerunRun(t *testing.T) {
	got, run := artifactsEnv(t)
	reused := []buildit.Artifact{
		{Name: "start-out", Stage: "start", RunID: "r1", Key: "k1/start"},
		{Name: "a-out", Stage: "a", RunID: "r1", Key: "k1/a"},
		{Name: "b-out", Stage: "b", RunID: "r1", Key: "k1/b"},
		{Name: "c-out", Stage: "c", RunID: "r1", Key: "k1/c"}, // c is not reused: ignored
	}
	st := run(PipelineRunInput{
		RunInput:    RunInput{RunID: "r2", Plan: planOf(t, diamond), Workspace: "/w"},
		ServerInput: ServerInput{Record: ref, Reuse: []string{"start", "a", "b"}, ReusedFrom: "r1", ReuseArtifacts: reused},
	})
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s", st.Status)
	}
	want := map[string][]string{
		"c":   {"start-out@r1"},
		"end": {"start-out@r1", "a-out@r1", "b-out@r1", "c-out@r2"},
	}
	if !reflect.DeepEqual(got.m, want) {
		t.Fatalf("restores:\n got %v\nwant %v", got.m, want)
	}
	if a := stage(st, "a").Artifacts; len(a) != 1 || a[0].Key != "k1/a" {
		t.Fatalf("reused stage a's artifacts: %v", a)
	}
}
