package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit/pipeline"
)

// fakeTarget scripts the deploy activities: what the target runs, and how
// each revision's apply and health wait go.
type fakeTarget struct {
	mu        sync.Mutex
	live      *DeploySpec
	applyErrs map[int][]error // per revision, one per call; then nil
	waitErrs  map[int][]error
	waitBlock map[int]bool // wait until cancelled
	calls     []string
	finished  []DeployOutcome
	begun     []DeployInput
}

func (f *fakeTarget) next(m map[int][]error, rev int) error {
	errs := m[rev]
	if len(errs) == 0 {
		return nil
	}
	m[rev] = errs[1:]
	return errs[0]
}

func (f *fakeTarget) register(env *testsuite.TestWorkflowEnvironment) {
	if f.applyErrs == nil {
		f.applyErrs = map[int][]error{}
	}
	if f.waitErrs == nil {
		f.waitErrs = map[int][]error{}
	}
	env.RegisterWorkflowWithOptions(Deploy, workflow.RegisterOptions{Name: DeployWorkflow})
	env.RegisterActivityWithOptions(func(_ context.Context, in DeployInput) (DeployBeginResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, "begin")
		f.begun = append(f.begun, in)
		if f.live == nil {
			return DeployBeginResult{Revision: 1}, nil
		}
		prev := *f.live
		return DeployBeginResult{Revision: prev.Revision + 1, Previous: &prev}, nil
	}, activity.RegisterOptions{Name: DeployBeginActivity})
	env.RegisterActivityWithOptions(func(_ context.Context, t DeployTarget) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, fmt.Sprintf("apply:%d", t.Spec.Revision))
		if err := f.next(f.applyErrs, t.Spec.Revision); err != nil {
			return err
		}
		spec := t.Spec
		f.live = &spec
		return nil
	}, activity.RegisterOptions{Name: DeployApplyActivity})
	env.RegisterActivityWithOptions(func(ctx context.Context, t DeployTarget) error {
		f.mu.Lock()
		f.calls = append(f.calls, fmt.Sprintf("wait:%d", t.Spec.Revision))
		block := f.waitBlock[t.Spec.Revision]
		err := f.next(f.waitErrs, t.Spec.Revision)
		f.mu.Unlock()
		if block {
			for ctx.Err() == nil {
				activity.RecordHeartbeat(ctx)
				time.Sleep(10 * time.Millisecond)
			}
			return ctx.Err()
		}
		return err
	}, activity.RegisterOptions{Name: DeployWaitHealthyActivity})
	env.RegisterActivityWithOptions(func(_ context.Context, out DeployOutcome) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.finished = append(f.finished, out)
		return nil
	}, activity.RegisterOptions{Name: DeployFinishActivity})
}

func (f *fakeTarget) callList() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

func deployInput() DeployInput {
	return DeployInput{
		Target:  pipeline.Target{Name: "fly", Kind: "fly"},
		Spec:    DeploySpec{Service: "api", Environment: "production", Image: "api:v2"},
		StageID: "api",
	}
}

func unhealthy(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeUnhealthy, nil)
}

func TestDeploySucceeds(t *testing.T) {
	env := newEnv()
	f := &fakeTarget{live: &DeploySpec{Service: "api", Revision: 1, Image: "api:v1"}}
	f.register(env)
	env.ExecuteWorkflow(DeployWorkflow, deployInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := f.callList(); got != "begin apply:2 wait:2" {
		t.Errorf("calls %q", got)
	}
	if len(f.finished) != 1 || f.finished[0].Status != "succeeded" || f.finished[0].Revision != 2 {
		t.Errorf("finished %+v", f.finished)
	}
}

func TestUnhealthyDeployRollsBack(t *testing.T) {
	env := newEnv()
	f := &fakeTarget{live: &DeploySpec{Service: "api", Revision: 1, Image: "api:v1"},
		waitErrs: map[int][]error{2: {unhealthy("revision 2 was not healthy within 5m0s: check critical")}}}
	f.register(env)
	env.ExecuteWorkflow(DeployWorkflow, deployInput())
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "rolled back to revision 1") {
		t.Fatalf("workflow error %v", err)
	}
	if got := f.callList(); got != "begin apply:2 wait:2 apply:1 wait:1" {
		t.Errorf("calls %q", got)
	}
	if out := f.finished[0]; out.Status != "rolled_back" || out.RolledBackTo != 1 || !strings.Contains(out.Message, "check critical") {
		t.Errorf("outcome %+v", out)
	}
	if f.live.Revision != 1 || f.live.Image != "api:v1" {
		t.Errorf("live after the rollback: %+v", f.live)
	}
}

