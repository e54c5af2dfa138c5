package workflows

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/pipeline"
)

// fake describes how the fake stage activity behaves for one step.
type fake struct {
	exits    []int // exit code of each attempt; the last one repeats
	block    bool  // run until cancelled
	err      error
	timedOut bool
	delay    time.Duration // real time to take before returning
}

// calls records the fake activity's invocations.
type calls struct {
	mu       sync.Mutex
	started  []string
	attempts map[string]int
	ids      map[string]string // activity ID → step ID
	cancels  []string
}

func (c *calls) startedList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.started...)
}

// waitCancels waits up to 3s for n activity cancellations and returns
// them: the test environment may report the workflow done before the
// activity's goroutine has seen its context end.
func (c *calls) waitCancels(n int) []string {
	deadline := time.Now().Add(3 * time.Second)
	for {
		c.mu.Lock()
		got := append([]string(nil), c.cancels...)
		c.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setup returns a test environment running PipelineRun with a fake stage
// activity scripted by fakes (steps not listed succeed).
func setup(t *testing.T, fakes map[string]fake) (*testsuite.TestWorkflowEnvironment, *calls) {
	t.Helper()
	env := newEnv()
	rec := &calls{attempts: map[string]int{}, ids: map[string]string{}}
	// The test environment resolves a cancelled activity at once, without
	// ending its context (the end-to-end tests check that part), so record
	// the cancel requests themselves.
	env.SetOnActivityCanceledListener(func(info *activity.Info) {
		rec.mu.Lock()
		rec.cancels = append(rec.cancels, rec.ids[info.ActivityID])
		rec.mu.Unlock()
	})
	env.RegisterWorkflowWithOptions(PipelineRun, workflow.RegisterOptions{Name: PipelineRunWorkflow})
	env.RegisterActivityWithOptions(func(ctx context.Context, in StageInput) (StageResult, error) {
		rec.mu.Lock()
		rec.started = append(rec.started, in.Step.ID)
		rec.attempts[in.Step.ID] = in.Attempt
		rec.ids[activity.GetInfo(ctx).ActivityID] = in.Step.ID
		rec.mu.Unlock()
		f := fakes[in.Step.ID]
		time.Sleep(f.delay)
		if f.block {
			// Like the real activity, heartbeat: that is how a cancel
			// request reaches an activity.
			giveUp := time.After(10 * time.Second)
			for {
				activity.RecordHeartbeat(ctx)
				select {
				case <-ctx.Done():
					return StageResult{}, ctx.Err()
				case <-giveUp:
					return StageResult{}, errors.New("fake stage was never cancelled")
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
		if f.err != nil {
			return StageResult{}, f.err
		}
		if f.timedOut {
			return StageResult{ExitCode: -1, TimedOut: true}, nil
		}
		code := 0
		if len(f.exits) > 0 {
			code = f.exits[min(in.Attempt, len(f.exits))-1]
		}
		return StageResult{ExitCode: code}, nil
	}, activity.RegisterOptions{Name: RunStageActivity})
	return env, rec
}

// newEnv returns a test environment whose SDK logs are discarded.
func newEnv() *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	return suite.NewTestWorkflowEnvironment()
}

func planOf(t *testing.T, src string) pipeline.Plan {
	t.Helper()
	p, diags := pipeline.Load("test.kdl", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	return *pipeline.NewPlan(p)
}

// outcome returns the run's final state from the workflow's result or error.
func outcome(t *testing.T, env *testsuite.TestWorkflowEnvironment) RunState {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var st RunState
	err := env.GetWorkflowError()
	if err == nil {
		if err := env.GetWorkflowResult(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	var appErr *temporal.ApplicationError
	var canErr *temporal.CanceledError
	switch {
	case errors.As(err, &appErr) && appErr.Type() == ErrTypePipelineFailed:
		if err := appErr.Details(&st); err != nil {
			t.Fatal(err)
		}
	case errors.As(err, &canErr):
		if err := canErr.Details(&st); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("workflow error: %v", err)
	}
	return st
}

func statuses(st RunState) map[string]buildit.StageStatus {
	m := map[string]buildit.StageStatus{}
	for _, s := range st.Stages {
		m[s.ID] = s.Status
	}
	return m
}

func stage(st RunState, id string) StageState {
	for _, s := range st.Stages {
		if s.ID == id {
			return s
		}
	}
	return StageState{}
}

func wantStatuses(t *testing.T, st RunState, want map[string]buildit.StageStatus) {
	t.Helper()
	got := statuses(st)
	for id, w := range want {
		if got[id] != w {
			t.Errorf("stage %q is %s (%s), want %s", id, got[id], stage(st, id).Error, w)
		}
	}
}

const diamond = `pipeline "d"
stage "start" { run "x"; }
stage "a" needs="start" { run "x"; }
stage "b" needs="start" { run "x"; }
stage "c" needs="start" { run "x"; }
stage "end" { needs "a" "b" "c"; run "x"; }
`

func TestDiamondRunsEveryStageInDependencyOrder(t *testing.T) {
	env, rec := setup(t, nil)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, diamond), Workspace: "/w"}})
	st := outcome(t, env)
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s", st.Status)
	}
	started := rec.startedList()
	if len(started) != 5 || started[0] != "start" || started[4] != "end" {
		t.Errorf("stages started in order %v", started)
	}
	for _, s := range st.Stages {
		if s.Status != buildit.StageSucceeded || s.Attempt != 1 || s.ExitCode == nil || *s.ExitCode != 0 {
			t.Errorf("stage %+v", s)
		}
	}
}

func TestFailFastCancelsRunningAndSkipsDependents(t *testing.T) {
	env, rec := setup(t, map[string]fake{
		// a fails once b is surely running.
		"a": {exits: []int{3}, delay: 200 * time.Millisecond},
		"b": {block: true},
	})
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
		RunInput: RunInput{Plan: planOf(t, `pipeline "f"
stage "a" { run "x"; }
stage "b" { run "x"; }
stage "c" needs="a" { run "x"; }
stage "d" needs="b" { run "x"; }
`)},
	})
	st := outcome(t, env)
	if st.Status != buildit.RunFailed {
		t.Fatalf("run %s", st.Status)
	}
	wantStatuses(t, st, map[string]buildit.StageStatus{"a": buildit.StageFailed, "b": buildit.StageCancelled, "c": buildit.StageSkipped, "d": buildit.StageSkipped})
	if a := stage(st, "a"); a.ExitCode == nil || *a.ExitCode != 3 || a.Error != "exit status 3" {
		t.Errorf("a = %+v", a)
	}
	if got := rec.waitCancels(1); len(got) != 1 || got[0] != "b" {
		t.Errorf("cancelled activities %v, want [b]", got)
	}
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || !strings.Contains(appErr.Message(), "pipeline failed: a") {
		t.Errorf("workflow error %v", err)
	}
}

