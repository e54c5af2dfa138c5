// Package schedules keeps a Temporal Schedule for every `schedule` of
// every pipeline (created, updated and deleted with the pipeline's
// source) and runs what they start: the ScheduledRun workflow, on the
// server's task queue, starts a run of the pipeline and waits for it, so
// that the schedule's overlap policy applies to runs.
package schedules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/triggers"
	"github.com/buildit-ci/buildit/workflows"
)

// Register registers the package's workflows and activities on r.
func Register(r worker.Registry, d *triggers.Deps) {
	registerWorkflows(r, d)
}

// prefix is what every BuildIt schedule's ID starts with.
const prefix = "buildit/"

// ID is the Temporal Schedule ID of pipeline schedule name:
// buildit/<tenant-id>/<pipeline-id>/<name>.
func ID(tenantID, pipelineID uuid.UUID, name string) string {
	return pipelinePrefix(tenantID, pipelineID) + name
}

func pipelinePrefix(tenantID, pipelineID uuid.UUID) string {
	return prefix + tenantID.String() + "/" + pipelineID.String() + "/"
}

// specMemo is the memo key holding the hash of what a schedule was made
// from: Sync updates a schedule only when it changed.
const specMemo = "buildit-spec"

// Syncer keeps the Temporal Schedules of pipelines in step with their
// plans (triggers.ScheduleSyncer), and steers them for the API.
type Syncer struct {
	Client client.Client
	// TaskQueue is the workers' task queue; the schedules start
	// ScheduledRun on its server queue (workflows.ServerTaskQueue).
	TaskQueue string
	Log       *slog.Logger
}

var _ triggers.ScheduleSyncer = (*Syncer)(nil)

// PlanSchedules returns the schedules of a pipeline's stored plan.
func PlanSchedules(p db.Pipeline) ([]pipeline.Schedule, error) {
	var plan pipeline.Plan
	if err := json.Unmarshal(p.Plan, &plan); err != nil {
		return nil, fmt.Errorf("plan of pipeline %s: %w", p.ID, err)
	}
	if plan.On == nil {
		return nil, nil
	}
	return plan.On.Schedules, nil
}

// Overlap is the Temporal overlap policy of a schedule's overlap ("" is
// skip).
func Overlap(o string) (enumspb.ScheduleOverlapPolicy, error) {
	switch o {
	case "", pipeline.OverlapSkip:
		return enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, nil
	case pipeline.OverlapBufferOne:
		return enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE, nil
	case pipeline.OverlapCancelOther:
		return enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER, nil
	}
	return 0, fmt.Errorf("overlap %q: want skip, buffer-one or cancel-other", o)
}