func TestTransientApplyErrorsAreRetried(t *testing.T) {
	env := newEnv()
	f := &fakeTarget{applyErrs: map[int][]error{1: {errors.New("fly API: 503"), errors.New("fly API: 503")}}}
	f.register(env)
	env.ExecuteWorkflow(DeployWorkflow, deployInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := f.callList(); got != "begin apply:1 apply:1 apply:1 wait:1" {
		t.Errorf("calls %q", got)
	}
}

func TestConfigErrorIsNotRetried(t *testing.T) {
	env := newEnv()
	f := &fakeTarget{applyErrs: map[int][]error{1: {temporal.NewNonRetryableApplicationError("fly refused the API token: check the secret named by token-secret", ErrTypeDeployConfig, nil)}}}
	f.register(env)
	env.ExecuteWorkflow(DeployWorkflow, deployInput())
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "token-secret") {
		t.Fatalf("workflow error %v", err)
	}
	if got := f.callList(); got != "begin apply:1" {
		t.Errorf("calls %q: a first deploy has nothing to roll back to, and config errors are not retried", got)
	}
	if out := f.finished[0]; out.Status != "failed" {
		t.Errorf("outcome %+v", out)
	}
}

func TestCancelledDeployLeavesTheServiceHealthy(t *testing.T) {
	env := newEnv()
	f := &fakeTarget{live: &DeploySpec{Service: "api", Revision: 4, Image: "api:v4"}, waitBlock: map[int]bool{5: true}}
	f.register(env)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Second)
	env.ExecuteWorkflow(DeployWorkflow, deployInput())
	var canErr *temporal.CanceledError
	if err := env.GetWorkflowError(); !errors.As(err, &canErr) {
		t.Fatalf("workflow error %v", err)
	}
	if got := f.callList(); got != "begin apply:5 wait:5 apply:4 wait:4" {
		t.Errorf("calls %q", got)
	}
	if out := f.finished[0]; out.Status != "cancelled" || out.RolledBackTo != 4 {
		t.Errorf("outcome %+v", out)
	}
}

// A worker lost while waiting for health: the wait is retried, the apply
// is not redone (the rollout resumes, it does not restart).
func TestLostWorkerDuringRolloutResumes(t *testing.T) {
	env := newEnv()
	f := &fakeTarget{waitErrs: map[int][]error{1: {errors.New("activity heartbeat timeout: the worker was lost")}}}
	f.register(env)
	env.ExecuteWorkflow(DeployWorkflow, deployInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := f.callList(); got != "begin apply:1 wait:1 wait:1" {
		t.Errorf("calls %q", got)
	}
}

const deployPipeline = `pipeline "cd"
stage "build" { run "x"; }
deploy "api" needs="build" {
    target "fly"
    environment "production"
    image "registry.example.com/api:${BUILDIT_COMMIT}"
    env LOG_LEVEL="info" BUILD="$BUILDIT_BRANCH"
    health-check path="/healthz" timeout="2m"
    resources cpu="1" memory="512Mi"
}
target "fly" kind="fly" { app "acme-api"; token-secret "FLY_API_TOKEN"; }
`

func TestDeployStageRunsADeployChild(t *testing.T) {
	env, _ := setup(t, nil)
	f := &fakeTarget{}
	f.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{Plan: planOf(t, deployPipeline), Workspace: "/w", Commit: "abc123", Branch: "main"})
	st := outcome(t, env)
	wantStatuses(t, st, map[string]StageStatus{"build": StageSucceeded, "api": StageSucceeded})
	if len(f.begun) != 1 {
		t.Fatalf("deploys begun: %d", len(f.begun))
	}
	got := f.begun[0]
	if got.Spec.Image != "registry.example.com/api:abc123" || got.Spec.Env["BUILD"] != "main" || got.Spec.HealthPath != "/healthz" ||
		got.HealthTimeout != 2*time.Minute || got.Target.Settings["app"] != "acme-api" || got.Spec.Service != "api" || got.StageID != "api" ||
		got.Spec.CPU != "1" || got.Spec.Memory != "512Mi" {
		t.Errorf("deploy input %+v", got)
	}
}

func TestFailedDeployFailsItsStage(t *testing.T) {
	env, _ := setup(t, nil)
	f := &fakeTarget{waitErrs: map[int][]error{1: {unhealthy("revision 1 failed: machine m1 is failed")}}}
	f.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{Plan: planOf(t, deployPipeline), Workspace: "/w"})
	st := outcome(t, env)
	if a := stage(st, "api"); a.Status != StageFailed || !strings.Contains(a.Error, "machine m1 is failed") {
		t.Errorf("deploy stage %+v", a)
	}
	if st.Status != RunFailed {
		t.Errorf("run %s", st.Status)
	}
}

func TestExpandVars(t *testing.T) {
	vars := map[string]string{"A": "1", "B_2": "two"}
	for in, want := range map[string]string{
		"x:${A}": "x:1", "$A-$B_2": "1-two", "${NOPE}z": "z", "$": "$", "cost $5": "cost $5", "${A": "${A", "a$": "a$",
	} {
		if got := expandVars(in, vars); got != want {
			t.Errorf("expandVars(%q) = %q, want %q", in, got, want)
		}
	}
}
