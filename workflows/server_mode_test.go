package workflows

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
)

// records collects what RecordRunActivity was given, and folds it the way
// the database does: one row per stage attempt, the latest write winning.
type records struct {
	mu   sync.Mutex
	all  []RunRecord
	rows map[string]StageState // "stage#attempt"
}

func (r *records) register(env interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}) {
	r.rows = map[string]StageState{}
	env.RegisterActivityWithOptions(func(_ context.Context, rec RunRecord) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.all = append(r.all, rec)
		for _, s := range rec.Stages {
			r.rows[fmt.Sprintf("%s#%d", s.ID, max(s.Attempt, 1))] = s
		}
		return nil
	}, activity.RegisterOptions{Name: RecordRunActivity})
}

// table prints the folded rows as "stage#attempt=status(error)", sorted.
func (r *records) table() string {
	var rows []string
	for k, s := range r.rows {
		row := k + "=" + string(s.Status)
		if s.Error != "" {
			row += "(" + s.Error + ")"
		}
		rows = append(rows, row)
	}
	sort.Strings(rows)
	return strings.Join(rows, " ")
}

func (r *records) last() RunRecord { return r.all[len(r.all)-1] }

var ref = &buildit.RunRef{TenantID: "t-1", RunID: "r-1"}

func TestRecorderKeepsTheDatabaseInStep(t *testing.T) {
	env, _ := setup(t, map[string]fake{"a": {exits: []int{1, 0}}})
	var recs records
	recs.register(env)
	src := "pipeline \"p\"\nstage \"a\" { run \"x\"; retry 1; }\nstage \"b\" needs=\"a\" { run \"x\"; }\n"
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, src), Workspace: "/w"}, ServerInput: ServerInput{Record: ref}})
	outcome(t, env)

	if got, want := recs.table(), "a#1=failed(exit status 1) a#2=succeeded b#1=succeeded"; got != want {
		t.Errorf("rows:\n got %s\nwant %s", got, want)
	}
	first, last := recs.all[0], recs.last()
	if len(first.Stages) != 2 || first.Stages[0].Status != buildit.StagePending && first.Stages[0].Status != buildit.StageRunning {
		t.Errorf("first record %+v: want every stage, not started", first)
	}
	if last.Status != buildit.RunSucceeded || last.Error != "" || last.Ref != *ref {
		t.Errorf("last record %+v", last)
	}
	for _, rec := range recs.all[:len(recs.all)-1] {
		if rec.Status == buildit.RunSucceeded && len(rec.Stages) == 0 {
			t.Errorf("a record with nothing new: %+v", rec)
		}
	}
	if a1 := recs.rows["a#1"]; a1.FinishedAt.IsZero() || a1.ExitCode == nil || *a1.ExitCode != 1 {
		t.Errorf("retired attempt %+v: want its end and exit code", a1)
	}
}

func TestRecorderWritesWhyTheRunFailed(t *testing.T) {
	env, _ := setup(t, map[string]fake{"a": {exits: []int{3}}})
	var recs records
	recs.register(env)
	src := "pipeline \"p\"\nstage \"a\" { run \"x\"; }\nstage \"b\" needs=\"a\" { run \"x\"; }\n"
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, src), Workspace: "/w"}, ServerInput: ServerInput{Record: ref}})
	outcome(t, env)
	last := recs.last()
	if last.Status != buildit.RunFailed || last.Error != "pipeline failed: a" {
		t.Errorf("last record %+v", last)
	}
	if got, want := recs.table(), "a#1=failed(exit status 3) b#1=skipped(an earlier stage failed)"; got != want {
		t.Errorf("rows:\n got %s\nwant %s", got, want)
	}
}

func TestNoRecordsWithoutARunRef(t *testing.T) {
	env, _ := setup(t, nil)
	var recs records
	recs.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, diamond), Workspace: "/w"}})
	outcome(t, env)
	if len(recs.all) != 0 {
		t.Errorf("%d records for a run with no RunRef", len(recs.all))
	}
}

