package schedules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// ErrNotInTemporal says a schedule of a pipeline's plan has no Temporal
// Schedule (a sync failed, or is still to come).
var ErrNotInTemporal = errors.New("the schedule is not in Temporal yet")

// Status is a schedule's state in Temporal.
type Status struct {
	ID     string
	Paused bool
	Note   string
	// Next are the next few times it fires (before jitter).
	Next []time.Time
	// Recent are its latest actions, the latest last.
	Recent []Action
	// Running are the workflows of its actions still running.
	Running int
}

// Action is one thing a schedule did: when it was due, when it started
// the ScheduledRun workflow, and that workflow's ID.
type Action struct {
	ScheduledAt time.Time
	StartedAt   time.Time
	WorkflowID  string
}

// MaxBackfill bounds a backfill's range: a backfill starts a run for every
// time the schedule fires in it, so a long range of a frequent schedule
// would flood the workers.
const MaxBackfill = 31 * 24 * time.Hour

func (s *Syncer) handle(ctx context.Context, tenantID, pipelineID uuid.UUID, name string) client.ScheduleHandle {
	return s.Client.ScheduleClient().GetHandle(ctx, ID(tenantID, pipelineID, name))
}

func notInTemporal(err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return ErrNotInTemporal
	}
	return err
}

// Describe returns the schedule's state in Temporal; ErrNotInTemporal
// when it has none.
func (s *Syncer) Describe(ctx context.Context, tenantID, pipelineID uuid.UUID, name string) (Status, error) {
	d, err := s.handle(ctx, tenantID, pipelineID, name).Describe(ctx)
	if err != nil {
		return Status{}, notInTemporal(err)
	}
	st := Status{ID: ID(tenantID, pipelineID, name), Next: d.Info.NextActionTimes, Running: len(d.Info.RunningWorkflows)}
	if d.Schedule.State != nil {
		st.Paused, st.Note = d.Schedule.State.Paused, d.Schedule.State.Note
	}
	for _, a := range d.Info.RecentActions {
		act := Action{ScheduledAt: a.ScheduleTime, StartedAt: a.ActualTime}
		if a.StartWorkflowResult != nil {
			act.WorkflowID = a.StartWorkflowResult.WorkflowID
		}
		st.Recent = append(st.Recent, act)
	}
	return st, nil
}

// Pause pauses the schedule with a note (shown in the Temporal UI too).
func (s *Syncer) Pause(ctx context.Context, tenantID, pipelineID uuid.UUID, name, note string) error {
	return notInTemporal(s.handle(ctx, tenantID, pipelineID, name).Pause(ctx, client.SchedulePauseOptions{Note: note}))
}

// Resume unpauses the schedule.
func (s *Syncer) Resume(ctx context.Context, tenantID, pipelineID uuid.UUID, name, note string) error {
	return notInTemporal(s.handle(ctx, tenantID, pipelineID, name).Unpause(ctx, client.ScheduleUnpauseOptions{Note: note}))
}

// Trigger runs the schedule's action now, under its overlap policy.
func (s *Syncer) Trigger(ctx context.Context, tenantID, pipelineID uuid.UUID, name string) error {
	return notInTemporal(s.handle(ctx, tenantID, pipelineID, name).Trigger(ctx, client.ScheduleTriggerOptions{}))
}

// Backfill runs the schedule's action for every time it fires in [start,
// end] (both included), one after the other (overlap buffer-all: each run starts when the
// one before it has ended, so none is skipped); the range is at most
// MaxBackfill.
func (s *Syncer) Backfill(ctx context.Context, tenantID, pipelineID uuid.UUID, name string, start, end time.Time) error {
	if !end.After(start) {
		return fmt.Errorf("the backfill's end must be after its start")
	}
	if end.Sub(start) > MaxBackfill {
		return fmt.Errorf("a backfill covers at most %s", MaxBackfill)
	}
	return notInTemporal(s.handle(ctx, tenantID, pipelineID, name).Backfill(ctx, client.ScheduleBackfillOptions{
		Backfill: []client.ScheduleBackfill{{Start: start, End: end, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL}},
	}))
}
