package workflows

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Server mode: a run that prepares its workspace on some worker and runs its
// stages on that worker's host queue, and that records its state in the
// platform's database as it goes.

// PrepareTimeout is how long one attempt at preparing a run's workspace
// may take: a worker's clone timeout beyond it is cut short.
const PrepareTimeout = 15 * time.Minute

// prepare makes the run's workspace with PrepareWorkspaceActivity on the
// workflow's task queue, whichever worker takes it, and points the run's
// stages at the queue of that worker's host.
func (r *run) prepare(ctx workflow.Context) error {
	if r.prepares >= MaxPrepares {
		return fmt.Errorf("the workspace was prepared %d times; giving up", r.prepares)
	}
	r.prepares++
	r.preparing = true
	defer func() { r.preparing = false }()
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A checkout of a big repository takes a while.
		StartToCloseTimeout: PrepareTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: []string{ErrTypeConfig},
		},
	})
	in := *r.in.Prepare
	in.RunID = r.in.RunID
	var res PrepareResult
	if err := workflow.ExecuteActivity(actx, PrepareWorkspaceActivity, in).Get(actx, &res); err != nil {
		return errors.New(activityErrorText(err))
	}
	r.in.Workspace = res.Workspace
	r.queue = res.TaskQueue
	r.queueGen++
	r.logger.Info("workspace prepared", "workspace", res.Workspace, "queue", res.TaskQueue)
	return nil
}

// reprepare prepares the workspace again after a stage found its host gone,
// unless another stage already did since gen (or is doing it now).
func (r *run) reprepare(ctx workflow.Context, gen int) error {
	if err := workflow.Await(ctx, func() bool { return !r.preparing }); err != nil {
		return err
	}
	if r.queueGen != gen {
		return nil
	}
	return r.prepare(ctx)
}

// awaitTurn waits, queued, until the earlier runs of the run's concurrency
// group have ended.
func (r *run) awaitTurn(ctx workflow.Context) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * 24 * time.Hour,
		HeartbeatTimeout:    30 * time.Second,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	in := AwaitTurnInput{Ref: *r.in.Record, Group: r.in.ConcurrencyGroup}
	err := workflow.ExecuteActivity(actx, AwaitTurnActivity, in).Get(actx, nil)
	if err != nil && ctx.Err() == nil {
		r.logger.Info("waiting for the concurrency group failed; running anyway", "error", err)
	}
	return err
}

// reused reports whether stage i takes its result from an earlier run.
func (r *run) reused(i int) bool {
	for _, id := range r.in.Reuse {
		if id == r.steps[i].ID {
			return true
		}
	}
	return false
}

// hostQueueTimeout is how long a task waits for the workspace's host.
func (r *run) hostQueueTimeout() time.Duration {
	if r.in.HostQueueTimeout > 0 {
		return r.in.HostQueueTimeout
	}
	return DefaultHostQueueTimeout
}

// hostLost reports whether a stage activity failed because no worker of the
// workspace's host queue took it in time: that host is gone.
func hostLost(err error) bool {
	var te *temporal.TimeoutError
	return errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START
}

// cleanup removes a prepared workspace, on its host; a host that is gone
// took the workspace with it, so failures are only logged.
func (r *run) cleanup(ctx workflow.Context) {
	if r.queueGen == 0 {
		return
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              r.queue,
		ScheduleToStartTimeout: r.hostQueueTimeout(),
		StartToCloseTimeout:    5 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 2},
	})
	if err := workflow.ExecuteActivity(actx, CleanupWorkspaceActivity, CleanupInput{Workspace: r.in.Workspace}).Get(actx, nil); err != nil {
		r.logger.Info("workspace cleanup failed", "workspace", r.in.Workspace, "error", err)
	}
}

// startRecorder starts the coroutine that keeps the database in step with
// the run: whenever the run's status or a stage changed since the last
// record, it writes the changes with RecordRunActivity (a local activity,
// retried until the database answers). Records are written one at a time,
// in order, and each holds the latest state, so a burst of changes costs
// one write.
func (r *run) startRecorder(ctx workflow.Context) {
	r.recSent = make([]StageState, len(r.state))
	opts := workflow.LocalActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 7 * 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        500 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumInterval:        10 * time.Second,
			NonRetryableErrorTypes: []string{ErrTypeConfig},
		},
	}
	workflow.Go(ctx, func(gctx workflow.Context) {
		lctx := workflow.WithLocalActivityOptions(gctx, opts)
		for {
			if err := workflow.Await(gctx, r.recordPending); err != nil {
				return
			}
			rec, stages := r.nextRecord()
			if err := workflow.ExecuteLocalActivity(lctx, RecordRunActivity, rec).Get(lctx, nil); err != nil {
				// Only a record the database refuses for good gets here
				// (the run's row is gone); the run goes on without it.
				r.logger.Info("recording the run failed", "error", err)
			}
			r.recStatus, r.recErr = rec.Status, rec.Error
			r.recRetired += len(rec.Stages) - len(stages)
			first := len(rec.Stages) - len(stages)
			for k, i := range stages {
				r.recSent[i] = rec.Stages[first+k]
			}
		}
	})
}

// recordPending reports whether the database has not seen the latest state.
func (r *run) recordPending() bool {
	if r.status != r.recStatus || r.errText != r.recErr || len(r.retired) > r.recRetired {
		return true
	}
	for i := range r.state {
		if !sameStage(r.state[i], r.recSent[i]) {
			return true
		}
	}
	return false
}

// nextRecord is the record of what changed: attempts retired since the last
// record, then every stage whose state changed (their indexes returned).
func (r *run) nextRecord() (RunRecord, []int) {
	rec := RunRecord{Ref: *r.in.Record, Status: r.status, Error: r.errText}
	rec.Stages = append(rec.Stages, r.retired[r.recRetired:]...)
	var changed []int
	for i := range r.state {
		if !sameStage(r.state[i], r.recSent[i]) {
			changed = append(changed, i)
			rec.Stages = append(rec.Stages, r.state[i])
		}
	}
	return rec, changed
}

func sameStage(a, b StageState) bool {
	// Deep: ExitCode is compared by value, Artifacts by element.
	return reflect.DeepEqual(a, b)
}
