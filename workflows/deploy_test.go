package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/pipeline"
)

// fakeTarget scripts the deploy activities: what the target runs, and how
// each revision's apply and health wait go.
type fakeTarget struct {
	mu        sync.Mutex
	live      *buildit.DeploySpec
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
	env.RegisterActivityWithOptions(f.apply, activity.RegisterOptions{Name: DeployApplyActivity})
	env.RegisterActivityWithOptions(f.wait, activity.RegisterOptions{Name: DeployWaitHealthyActivity})
	env.RegisterActivityWithOptions(func(_ context.Context, out DeployOutcome) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.finished = append(f.finished, out)
		return nil
	}, activity.RegisterOptions{Name: DeployFinishActivity})
}

func (f *fakeTarget) apply(_ context.Context, t DeployTarget) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("apply:%d", t.Spec.Revision))
	if err := f.next(f.applyErrs, t.Spec.Revision); err != nil {
		return err
	}
	spec := t.Spec
	f.live = &spec
	return nil
}

func (f *fakeTarget) wait(ctx context.Context, t DeployTarget) error {
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
}

// hang makes the activity name (apply or wait) of revision rev never end:
// it would return after a day of workflow time, which the test
// environment skips to only once nothing else is left. Other revisions go
// as the fake says. The hung calls are recorded as "hung:<name>:<rev>".
func (f *fakeTarget) hang(env *testsuite.TestWorkflowEnvironment, name string, revs ...int) {
	fn := f.wait
	if name == DeployApplyActivity {
		fn = f.apply
	}
	hung := func(t DeployTarget) bool { return slices.Contains(revs, t.Spec.Revision) }
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		var t DeployTarget
		if info.ActivityType.Name == name && args.Get(&t) == nil && hung(t) {
			f.mu.Lock()
			f.calls = append(f.calls, fmt.Sprintf("hung:%s:%d", name, t.Spec.Revision))
			f.mu.Unlock()
		}
	})
	env.OnActivity(name, mock.Anything, mock.MatchedBy(hung)).
		Return(func(context.Context, DeployTarget) error { return nil }).After(24 * time.Hour)
	env.OnActivity(name, mock.Anything, mock.MatchedBy(func(t DeployTarget) bool { return !hung(t) })).Return(fn)
}

func (f *fakeTarget) callList() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

func deployInput() DeployInput {
	return DeployInput{
		Target:  pipeline.Target{Name: "fly", Kind: "fly"},
		Spec:    buildit.DeploySpec{Service: "api", Environment: "production", Image: "api:v2"},
		StageID: "api",
	}
}

func unhealthy(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeUnhealthy, nil)
}

func TestDeploySucceeds(t *testing.T) {
	env := newEnv()
	f := &fakeTarget{live: &buildit.DeploySpec{Service: "api", Revision: 1, Image: "api:v1"}}
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
	f := &fakeTarget{live: &buildit.DeploySpec{Service: "api", Revision: 1, Image: "api:v1"},
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
	f := &fakeTarget{live: &buildit.DeploySpec{Service: "api", Revision: 4, Image: "api:v4"}, waitBlock: map[int]bool{5: true}}
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
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, deployPipeline), Workspace: "/w", Trigger: buildit.Trigger{Commit: "abc123", Branch: "main"}}})
	st := outcome(t, env)
	wantStatuses(t, st, map[string]buildit.StageStatus{"build": buildit.StageSucceeded, "api": buildit.StageSucceeded})
	if len(f.begun) != 1 {
		t.Fatalf("deploys begun: %d", len(f.begun))
	}
	got := f.begun[0]
	if got.Spec.Image != "registry.example.com/api:abc123" || got.Spec.Env["BUILD"] != "main" || got.Spec.HealthPath != "/healthz" ||
		got.HealthTimeout != 2*time.Minute || got.Target.Settings["app"] != "acme-api" || got.Spec.Service != "api" || got.StageID != "api" ||
		got.Spec.CPU != "1" || got.Spec.Memory != "512Mi" || got.Timeout != pipeline.DefaultTimeout {
		t.Errorf("deploy input %+v", got)
	}
}