func TestAllowFailureLetsTheRunSucceed(t *testing.T) {
	env, _ := setup(t, map[string]fake{"lint": {exits: []int{1}}})
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
		RunInput: RunInput{Plan: planOf(t, `pipeline "a"
stage "lint" allow-failure=#true { run "x"; }
stage "package" needs="lint" { run "x"; }
`)},
	})
	st := outcome(t, env)
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s", st.Status)
	}
	wantStatuses(t, st, map[string]buildit.StageStatus{"lint": buildit.StageFailed, "package": buildit.StageSucceeded})
}

func TestRetryRunsAnotherAttempt(t *testing.T) {
	env, _ := setup(t, map[string]fake{"flaky": {exits: []int{1, 1, 0}}, "broken": {exits: []int{2}}})
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
		RunInput: RunInput{Plan: planOf(t, `pipeline "r"
stage "flaky" { run "x"; retry 2; }
stage "broken" needs="flaky" { run "x"; retry 1; }
`)},
	})
	st := outcome(t, env)
	if f := stage(st, "flaky"); f.Status != buildit.StageSucceeded || f.Attempt != 3 {
		t.Errorf("flaky = %+v", f)
	}
	if b := stage(st, "broken"); b.Status != buildit.StageFailed || b.Attempt != 2 {
		t.Errorf("broken = %+v", b)
	}
}

func TestTimeoutFailsTheStage(t *testing.T) {
	env, _ := setup(t, map[string]fake{"slow": {timedOut: true}})
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, "pipeline \"t\"\nstage \"slow\" { run \"x\"; timeout \"90s\"; }\n")}})
	st := outcome(t, env)
	if s := stage(st, "slow"); s.Status != buildit.StageFailed || s.Error != "timed out after 1m30s" {
		t.Errorf("slow = %+v", s)
	}
}

