package db

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// Pipeline is a tenant's pipeline: its KDL source and the plan computed from
// it, at a version that grows by one with every change.
type Pipeline struct {
	ID       uuid.UUID
	TenantID uuid.UUID
	Name     string
	Source   string
	// Plan is the execution plan as JSON, opaque to this package.
	Plan      json.RawMessage
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
	// RepositoryID is the connected repository the pipeline comes from,
	// nil for one stored through the API only; RepositoryPath is its file
	// there.
	RepositoryID   *uuid.UUID
	RepositoryPath string
}

// PipelineSpec is a pipeline's content: what Create and Put take.
type PipelineSpec struct {
	Name   string
	Source string
	Plan   json.RawMessage
}

// PipelineRepo holds pipelines (their runs are RunRepo's, the runs' logs
// LogRepo's).
type PipelineRepo struct{ h handle }

// Create creates a pipeline at version 1. A name taken in the tenant is an
// ErrConflict.
func (r PipelineRepo) Create(ctx context.Context, tenantID uuid.UUID, p PipelineSpec) (Pipeline, error) {
	row, err := r.h.q.CreatePipeline(ctx, sqlcdb.CreatePipelineParams{TenantID: tenantID, Name: p.Name, Source: p.Source, Plan: planJSON(p.Plan)})
	return toPipeline(row), wrap(err, "create pipeline %q", p.Name)
}

// Put creates the pipeline or replaces its source and plan, adding one to
// its version; created reports which.
func (r PipelineRepo) Put(ctx context.Context, tenantID uuid.UUID, p PipelineSpec) (_ Pipeline, created bool, _ error) {
	row, err := r.h.q.PutPipeline(ctx, sqlcdb.PutPipelineParams{TenantID: tenantID, Name: p.Name, Source: p.Source, Plan: planJSON(p.Plan)})
	if err != nil {
		return Pipeline{}, false, wrap(err, "put pipeline %q", p.Name)
	}
	return Pipeline{
		ID:        row.ID,
		TenantID:  row.TenantID,
		Name:      row.Name,
		Source:    row.Source,
		Plan:      row.Plan,
		Version:   int(row.Version),
		CreatedAt: row.CreatedAt,
		UpdatedAt: row.UpdatedAt,

		RepositoryID:   row.RepositoryID,
		RepositoryPath: row.RepositoryPath,
	}, row.Inserted, nil
}

// Update replaces an existing pipeline's source and plan, adding one to its
// version. With ifVersion > 0 it changes the pipeline only at that version:
// at another one it fails with ErrVersionMismatch (optimistic locking).
func (r PipelineRepo) Update(ctx context.Context, tenantID uuid.UUID, name, source string, plan json.RawMessage, ifVersion int) (Pipeline, error) {
	row, err := r.h.q.UpdatePipeline(ctx, sqlcdb.UpdatePipelineParams{
		TenantID: tenantID, Name: name, Source: source, Plan: planJSON(plan), IfVersion: int32(ifVersion),
	})
	if err == nil {
		return toPipeline(row), nil
	}
	if ifVersion > 0 && errors.Is(err, pgx.ErrNoRows) {
		if _, getErr := r.h.q.GetPipeline(ctx, sqlcdb.GetPipelineParams{TenantID: tenantID, Name: name}); getErr == nil {
			err = ErrVersionMismatch
		}
	}
	return Pipeline{}, wrap(err, "update pipeline %q", name)
}

// Get returns tenantID's pipeline name.
func (r PipelineRepo) Get(ctx context.Context, tenantID uuid.UUID, name string) (Pipeline, error) {
	row, err := r.h.q.GetPipeline(ctx, sqlcdb.GetPipelineParams{TenantID: tenantID, Name: name})
	return toPipeline(row), wrap(err, "get pipeline %q", name)
}

// GetByID returns tenantID's pipeline with id.
func (r PipelineRepo) GetByID(ctx context.Context, tenantID, id uuid.UUID) (Pipeline, error) {
	row, err := r.h.q.GetPipelineByID(ctx, sqlcdb.GetPipelineByIDParams{TenantID: tenantID, ID: id})
	return toPipeline(row), wrap(err, "get pipeline %s", id)
}

// List lists a tenant's pipelines by name, without their Source and Plan
// (Get has them).
func (r PipelineRepo) List(ctx context.Context, tenantID uuid.UUID, after string, limit int) (Page[Pipeline], error) {
	from, err := decodeNameCursor(after)
	if err != nil {
		return Page[Pipeline]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListPipelines(ctx, sqlcdb.ListPipelinesParams{TenantID: tenantID, After: from, Lim: int32(size + 1)})
	if err != nil {
		return Page[Pipeline]{}, wrap(err, "list pipelines of tenant %s", tenantID)
	}
	return pageOf(rows, size, func(row sqlcdb.ListPipelinesRow) Pipeline {
		return Pipeline{ID: row.ID, TenantID: row.TenantID, Name: row.Name, Version: int(row.Version), CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt}
	}, func(row sqlcdb.ListPipelinesRow) string { return nameCursor(row.Name) }), nil
}

// Delete deletes tenantID's pipeline name with its runs and their logs.
func (r PipelineRepo) Delete(ctx context.Context, tenantID uuid.UUID, name string) error {
	n, err := r.h.q.DeletePipeline(ctx, sqlcdb.DeletePipelineParams{TenantID: tenantID, Name: name})
	return wrap(affected(n, err), "delete pipeline %q", name)
}

// Count returns the number of a tenant's pipelines.
func (r PipelineRepo) Count(ctx context.Context, tenantID uuid.UUID) (int, error) {
	n, err := r.h.q.CountPipelines(ctx, tenantID)
	return int(n), wrap(err, "count pipelines of tenant %s", tenantID)
}

// planJSON stores an absent plan as an empty object.
func planJSON(plan json.RawMessage) json.RawMessage {
	if len(plan) == 0 {
		return json.RawMessage("{}")
	}
	return plan
}

func toPipeline(row sqlcdb.Pipeline) Pipeline {
	return Pipeline{
		ID:        row.ID,
		TenantID:  row.TenantID,
		Name:      row.Name,
		Source:    row.Source,
		Plan:      row.Plan,
		Version:   int(row.Version),
		CreatedAt: row.CreatedAt,
		UpdatedAt: row.UpdatedAt,

		RepositoryID:   row.RepositoryID,
		RepositoryPath: row.RepositoryPath,
	}
}
