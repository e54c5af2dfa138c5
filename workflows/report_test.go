package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
)

// forgeReports stands in for ReportStatusActivity: it keeps what the run
// reported, in order, and what the database held when each came.
type forgeReports struct {
	mu   sync.Mutex
	got  []ReportStatusInput
	recs *records
	// recorded is the run's recorded status when each report came.
	recorded []buildit.RunStatus
	// fail answers every report of these states with this error.
	fail map[string]error
	// attempts counts the calls per state.
	attempts map[string]int
	// hold, when set, is waited for before the pending report answers
	// (a slow forge).
	hold chan struct{}
}

func (f *forgeReports) register(env interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}) {
	f.attempts = map[string]int{}
	env.RegisterActivityWithOptions(func(ctx context.Context, in ReportStatusInput) error {
		if in.State == statusPending && f.hold != nil {
			select {
			case <-f.hold:
			case <-time.After(5 * time.Second):
				return temporal.NewNonRetryableApplicationError("the slow forge was never released: the stages waited for it", "Test", nil)
			}
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.attempts[in.State]++
		if err := f.fail[in.State]; err != nil {
			return err
		}
		f.got = append(f.got, in)
		if f.recs != nil {
			f.recs.mu.Lock()
			f.recorded = append(f.recorded, f.recs.last().Status)
			f.recs.mu.Unlock()
		}
		return nil
	}, activity.RegisterOptions{Name: ReportStatusActivity})
}

// states lists the reports as "state: description".
func (f *forgeReports) states() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, in := range f.got {
		out = append(out, in.State+": "+in.Description)
	}
	return out
}

// slowRecords registers a RecordRunActivity that takes its time over
// the run's final record: a report sent before that record is written
// would see the record before it.
func slowRecords(env interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}) *records {
	recs := &records{rows: map[string]StageState{}}
	env.RegisterActivityWithOptions(func(_ context.Context, rec RunRecord) error {
		if rec.Status.Terminal() {
			time.Sleep(300 * time.Millisecond)
		}
		recs.mu.Lock()
		defer recs.mu.Unlock()
		recs.all = append(recs.all, rec)
		return nil
	}, activity.RegisterOptions{Name: RecordRunActivity})
	return recs
}

var report = &StatusReport{TenantID: "t-1", RepositoryID: "repo-1", Commit: "abc123", Context: "buildit/p", TargetURL: "https://ci.example/runs/r-1"}

const twoStages = "pipeline \"p\"\nstage \"build\" { run \"x\"; }\nstage \"test\" needs=\"build\" { run \"x\"; }\n"

func TestReportPendingThenResult(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fakes  map[string]fake
		want   []string
		status buildit.RunStatus
	}{
		{"success", nil, []string{"pending: running 2 stages", "success: 2 stages passed in 0s"}, buildit.RunSucceeded},
		{"a failed stage", map[string]fake{"test": {exits: []int{1}}}, []string{"pending: running 2 stages", "failure: stage test failed"}, buildit.RunFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := setup(t, tc.fakes)
			recs := slowRecords(env)
			f := &forgeReports{recs: recs}
			f.register(env)
			env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
				RunInput:    RunInput{Plan: planOf(t, twoStages), Workspace: "/w"},
				ServerInput: ServerInput{Record: ref, Report: report},
			})
			if st := outcome(t, env); st.Status != tc.status {
				t.Errorf("run %s, want %s", st.Status, tc.status)
			}
			if got := f.states(); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("reports:\n got %q\nwant %q", got, tc.want)
			}
			// The forge hears of the result after the database holds it,
			// and of the start once the run's record says running.
			if len(f.recorded) != 2 || f.recorded[1] != tc.status || f.recorded[0] == buildit.RunQueued {
				t.Errorf("recorded statuses when the reports came: %v", f.recorded)
			}
			for _, in := range f.got {
				if in.StatusReport != *report {
					t.Errorf("report %+v: want it to name %+v", in, *report)
				}
			}
		})
	}
}

func TestReportFailedStagesAndTime(t *testing.T) {
	// b runs after a and c have ended (whatever order the test
	// environment completes a wave's stages in), so both a and b fail.
	src := "pipeline \"p\"\nstage \"a\" { run \"x\"; }\nstage \"b\" { needs \"a\" \"c\"; when status=\"always\"; run \"x\"; }\nstage \"c\" { run \"x\"; allow-failure #true; }\n"
	env, _ := setup(t, map[string]fake{"a": {exits: []int{2}}, "b": {exits: []int{3}}, "c": {exits: []int{1}}})
	f := &forgeReports{}
	f.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, src), Workspace: "/w"}, ServerInput: ServerInput{Report: report}})
	outcome(t, env)
	got := f.states()
	if len(got) != 2 || got[1] != "failure: stages a, b failed" {
		t.Errorf("reports %q", got)
	}
}