// hostFakes scripts the workspace activities: each PrepareWorkspace call
// gets the next host; stages fail with a schedule-to-start timeout on the
// hosts listed in dead.
type hostFakes struct {
	mu       sync.Mutex
	prepares []PrepareInput
	hosts    []string
	dead     map[string]bool
	stages   []string // "step@queue:workspace"
	cleanups []string // "workspace@queue"
	failWith error
}

func (h *hostFakes) register(env interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}) {
	env.RegisterActivityWithOptions(func(_ context.Context, in PrepareInput) (PrepareResult, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.failWith != nil {
			return PrepareResult{}, h.failWith
		}
		host := h.hosts[len(h.prepares)]
		h.prepares = append(h.prepares, in)
		return PrepareResult{Workspace: "/ws/" + host, TaskQueue: host}, nil
	}, activity.RegisterOptions{Name: PrepareWorkspaceActivity})
	env.RegisterActivityWithOptions(func(ctx context.Context, in StageInput) (StageResult, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		q := activity.GetInfo(ctx).TaskQueue
		h.stages = append(h.stages, in.Step.ID+"@"+q+":"+in.Workspace)
		if h.dead[q] {
			return StageResult{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil)
		}
		return StageResult{}, nil
	}, activity.RegisterOptions{Name: RunStageActivity})
	env.RegisterActivityWithOptions(func(ctx context.Context, in CleanupInput) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.cleanups = append(h.cleanups, in.Workspace+"@"+activity.GetInfo(ctx).TaskQueue)
		return nil
	}, activity.RegisterOptions{Name: CleanupWorkspaceActivity})
}

const chain = "pipeline \"p\"\nstage \"a\" { run \"x\"; }\nstage \"b\" needs=\"a\" { run \"x\"; }\n"

func TestPreparedWorkspaceRunsStagesOnItsHost(t *testing.T) {
	env := newEnv()
	env.RegisterWorkflow(PipelineRun)
	h := &hostFakes{hosts: []string{"host-1"}}
	h.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
		RunInput:    RunInput{RunID: "run-7", Plan: planOf(t, chain)},
		ServerInput: ServerInput{Prepare: &PrepareInput{Repository: "/srv/repo.git", Branch: "main", Commit: "abc"}},
	})
	st := outcome(t, env)
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s", st.Status)
	}
	if len(h.prepares) != 1 || h.prepares[0] != (PrepareInput{RunID: "run-7", Repository: "/srv/repo.git", Branch: "main", Commit: "abc"}) {
		t.Errorf("prepares %+v", h.prepares)
	}
	if got := strings.Join(h.stages, " "); got != "a@host-1:/ws/host-1 b@host-1:/ws/host-1" {
		t.Errorf("stages ran as %s", got)
	}
	if got := strings.Join(h.cleanups, " "); got != "/ws/host-1@host-1" {
		t.Errorf("cleanups %s", got)
	}
}

func TestLostHostPreparesTheWorkspaceAgain(t *testing.T) {
	env := newEnv()
	env.RegisterWorkflow(PipelineRun)
	h := &hostFakes{hosts: []string{"host-1", "host-2"}, dead: map[string]bool{"host-1": true}}
	h.register(env)
	var recs records
	recs.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, chain)}, ServerInput: ServerInput{Prepare: &PrepareInput{}, Record: ref}})
	st := outcome(t, env)
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s: %+v", st.Status, st.Stages)
	}
	if got := strings.Join(h.stages, " "); got != "a@host-1:/ws/host-1 a@host-2:/ws/host-2 b@host-2:/ws/host-2" {
		t.Errorf("stages ran as %s", got)
	}
	if got := strings.Join(h.cleanups, " "); got != "/ws/host-2@host-2" {
		t.Errorf("cleanups %s", got)
	}
	if got, want := recs.table(), "a#1=succeeded b#1=succeeded"; got != want {
		t.Errorf("rows: got %s, want %s (the lost host costs no attempt)", got, want)
	}
}