// hash is the digest of what a schedule is made from.
func hash(s pipeline.Schedule, taskQueue string) string {
	b, _ := json.Marshal(struct {
		S pipeline.Schedule
		Q string
	}{s, taskQueue})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

func (s *Syncer) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Sync creates the pipeline's missing schedules, updates those whose
// settings changed and deletes those no longer in its plan. It is
// idempotent; a paused schedule stays paused through an update.
func (s *Syncer) Sync(ctx context.Context, p db.Pipeline) error {
	want, err := PlanSchedules(p)
	if err != nil {
		return err
	}
	var errs []error
	names := map[string]bool{}
	for _, sc := range want {
		names[sc.Name] = true
		if err := s.put(ctx, p, sc); err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", sc.Name, err))
		}
	}
	have, err := s.listIDs(ctx, p.TenantID, p.ID)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	pre := pipelinePrefix(p.TenantID, p.ID)
	for _, id := range have {
		if names[strings.TrimPrefix(id, pre)] {
			continue
		}
		if err := s.delete(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Delete deletes every schedule of the pipeline.
func (s *Syncer) Delete(ctx context.Context, tenantID, pipelineID uuid.UUID) error {
	have, err := s.listIDs(ctx, tenantID, pipelineID)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range have {
		if err := s.delete(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DeleteNames deletes the named schedules of the pipeline, for callers
// that know them (the API, from the plan of the pipeline it deleted):
// unlike Delete it does not depend on Temporal's visibility store, which
// lists a schedule only a moment after its creation.
func (s *Syncer) DeleteNames(ctx context.Context, tenantID, pipelineID uuid.UUID, names []string) error {
	var errs []error
	for _, n := range names {
		if err := s.delete(ctx, ID(tenantID, pipelineID, n)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Syncer) delete(ctx context.Context, id string) error {
	err := s.Client.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", id, err)
	}
	return nil
}

// listIDs lists the IDs of the pipeline's schedules in Temporal. The
// filter is the ID prefix, which holds the tenant's and the pipeline's
// IDs: another tenant's schedules never match.
func (s *Syncer) listIDs(ctx context.Context, tenantID, pipelineID uuid.UUID) ([]string, error) {
	pre := pipelinePrefix(tenantID, pipelineID)
	it, err := s.Client.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 1000})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	var ids []string
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		if strings.HasPrefix(e.ID, pre) {
			ids = append(ids, e.ID)
		}
	}
	return ids, nil
}

// options are the schedule's options as Sync creates it.
func (s *Syncer) options(p db.Pipeline, sc pipeline.Schedule) (client.ScheduleOptions, error) {
	overlap, err := Overlap(sc.Overlap)
	if err != nil {
		return client.ScheduleOptions{}, err
	}
	id := ID(p.TenantID, p.ID, sc.Name)
	return client.ScheduleOptions{
		ID: id,
		Spec: client.ScheduleSpec{
			CronExpressions: []string{sc.Cron},
			TimeZoneName:    sc.Timezone,
			Jitter:          sc.Jitter,
		},
		Action: &client.ScheduleWorkflowAction{
			// Temporal appends the scheduled time to the ID.
			ID:        "schedule/" + strings.TrimPrefix(id, prefix),
			Workflow:  ScheduledRunWorkflow,
			Args:      []any{Input{TenantID: p.TenantID.String(), PipelineID: p.ID.String(), Schedule: sc.Name}},
			TaskQueue: workflows.ServerTaskQueue(s.TaskQueue),
			// A run waits at most a week; the workflow is a watcher.
			WorkflowExecutionTimeout: 8 * 24 * time.Hour,
			Memo:                     map[string]any{specMemo: hash(sc, s.TaskQueue)},
		},
		Overlap:       overlap,
		CatchupWindow: time.Minute,
	}, nil
}

// put creates the schedule, or updates it when its settings changed.
func (s *Syncer) put(ctx context.Context, p db.Pipeline, sc pipeline.Schedule) error {
	o, err := s.options(p, sc)
	if err != nil {
		return err
	}
	sched := s.Client.ScheduleClient()
	_, err = sched.Create(ctx, o)
	if err == nil {
		s.log().Info("schedule created", "schedule", o.ID, "cron", sc.Cron)
		return nil
	}
	if !isAlreadyExists(err) {
		return err
	}
	h := sched.GetHandle(ctx, o.ID)
	d, err := h.Describe(ctx)
	if err != nil {
		return err
	}
	if actionHash(d) == o.Action.(*client.ScheduleWorkflowAction).Memo[specMemo] {
		return nil
	}
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		up := in.Description.Schedule
		spec := o.Spec
		up.Spec = &spec
		up.Action = o.Action
		if up.Policy == nil {
			up.Policy = &client.SchedulePolicies{}
		}
		up.Policy.Overlap = o.Overlap
		up.Policy.CatchupWindow = o.CatchupWindow
		return &client.ScheduleUpdate{Schedule: &up}, nil
	}})
	if err != nil {
		return err
	}
	s.log().Info("schedule updated", "schedule", o.ID, "cron", sc.Cron)
	return nil
}

func isAlreadyExists(err error) bool {
	var ae *serviceerror.AlreadyExists
	var ws *serviceerror.WorkflowExecutionAlreadyStarted
	return errors.Is(err, temporal.ErrScheduleAlreadyRunning) || errors.As(err, &ae) || errors.As(err, &ws)
}

// actionHash is the spec hash kept in the memo of a described schedule's
// action: an update replaces the action, and so the hash, where the
// schedule's own memo is set only at creation.
func actionHash(d *client.ScheduleDescription) string {
	a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok {
		return ""
	}
	p, ok := a.Memo[specMemo].(*commonpb.Payload)
	if !ok {
		return ""
	}
	var h string
	if converter.GetDefaultDataConverter().FromPayload(p, &h) != nil {
		return ""
	}
	return h
}