func TestReportTakesTheRunsTime(t *testing.T) {
	src := "pipeline \"p\"\nstage \"a\" { run \"x\"; }\nstage \"gate\" needs=\"a\" { approval { timeout \"1h\"; }; }\n"
	env, _ := setup(t, nil)
	f := &forgeReports{}
	f.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
		RunInput:    RunInput{Plan: planOf(t, src), Workspace: "/w", AutoApprove: []string{"gate"}},
		ServerInput: ServerInput{Report: report},
	})
	outcome(t, env)
	if got := f.states(); len(got) != 2 || got[1] != "success: 2 stages passed in 0s" {
		t.Errorf("reports %q", got)
	}
}

func TestReportCancelledRunIsError(t *testing.T) {
	env, rec := setup(t, map[string]fake{"build": {block: true}})
	f := &forgeReports{}
	f.register(env)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Second)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, twoStages), Workspace: "/w"}, ServerInput: ServerInput{Report: report}})
	if st := outcome(t, env); st.Status != buildit.RunCancelled {
		t.Fatalf("run %s", st.Status)
	}
	rec.waitCancels(1)
	want := []string{"pending: running 2 stages", "error: the run was cancelled"}
	if got := f.states(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("reports:\n got %q\nwant %q", got, want)
	}
}

// A forge that refuses for good, or stays down past ReportTimeout, costs
// the run its statuses, not its result.
func TestReportFailingDoesNotFailTheRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		// retried: the final report was tried more than once.
		retried bool
	}{
		{"refused", temporal.NewNonRetryableApplicationError("the forge answered 401", "ForgeRefused", nil), false},
		{"down for good", temporal.NewApplicationError("the forge answered 502", "ForgeUnavailable"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := setup(t, nil)
			var recs records
			recs.register(env)
			f := &forgeReports{fail: map[string]error{statusPending: tc.err, statusSuccess: tc.err}}
			f.register(env)
			env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
				RunInput:    RunInput{Plan: planOf(t, twoStages), Workspace: "/w"},
				ServerInput: ServerInput{Record: ref, Report: report},
			})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("the run failed: %v", err)
			}
			if st := outcome(t, env); st.Status != buildit.RunSucceeded {
				t.Errorf("run %s", st.Status)
			}
			if last := recs.last(); last.Status != buildit.RunSucceeded || last.Error != "" {
				t.Errorf("recorded %+v", last)
			}
			if n := f.attempts[statusSuccess]; (n > 1) != tc.retried || n == 0 {
				t.Errorf("final report tried %d times", n)
			}
		})
	}
}

// A forge that answers slowly does not hold the stages back: the pending
// report waits until a stage has run.
func TestReportPendingDoesNotDelayStages(t *testing.T) {
	env, _ := setup(t, nil)
	f := &forgeReports{hold: make(chan struct{})}
	f.register(env)
	var once sync.Once
	env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, _ error) {
		if info.ActivityType.Name == RunStageActivity {
			once.Do(func() { close(f.hold) })
		}
	})
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, twoStages), Workspace: "/w"}, ServerInput: ServerInput{Report: report}})
	outcome(t, env)
	want := []string{"pending: running 2 stages", "success: 2 stages passed in 0s"}
	if got := f.states(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("reports:\n got %q\nwant %q", got, want)
	}
}

// Without Report a run reports nothing (and records no version marker,
// as the replay tests check).
func TestNoReportWithoutReport(t *testing.T) {
	env, _ := setup(t, nil)
	f := &forgeReports{}
	f.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, twoStages), Workspace: "/w"}})
	outcome(t, env)
	if got := f.states(); len(got) != 0 {
		t.Errorf("reports %q", got)
	}
}

func TestTruncate(t *testing.T) {
	long := strings.Repeat("é", 200)
	if got := truncate(long, 140); len([]rune(got)) != 140 || !strings.HasSuffix(got, "…") {
		t.Errorf("truncate: %d runes", len([]rune(got)))
	}
	if got := truncate("short", 140); got != "short" {
		t.Errorf("truncate: %q", got)
	}
}
