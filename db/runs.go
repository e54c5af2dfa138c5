package db

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// Run is one run of a pipeline. Number counts the pipeline's runs from 1.
type Run struct {
	ID         uuid.UUID
	TenantID   uuid.UUID
	PipelineID uuid.UUID
	Number     int64
	Status     buildit.RunStatus
	Branch     string
	Commit     string
	// Event is what happened (push, manual…); Trigger is what started the
	// run (api, webhook, schedule…); Actor is who.
	Event      string
	Trigger    string
	Actor      string
	WorkflowID string
	CreatedAt  time.Time
	StartedAt  *time.Time
	EndedAt    *time.Time
	// Error says why a run failed or was cancelled.
	Error string
	// Params is the trigger's request (env overrides, repository) as
	// JSON, opaque to this package.
	Params json.RawMessage
	// RerunOf is the number of the run this one reruns, if any.
	RerunOf *int64
	// ConcurrencyGroup is the pipeline's concurrency group for this run,
	// "" when it has none.
	ConcurrencyGroup string
	// TriggerKey is the key the run was started with (runclient's
	// Trigger.Key: a webhook's delivery and file), "" for none; a
	// pipeline has one run per key.
	TriggerKey string
}

// NewRun is what CreateRun needs; the run starts queued.
type NewRun struct {
	Branch     string
	Commit     string
	Event      string
	Trigger    string
	Actor      string
	WorkflowID string
	Params     json.RawMessage
	RerunOf    *int64
	// ConcurrencyGroup, when set, puts the run in a group whose runs in
	// progress ListActiveRunsInGroup finds.
	ConcurrencyGroup string
	// TriggerKey, when set, is unique among the pipeline's runs: a second
	// run with it is an ErrConflict.
	TriggerKey string
}

// StageRun is one attempt (from 1) of one stage instance of a run.
type StageRun struct {
	TenantID  uuid.UUID
	RunID     uuid.UUID
	StageID   string
	Attempt   int
	Status    buildit.StageStatus
	ExitCode  *int
	StartedAt *time.Time
	EndedAt   *time.Time
	// Error says why the attempt failed, was skipped or was cancelled.
	Error string
}

// RunRepo holds runs and their stage attempts, and the lock that
// serializes the starts of an organization's runs.
type RunRepo struct{ h handle }

// CreateRun creates a queued run of tenantID's pipeline, numbered one past
// the pipeline's previous run. Concurrent calls get distinct numbers without
// gaps: the number is taken by an UPDATE of the pipeline's row in the same
// statement as the insert.
func (r RunRepo) CreateRun(ctx context.Context, tenantID, pipelineID uuid.UUID, n NewRun) (Run, error) {
	row, err := r.h.q.CreateRun(ctx, sqlcdb.CreateRunParams{
		TenantID:   tenantID,
		PipelineID: pipelineID,
		Status:     string(buildit.RunQueued),
		Branch:     n.Branch,
		CommitSha:  n.Commit,
		Event:      n.Event,
		Trigger:    n.Trigger,
		Actor:      n.Actor,
		WorkflowID: n.WorkflowID,
		Params:     paramsJSON(n.Params),
		RerunOf:    n.RerunOf,

		ConcurrencyGroup: n.ConcurrencyGroup,
		TriggerKey:       n.TriggerKey,
	})
	return toRun(row), wrap(err, "create run of pipeline %s", pipelineID)
}

// GetRun returns tenantID's run with id.
func (r RunRepo) GetRun(ctx context.Context, tenantID, id uuid.UUID) (Run, error) {
	row, err := r.h.q.GetRun(ctx, sqlcdb.GetRunParams{TenantID: tenantID, ID: id})
	return toRun(row), wrap(err, "get run %s", id)
}

// GetRunByNumber returns run number of tenantID's pipeline.
func (r RunRepo) GetRunByNumber(ctx context.Context, tenantID, pipelineID uuid.UUID, number int64) (Run, error) {
	row, err := r.h.q.GetRunByNumber(ctx, sqlcdb.GetRunByNumberParams{TenantID: tenantID, PipelineID: pipelineID, Number: number})
	return toRun(row), wrap(err, "get run %d of pipeline %s", number, pipelineID)
}