func TestActivityErrorFailsTheStageWithItsMessage(t *testing.T) {
	env, _ := setup(t, map[string]fake{"img": {err: temporal.NewNonRetryableApplicationError("image \"nope\" is not available", ErrTypeConfig, nil)}})
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, "pipeline \"e\"\nstage \"img\" { image \"nope\"; run \"x\"; }\n")}})
	st := outcome(t, env)
	if s := stage(st, "img"); s.Status != buildit.StageFailed || s.Error != `image "nope" is not available` {
		t.Errorf("img = %+v", s)
	}
}

func TestWhenConditions(t *testing.T) {
	src := `pipeline "w"
stage "build" { run "x"; }
stage "on-main" needs="build" { when branch="main"; run "x"; }
stage "on-release" needs="build" { when { branch "release/*" "hotfix"; }; run "x"; }
stage "on-tag" needs="build" { when event="tag"; run "x"; }
stage "notify" needs="build" { when status="failure"; run "x"; }
stage "cleanup" needs="build" { when status="always"; run "x"; }
stage "after-main" needs="on-main" { run "x"; }
`
	t.Run("success on a release branch", func(t *testing.T) {
		env, _ := setup(t, nil)
		env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, src), Trigger: buildit.Trigger{Branch: "release/1.2", Event: "push"}}})
		st := outcome(t, env)
		if st.Status != buildit.RunSucceeded {
			t.Fatalf("run %s", st.Status)
		}
		wantStatuses(t, st, map[string]buildit.StageStatus{
			"build": buildit.StageSucceeded, "on-main": buildit.StageSkipped, "on-release": buildit.StageSucceeded, "on-tag": buildit.StageSkipped,
			"notify": buildit.StageSkipped, "cleanup": buildit.StageSucceeded, "after-main": buildit.StageSkipped,
		})
		if s := stage(st, "on-main"); s.Error != `branch "release/1.2" does not match when branch main` {
			t.Errorf("skip reason %q", s.Error)
		}
	})
	t.Run("failure on main", func(t *testing.T) {
		env, _ := setup(t, map[string]fake{"build": {exits: []int{1}}})
		env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, src), Trigger: buildit.Trigger{Branch: "main", Event: "tag"}}})
		st := outcome(t, env)
		if st.Status != buildit.RunFailed {
			t.Fatalf("run %s", st.Status)
		}
		wantStatuses(t, st, map[string]buildit.StageStatus{
			"build": buildit.StageFailed, "on-main": buildit.StageSkipped, "on-tag": buildit.StageSkipped,
			"notify": buildit.StageSucceeded, "cleanup": buildit.StageSucceeded,
		})
	})
}

func TestMatrixInstancesRunAndGateTheirDependents(t *testing.T) {
	// The failing instance takes a moment, so that the other two have
	// started (the fakes record a start when called) before fail-fast;
	// without it, a loaded machine could cancel them first.
	env, rec := setup(t, map[string]fake{"test [v=2]": {exits: []int{1}, delay: 500 * time.Millisecond}})
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
		RunInput: RunInput{Plan: planOf(t, `pipeline "m"
stage "test" { matrix { v "1" "2" "3"; }; run "x"; }
stage "report" needs="test" { run "x"; }
`)},
	})
	st := outcome(t, env)
	wantStatuses(t, st, map[string]buildit.StageStatus{"test [v=2]": buildit.StageFailed, "report": buildit.StageSkipped})
	if n := len(rec.startedList()); n != 3 {
		t.Errorf("%d instances started, want 3: %v", n, rec.startedList())
	}
}

func TestCancelReachesRunningStages(t *testing.T) {
	env, rec := setup(t, map[string]fake{"long": {block: true}})
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Second)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
		RunInput: RunInput{Plan: planOf(t, `pipeline "c"
stage "long" { run "sleep 100"; }
stage "after" needs="long" { run "x"; }
`)},
	})
	st := outcome(t, env)
	if st.Status != buildit.RunCancelled {
		t.Fatalf("run %s", st.Status)
	}
	wantStatuses(t, st, map[string]buildit.StageStatus{"long": buildit.StageCancelled, "after": buildit.StageCancelled})
	if got := rec.waitCancels(1); len(got) != 1 || got[0] != "long" {
		t.Errorf("cancelled activities %v, want [long]", got)
	}
}

const gated = `pipeline "g"
stage "build" { run "x"; }
stage "approve" needs="build" { approval { message "ship?"; timeout "72h"; }; }
stage "release" needs="approve" { run "x"; }
`

// updateCallback records an update's outcome.
type updateCallback struct {
	err    error
	result StageState
	done   bool
}