func TestEveryHostLostFailsTheRun(t *testing.T) {
	env := newEnv()
	env.RegisterWorkflow(PipelineRun)
	h := &hostFakes{hosts: []string{"h1", "h2", "h3", "h4", "h5"}, dead: map[string]bool{"h1": true, "h2": true, "h3": true, "h4": true, "h5": true}}
	h.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, chain)}, ServerInput: ServerInput{Prepare: &PrepareInput{}}})
	st := outcome(t, env)
	if st.Status != buildit.RunFailed || len(h.prepares) != MaxPrepares {
		t.Errorf("run %s after %d prepares, want failed after %d", st.Status, len(h.prepares), MaxPrepares)
	}
	if a := stage(st, "a"); !strings.Contains(a.Error, "preparing it again failed") {
		t.Errorf("stage a: %q", a.Error)
	}
}

func TestPrepareFailureFailsTheRunAndSkipsEveryStage(t *testing.T) {
	env := newEnv()
	env.RegisterWorkflow(PipelineRun)
	h := &hostFakes{failWith: temporal.NewNonRetryableApplicationError("git clone: repository not found", ErrTypeConfig, nil)}
	h.register(env)
	var recs records
	recs.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, chain)}, ServerInput: ServerInput{Prepare: &PrepareInput{Repository: "/nope"}, Record: ref}})
	st := outcome(t, env)
	wantStatuses(t, st, map[string]buildit.StageStatus{"a": buildit.StageSkipped, "b": buildit.StageSkipped})
	if last := recs.last(); last.Status != buildit.RunFailed || !strings.Contains(last.Error, "preparing the workspace: git clone: repository not found") {
		t.Errorf("last record %+v", last)
	}
	if len(h.stages) != 0 || len(h.cleanups) != 0 {
		t.Errorf("stages %v, cleanups %v after a failed prepare", h.stages, h.cleanups)
	}
}

func TestReusedStagesSucceedWithoutRunning(t *testing.T) {
	env, rec := setup(t, nil)
	var recs records
	recs.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{
		RunInput: RunInput{Plan: planOf(t, diamond), Workspace: "/w"},
		ServerInput: ServerInput{
			Record:     ref,
			Reuse:      []string{"start", "a", "b"},
			ReusedFrom: "run 4",
		},
	})
	st := outcome(t, env)
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s", st.Status)
	}
	started := rec.startedList()
	sort.Strings(started)
	if got := strings.Join(started, " "); got != "c end" {
		t.Errorf("ran %s, want only c and end", got)
	}
	if a := stage(st, "a"); a.Status != buildit.StageSucceeded || a.ReusedFrom != "run 4" {
		t.Errorf("reused stage a: %+v", a)
	}
	if got, want := recs.table(), "a#1=succeeded b#1=succeeded c#1=succeeded end#1=succeeded start#1=succeeded"; got != want {
		t.Errorf("rows: got %s, want %s", got, want)
	}
}

func TestConcurrencyGroupWaitsForItsTurnFirst(t *testing.T) {
	env := newEnv()
	env.RegisterWorkflow(PipelineRun)
	h := &hostFakes{hosts: []string{"host-1"}}
	h.register(env)
	var order []string
	env.RegisterActivityWithOptions(func(_ context.Context, in AwaitTurnInput) error {
		order = append(order, "turn:"+in.Group+":"+in.Ref.RunID)
		return nil
	}, activity.RegisterOptions{Name: AwaitTurnActivity})
	var recs records
	recs.register(env)
	env.ExecuteWorkflow(PipelineRunWorkflow, PipelineRunInput{RunInput: RunInput{Plan: planOf(t, chain)}, ServerInput: ServerInput{Prepare: &PrepareInput{}, Record: ref, ConcurrencyGroup: "deploy"}})
	if st := outcome(t, env); st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s", st.Status)
	}
	if len(order) != 1 || order[0] != "turn:deploy:r-1" || len(h.prepares) != 1 {
		t.Errorf("turn calls %v, prepares %d", order, len(h.prepares))
	}
	if first := recs.all[0]; first.Status != buildit.RunQueued {
		t.Errorf("first record %s: a run waiting for its turn is queued", first.Status)
	}
}