// ListRuns lists a tenant's runs of every pipeline, newest first. Listed
// runs leave out Params' env, which GetRun has.
func (r RunRepo) ListRuns(ctx context.Context, tenantID uuid.UUID, after string, limit int) (Page[Run], error) {
	t, id, err := decodeTimeIDCursor(after, maxTime, uuid.Max)
	if err != nil {
		return Page[Run]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListRuns(ctx, sqlcdb.ListRunsParams{TenantID: tenantID, BeforeTime: t, BeforeID: id, Lim: int32(size + 1)})
	if err != nil {
		return Page[Run]{}, wrap(err, "list runs of tenant %s", tenantID)
	}
	return pageOf(rows, size, toListedRun, func(row sqlcdb.ListRunsRow) string { return timeIDCursor(row.CreatedAt, row.ID) }), nil
}

// RunFilter narrows ListPipelineRuns; empty fields match every run.
type RunFilter struct {
	Status buildit.RunStatus
	Branch string
}

// ListPipelineRuns lists the runs of one of tenantID's pipelines that match
// f, newest (highest number) first, without Params' env as ListRuns.
func (r RunRepo) ListPipelineRuns(ctx context.Context, tenantID, pipelineID uuid.UUID, f RunFilter, after string, limit int) (Page[Run], error) {
	if f.Status != "" && !f.Status.Valid() {
		return Page[Run]{}, invalid("run status %q", f.Status)
	}
	before, err := decodeNumberCursor(after, math.MaxInt64)
	if err != nil {
		return Page[Run]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListPipelineRuns(ctx, sqlcdb.ListPipelineRunsParams{
		TenantID: tenantID, PipelineID: pipelineID, BeforeNumber: before, Lim: int32(size + 1),
		Status: optional(string(f.Status)), Branch: optional(f.Branch),
	})
	if err != nil {
		return Page[Run]{}, wrap(err, "list runs of pipeline %s", pipelineID)
	}
	return pageOf(rows, size, func(row sqlcdb.ListPipelineRunsRow) Run { return toListedRun(sqlcdb.ListRunsRow(row)) },
		func(row sqlcdb.ListPipelineRunsRow) string { return numberCursor(row.Number) }), nil
}

// LatestRuns returns the newest run of each of tenantID's pipelines in
// pipelineIDs that has one, by pipeline ID, without Params' env as
// ListRuns: one query for a page of pipelines.
func (r RunRepo) LatestRuns(ctx context.Context, tenantID uuid.UUID, pipelineIDs []uuid.UUID) (map[uuid.UUID]Run, error) {
	out := make(map[uuid.UUID]Run, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	rows, err := r.h.q.LatestPipelineRuns(ctx, sqlcdb.LatestPipelineRunsParams{TenantID: tenantID, PipelineIds: pipelineIDs})
	if err != nil {
		return nil, wrap(err, "latest runs of %d pipelines", len(pipelineIDs))
	}
	for _, row := range rows {
		out[row.PipelineID] = toListedRun(sqlcdb.ListRunsRow(row))
	}
	return out, nil
}

// SetRunStatus sets a run's status. The first status past queued sets
// StartedAt, a final one EndedAt; neither moves once set, and a run that
// has ended keeps its final status.
func (r RunRepo) SetRunStatus(ctx context.Context, tenantID, id uuid.UUID, status buildit.RunStatus) (Run, error) {
	return r.SetRunResult(ctx, tenantID, id, status, "")
}

// SetRunResult is SetRunStatus that also records why the run failed or was
// cancelled.
func (r RunRepo) SetRunResult(ctx context.Context, tenantID, id uuid.UUID, status buildit.RunStatus, errText string) (Run, error) {
	if !status.Valid() {
		return Run{}, invalid("run status %q", status)
	}
	row, err := r.h.q.SetRunStatus(ctx, sqlcdb.SetRunStatusParams{TenantID: tenantID, ID: id, Status: string(status), Error: errText})
	return toRun(row), wrap(err, "set status of run %s", id)
}

// SetRunWorkflowID records the id of the Temporal workflow executing a run.
func (r RunRepo) SetRunWorkflowID(ctx context.Context, tenantID, id uuid.UUID, workflowID string) (Run, error) {
	row, err := r.h.q.SetRunWorkflowID(ctx, sqlcdb.SetRunWorkflowIDParams{TenantID: tenantID, ID: id, WorkflowID: workflowID})
	return toRun(row), wrap(err, "set workflow of run %s", id)
}

// PutStageRun records a stage attempt of one of tenantID's runs, or updates
// it: the status always, the exit code and times when they are set (a later
// call cannot clear them). An unknown run is ErrNotFound.
func (r RunRepo) PutStageRun(ctx context.Context, tenantID uuid.UUID, s StageRun) (StageRun, error) {
	if !s.Status.Valid() {
		return StageRun{}, invalid("stage status %q", s.Status)
	}
	var exit *int32
	if s.ExitCode != nil {
		exit = new(int32(*s.ExitCode))
	}
	row, err := r.h.q.UpsertStageRun(ctx, sqlcdb.UpsertStageRunParams{
		TenantID:  tenantID,
		RunID:     s.RunID,
		StageID:   s.StageID,
		Attempt:   int32(s.Attempt),
		Status:    string(s.Status),
		ExitCode:  exit,
		StartedAt: s.StartedAt,
		EndedAt:   s.EndedAt,
		Error:     s.Error,
	})
	return toStageRun(row), wrap(err, "put stage %q attempt %d of run %s", s.StageID, s.Attempt, s.RunID)
}

// ListStageRuns lists every stage attempt of one of tenantID's runs, in the
// order they started (not yet started ones last).
func (r RunRepo) ListStageRuns(ctx context.Context, tenantID, runID uuid.UUID) ([]StageRun, error) {
	rows, err := r.h.q.ListStageRuns(ctx, sqlcdb.ListStageRunsParams{TenantID: tenantID, RunID: runID})
	if err != nil {
		return nil, wrap(err, "list stages of run %s", runID)
	}
	out := make([]StageRun, len(rows))
	for i, row := range rows {
		out[i] = toStageRun(row)
	}
	return out, nil
}

func toRun(row sqlcdb.PipelineRun) Run {
	return Run{
		ID:         row.ID,
		TenantID:   row.TenantID,
		PipelineID: row.PipelineID,
		Number:     row.Number,
		Status:     buildit.RunStatus(row.Status),
		Branch:     row.Branch,
		Commit:     row.CommitSha,
		Event:      row.Event,
		Trigger:    row.Trigger,
		Actor:      row.Actor,
		WorkflowID: row.WorkflowID,
		CreatedAt:  row.CreatedAt,
		StartedAt:  row.StartedAt,
		EndedAt:    row.EndedAt,
		Error:      row.Error,
		Params:     row.Params,
		RerunOf:    row.RerunOf,

		ConcurrencyGroup: row.ConcurrencyGroup,
		TriggerKey:       row.TriggerKey,
	}
}

// toListedRun is toRun for the rows of the lists, which have the run's
// columns but a smaller Params.
func toListedRun(row sqlcdb.ListRunsRow) Run {
	return toRun(sqlcdb.PipelineRun(row))
}

func toStageRun(row sqlcdb.StageRun) StageRun {
	s := StageRun{
		TenantID:  row.TenantID,
		RunID:     row.RunID,
		StageID:   row.StageID,
		Attempt:   int(row.Attempt),
		Status:    buildit.StageStatus(row.Status),
		StartedAt: row.StartedAt,
		EndedAt:   row.EndedAt,
		Error:     row.Error,
	}
	if row.ExitCode != nil {
		s.ExitCode = new(int(*row.ExitCode))
	}
	return s
}

// CountActiveRuns counts the runs of orgID's tenants that have not ended.
func (r RunRepo) CountActiveRuns(ctx context.Context, orgID uuid.UUID) (int, error) {
	n, err := r.h.q.CountActiveRuns(ctx, orgID)
	return int(n), wrap(err, "count active runs of organization %s", orgID)
}

// ListActiveRunsInGroup lists tenantID's runs in concurrency group that have
// not ended, oldest first.
func (r RunRepo) ListActiveRunsInGroup(ctx context.Context, tenantID uuid.UUID, group string) ([]Run, error) {
	rows, err := r.h.q.ListActiveRunsInGroup(ctx, sqlcdb.ListActiveRunsInGroupParams{TenantID: tenantID, ConcurrencyGroup: group})
	if err != nil {
		return nil, wrap(err, "list active runs of group %q", group)
	}
	out := make([]Run, len(rows))
	for i, row := range rows {
		out[i] = toRun(row)
	}
	return out, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func paramsJSON(p json.RawMessage) json.RawMessage {
	if len(p) == 0 {
		return json.RawMessage("{}")
	}
	return p
}

// LockOrgRuns holds, until the transaction ends, the lock that serializes
// the starts of orgID's runs: a count of its runs in progress taken after it
// stays true until the transaction's insert. Outside a transaction it does
// nothing useful.
func (r RunRepo) LockOrgRuns(ctx context.Context, orgID uuid.UUID) error {
	return wrap(r.h.q.LockOrgRuns(ctx, "runs:"+orgID.String()), "lock runs of organization %s", orgID)
}
