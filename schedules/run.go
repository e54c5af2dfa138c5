package schedules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/repourl"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/triggers"
)

// The names of the workflow and activities, as registered.
const (
	ScheduledRunWorkflow = "ScheduledRun"
	startActivity        = "ScheduledRunStart"
	waitActivity         = "ScheduledRunWait"
	cancelActivity       = "ScheduledRunCancel"
)

// Input is what a schedule's action gives ScheduledRun: IDs only, so that
// the run is made from the pipeline as it is when the schedule fires.
type Input struct {
	TenantID   string `json:"tenant_id"`
	PipelineID string `json:"pipeline_id"`
	Schedule   string `json:"schedule"`
}

// StartInput is the start activity's input: the schedule and the key that
// makes the start idempotent (the scheduled workflow's ID and run ID).
type StartInput struct {
	Input
	Key string `json:"key"`
}

// Started is the run a scheduled workflow started; WorkflowID is "" when
// none was (the pipeline or its schedule is gone).
type Started struct {
	TenantID   string `json:"tenant_id,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	Number     int64  `json:"number,omitempty"`
	WorkflowID string `json:"workflow_id,omitempty"`
}

// heartbeat is how often the wait activity says it is alive; Temporal
// delivers a cancellation (overlap cancel-other) on the next one.
const heartbeat = 2 * time.Second

// ScheduledRun starts a run of the schedule's pipeline and waits for it to
// end, so that the schedule's overlap policy applies to pipeline runs:
// skip and buffer-one see this workflow running while the run does, and
// cancel-other cancels this workflow, which cancels the run. A pipeline
// or schedule that no longer exists ends it quietly.
func ScheduledRun(ctx workflow.Context, in Input) (string, error) {
	info := workflow.GetInfo(ctx)
	sctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 10, MaximumInterval: time.Minute},
	})
	var st Started
	key := "schedule:" + info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID
	if err := workflow.ExecuteActivity(sctx, startActivity, StartInput{Input: in, Key: key}).Get(sctx, &st); err != nil {
		return "", err
	}
	if st.WorkflowID == "" {
		return "", nil
	}
	wctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 8 * 24 * time.Hour,
		HeartbeatTimeout:    5 * heartbeat,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute},
	})
	err := workflow.ExecuteActivity(wctx, waitActivity, st).Get(wctx, nil)
	if ctx.Err() != nil {
		// Cancelled (overlap cancel-other, or by hand): the run goes too.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		dctx = workflow.WithActivityOptions(dctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
		})
		if cerr := workflow.ExecuteActivity(dctx, cancelActivity, st).Get(dctx, nil); cerr != nil {
			workflow.GetLogger(ctx).Error("cancelling a scheduled run failed", "run", st.WorkflowID, "error", cerr)
		}
		return st.WorkflowID, ctx.Err()
	}
	if err != nil {
		return st.WorkflowID, err
	}
	return st.WorkflowID, nil
}

func registerWorkflows(r worker.Registry, d *triggers.Deps) {
	r.RegisterWorkflowWithOptions(ScheduledRun, workflow.RegisterOptions{Name: ScheduledRunWorkflow})
	a := &acts{d: d}
	r.RegisterActivityWithOptions(a.start, activity.RegisterOptions{Name: startActivity})
	r.RegisterActivityWithOptions(a.wait, activity.RegisterOptions{Name: waitActivity})
	r.RegisterActivityWithOptions(a.cancel, activity.RegisterOptions{Name: cancelActivity})
}

type acts struct{ d *triggers.Deps }

// start starts the run, or nothing (Started{}) when the tenant, pipeline
// or schedule is gone.
func (a *acts) start(ctx context.Context, in StartInput) (Started, error) {
	tenantID, err1 := uuid.Parse(in.TenantID)
	pipelineID, err2 := uuid.Parse(in.PipelineID)
	if err := errors.Join(err1, err2); err != nil {
		return Started{}, temporal.NewNonRetryableApplicationError("bad schedule input", "BadInput", err)
	}
	store := a.d.Store
	// gone removes the schedule of something that no longer exists (a
	// deleted tenant's pipelines go without a sync), and ends quietly.
	gone := func() (Started, error) {
		a.removeSchedule(ctx, ID(tenantID, pipelineID, in.Schedule))
		return Started{}, nil
	}
	tenant, err := store.Tenants().Lookup(ctx, tenantID)
	if errors.Is(err, db.ErrNotFound) {
		return gone()
	}
	if err != nil {
		return Started{}, err
	}
	org, err := store.Organizations().Get(ctx, tenant.OrgID)
	if errors.Is(err, db.ErrNotFound) {
		return gone()
	}
	if err != nil {
		return Started{}, err
	}
	p, err := store.Pipelines().GetByID(ctx, tenant.ID, pipelineID)
	if errors.Is(err, db.ErrNotFound) {
		return gone()
	}
	if err != nil {
		return Started{}, err
	}
	scheds, err := PlanSchedules(p)
	if err != nil {
		return Started{}, temporal.NewNonRetryableApplicationError("the pipeline's plan does not decode", "BadPlan", err)
	}
	var sc *pipeline.Schedule
	for i := range scheds {
		if scheds[i].Name == in.Schedule {
			sc = &scheds[i]
		}
	}
	if sc == nil {
		return gone()
	}
	run, err := a.d.Runs.Start(ctx, org, tenant, p, runclient.Trigger{
		Trigger: buildit.Trigger{Event: buildit.EventSchedule, Schedule: sc.Name, Branch: sc.Branch},
		Inputs:  sc.Inputs,
		Key:     in.Key,
		Via:     "schedule",
		Actor:   "schedule " + sc.Name,
	})
	var (
		inputErr *pipeline.InputError
		hostErr  *runclient.HostStagesError
		repoErr  *repourl.Error
		limitErr *runclient.LimitError
	)
	switch {
	case err == nil:
	case errors.As(err, &inputErr), errors.As(err, &hostErr), errors.As(err, &repoErr), errors.As(err, &limitErr):
		return Started{}, temporal.NewNonRetryableApplicationError(err.Error(), "RunRefused", nil)
	default:
		return Started{}, fmt.Errorf("start a run of %s: %w", p.Name, err)
	}
	return Started{TenantID: tenant.ID.String(), RunID: run.ID.String(), Number: run.Number, WorkflowID: run.WorkflowID}, nil
}

// removeSchedule deletes the schedule with id, logging a failure: a
// schedule left behind starts ScheduledRun again, which tries again.
func (a *acts) removeSchedule(ctx context.Context, id string) {
	if a.d.Client == nil {
		return
	}
	err := a.d.Client.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) && a.d.Log != nil {
		a.d.Log.Warn("removing the schedule of a deleted pipeline failed", "schedule", id, "error", err)
	}
}

// wait waits for the run's workflow to end, heartbeating. How the run
// ended is the run's business: the wait ends without error either way.
func (a *acts) wait(ctx context.Context, st Started) error {
	done := make(chan error, 1)
	go func() { done <- a.d.Client.GetWorkflow(ctx, st.WorkflowID, "").Get(ctx, nil) }()
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		activity.RecordHeartbeat(ctx)
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// err is how the run ended (failed, cancelled, or
			// gone): the run records that itself.
			_ = err
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// cancel cancels the run.
func (a *acts) cancel(ctx context.Context, st Started) error {
	tenantID, err1 := uuid.Parse(st.TenantID)
	runID, err2 := uuid.Parse(st.RunID)
	if err := errors.Join(err1, err2); err != nil {
		return temporal.NewNonRetryableApplicationError("bad run", "BadInput", err)
	}
	run, err := a.d.Store.Runs().GetRun(ctx, tenantID, runID)
	if errors.Is(err, db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	err = a.d.Runs.Cancel(ctx, run)
	var nf *serviceerror.NotFound
	if errors.Is(err, runclient.ErrEnded) || errors.As(err, &nf) {
		return nil
	}
	return err
}