func (u *updateCallback) Accept()          {}
func (u *updateCallback) Reject(err error) { u.err, u.done = err, true }
func (u *updateCallback) Complete(v any, err error) {
	u.err, u.done = err, true
	if s, ok := v.(StageState); ok {
		u.result = s
	}
}

func TestApprovalGate(t *testing.T) {
	t.Run("approved after two days", func(t *testing.T) {
		env, _ := setup(t, nil)
		early, cb := &updateCallback{}, &updateCallback{}
		env.RegisterDelayedCallback(func() {
			// Approving the stage it names must be a waiting gate.
			env.UpdateWorkflow(ApproveUpdate, "1", early, ApprovalInput{Stage: "release", By: "ann"})
			q, err := env.QueryWorkflow(StateQuery)
			if err != nil {
				t.Error(err)
				return
			}
			var st RunState
			_ = q.Get(&st)
			if st.Status != buildit.RunWaiting || stage(st, "approve").Status != buildit.StageWaiting {
				t.Errorf("while waiting: run %s, gate %s", st.Status, stage(st, "approve").Status)
			}
			env.UpdateWorkflow(ApproveUpdate, "2", cb, ApprovalInput{Stage: "approve", By: "ann", Reason: "lgtm"})
		}, 48*time.Hour)
		env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, gated)}})
		st := outcome(t, env)
		if st.Status != buildit.RunSucceeded {
			t.Fatalf("run %s", st.Status)
		}
		if early.err == nil || !strings.Contains(early.err.Error(), "not an approval stage") {
			t.Errorf("approving a command stage: %v", early.err)
		}
		if cb.err != nil || cb.result.Status != buildit.StageSucceeded || cb.result.DecidedBy != "ann" {
			t.Errorf("update: %v %+v", cb.err, cb.result)
		}
		wantStatuses(t, st, map[string]buildit.StageStatus{"approve": buildit.StageSucceeded, "release": buildit.StageSucceeded})
		if g := stage(st, "approve"); g.Reason != "lgtm" || g.DecidedBy != "ann" {
			t.Errorf("gate = %+v", g)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		env, _ := setup(t, nil)
		cb := &updateCallback{}
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(RejectUpdate, "1", cb, ApprovalInput{Stage: "approve", By: "bob", Reason: "not today"})
		}, time.Hour)
		env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, gated)}})
		st := outcome(t, env)
		if st.Status != buildit.RunFailed {
			t.Fatalf("run %s", st.Status)
		}
		wantStatuses(t, st, map[string]buildit.StageStatus{"approve": buildit.StageFailed, "release": buildit.StageSkipped})
		if g := stage(st, "approve"); g.Error != "rejected by bob: not today" {
			t.Errorf("gate = %+v", g)
		}
	})
	t.Run("times out", func(t *testing.T) {
		env, _ := setup(t, nil)
		env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, gated)}})
		st := outcome(t, env)
		if g := stage(st, "approve"); g.Status != buildit.StageFailed || g.Error != "no decision within 72h0m0s" {
			t.Errorf("gate = %+v", g)
		}
	})
	t.Run("auto-approved", func(t *testing.T) {
		env, _ := setup(t, nil)
		env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, gated), AutoApprove: []string{"approve"}}})
		st := outcome(t, env)
		if st.Status != buildit.RunSucceeded || stage(st, "approve").DecidedBy != "auto-approve" {
			t.Errorf("run %s, gate %+v", st.Status, stage(st, "approve"))
		}
	})
}

func TestStageInputCarriesTheTrigger(t *testing.T) {
	env := newEnv()
	env.RegisterWorkflowWithOptions(PipelineRun, workflow.RegisterOptions{Name: PipelineRunWorkflow})
	var got StageInput
	env.RegisterActivityWithOptions(func(_ context.Context, in StageInput) (StageResult, error) {
		got = in
		return StageResult{}, nil
	}, activity.RegisterOptions{Name: RunStageActivity})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "wf-1"})
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
		RunInput: RunInput{
			Plan:      planOf(t, "pipeline \"p\"\nstage \"a\" { run \"x\"; }\n"),
			Workspace: "/ws",
			Trigger:   buildit.Trigger{Branch: "main", Commit: "abc", Event: "push"},
			Env:       map[string]string{"K": "v"},
		},
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got.RunID != "wf-1" || got.Workspace != "/ws" || got.Branch != "main" || got.Commit != "abc" ||
		got.Event != "push" || got.Env["K"] != "v" || got.Attempt != 1 || got.Step.ID != "a" || got.Pipeline != "p" {
		t.Errorf("stage input %+v", got)
	}
}