func TestFailedDeployFailsItsStage(t *testing.T) {
	env, _ := setup(t, nil)
	f := &fakeTarget{waitErrs: map[int][]error{1: {unhealthy("revision 1 failed: machine m1 is failed")}}}
	f.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, deployPipeline), Workspace: "/w"}})
	st := outcome(t, env)
	if a := stage(st, "api"); a.Status != buildit.StageFailed || !strings.Contains(a.Error, "machine m1 is failed") {
		t.Errorf("deploy stage %+v", a)
	}
	if st.Status != buildit.RunFailed {
		t.Errorf("run %s", st.Status)
	}
}

// A deploy stage's timeout bounds the whole deploy, whichever step hangs:
// the workflow cancels it when the timeout passes, and the deploy fails and
// rolls back like any failure (issue 11: a deploy with timeout "1m" ran
// 191 s). The rollback has a bound of its own: the longer of the timeout
// and the health-check timeout (5 min by default).
func TestSecurityDeployTimeoutFailsAndRollsBack(t *testing.T) {
	const src = `pipeline "cd"
deploy "api" {
    target "fly"
    environment "production"
    image "api:v2"
    timeout "1m"
}
target "fly" kind="fly" { app "acme-api"; }
`
	cases := []struct {
		name    string
		live    *buildit.DeploySpec
		hang    string
		revs    []int
		calls   string
		status  buildit.DeployStatus
		message string
		took    time.Duration // of workflow time, about
		liveRev int
	}{
		{"the health wait never ends", &buildit.DeploySpec{Service: "api", Revision: 1, Image: "api:v1"}, DeployWaitHealthyActivity, []int{2},
			"begin apply:2 hung:DeployWaitHealthy:2 apply:1 wait:1", "rolled_back", "timed out after 1m0s; rolled back to revision 1", time.Minute, 1},
		{"the apply never ends", &buildit.DeploySpec{Service: "api", Revision: 1, Image: "api:v1"}, DeployApplyActivity, []int{2},
			"begin hung:DeployApply:2 apply:1 wait:1", "rolled_back", "timed out after 1m0s; rolled back to revision 1", time.Minute, 1},
		{"a first deploy has nothing to roll back to", nil, DeployWaitHealthyActivity, []int{1},
			"begin apply:1 hung:DeployWaitHealthy:1", "failed", "timed out after 1m0s", time.Minute, 1},
		{"the rollback never ends either", &buildit.DeploySpec{Service: "api", Revision: 1, Image: "api:v1"}, DeployWaitHealthyActivity, []int{2, 1},
			"begin apply:2 hung:DeployWaitHealthy:2 apply:1 hung:DeployWaitHealthy:1", "failed",
			"timed out after 1m0s; rolling back to revision 1 failed too: timed out after 5m0s", 6 * time.Minute, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, _ := setup(t, nil)
			f := &fakeTarget{live: c.live}
			f.register(env)
			f.hang(env, c.hang, c.revs...)
			env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, src), Workspace: "/w"}})
			st := outcome(t, env)
			if st.Status != buildit.RunFailed {
				t.Errorf("run %s", st.Status)
			}
			a := stage(st, "api")
			if a.Status != buildit.StageFailed || !strings.Contains(a.Error, c.message) {
				t.Errorf("deploy stage %s: %q, want failed: %q", a.Status, a.Error, c.message)
			}
			if took := a.FinishedAt.Sub(a.StartedAt); took < c.took || took > c.took+time.Minute {
				t.Errorf("the deploy took %s of workflow time, want about %s", took, c.took)
			}
			if got := f.callList(); got != c.calls {
				t.Errorf("calls %q, want %q", got, c.calls)
			}
			if len(f.finished) != 1 {
				t.Fatalf("deploys finished: %+v", f.finished)
			}
			if out := f.finished[0]; out.Status != c.status || out.Message != c.message {
				t.Errorf("recorded %s: %q, want %s: %q", out.Status, out.Message, c.status, c.message)
			}
			if f.live == nil || f.live.Revision != c.liveRev {
				t.Errorf("live after the deploy: %+v", f.live)
			}
		})
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
