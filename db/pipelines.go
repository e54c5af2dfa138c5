package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// PipelineSpec is a pipeline's content: what Create, Put and Update take.
type PipelineSpec struct {
	Name   string
	Source string
	Plan   json.RawMessage
	// Repository links a pipeline stored through the API to a connected
	// repository of its tenant, whose webhooks then run it. A repository's
	// own files link theirs through RepositoryPipeline, which ignores it.
	Repository RepositoryLink
}

// RepositoryLink is what a change through the API does to the pipeline's
// connected repository.
type RepositoryLink struct {
	// Set is false to keep the repository the pipeline has (a new one has
	// none).
	Set bool
	// ID is the repository, nil for none. It must be a repository of the
	// pipeline's tenant: another tenant's, or an unknown one, is an
	// ErrNoRepository.
	ID *uuid.UUID
}

// Errors of changes to pipelines through the API.
var (
	// ErrNoRepository: a RepositoryLink names no repository of the
	// tenant (none at all, or another tenant's). It is also an ErrInvalid.
	ErrNoRepository = fmt.Errorf("%w: no such repository in the tenant", ErrInvalid)
	// ErrRepositoryFile: the pipeline is read from a file of a connected
	// repository, whose pushes change it, not the API. It is also an
	// ErrConflict.
	ErrRepositoryFile = fmt.Errorf("%w: the pipeline is read from a connected repository's file", ErrConflict)
)

// repositoryFKey is the constraint that keeps a pipeline's repository in
// its tenant: a violation (the repository disconnected while the change
// was made) is an ErrNoRepository too.
const repositoryFKey = "pipelines_repository_fkey"

// PipelineRepo holds pipelines (their runs are RunRepo's, the runs' logs
// LogRepo's).
type PipelineRepo struct{ h handle }

// Create creates a pipeline at version 1, linked to p.Repository.ID if
// set. A name taken in the tenant is an ErrConflict; a repository that is
// not the tenant's an ErrNoRepository.
func (r PipelineRepo) Create(ctx context.Context, tenantID uuid.UUID, p PipelineSpec) (Pipeline, error) {
	row, err := r.h.q.CreatePipeline(ctx, sqlcdb.CreatePipelineParams{
		TenantID: tenantID, Name: p.Name, Source: p.Source, Plan: planJSON(p.Plan), RepositoryID: p.Repository.ID,
	})
	if errors.Is(err, pgx.ErrNoRows) || Constraint(translate(err)) == repositoryFKey {
		err = ErrNoRepository
	}
	return toPipeline(row), wrap(err, "create pipeline %q", p.Name)
}

// Put creates the pipeline or replaces its source and plan, adding one to
// its version; created reports which. p.Repository sets its repository
// (an ErrNoRepository when that is not the tenant's). A pipeline read from a
// connected repository's file is not replaced: an ErrRepositoryFile.
func (r PipelineRepo) Put(ctx context.Context, tenantID uuid.UUID, p PipelineSpec) (_ Pipeline, created bool, _ error) {
	row, err := r.h.q.PutPipeline(ctx, sqlcdb.PutPipelineParams{
		TenantID: tenantID, Name: p.Name, Source: p.Source, Plan: planJSON(p.Plan),
		SetRepository: p.Repository.Set, RepositoryID: p.Repository.ID,
	})
	if err != nil {
		return Pipeline{}, false, wrap(r.refused(ctx, tenantID, p.Name, true, 0, err), "put pipeline %q", p.Name)
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

// Update replaces the source and plan of the existing pipeline p.Name,
// adding one to its version, and sets its repository as Put does. With
// ifVersion > 0 it changes the pipeline only at that version: at another
// one it fails with ErrVersionMismatch (optimistic locking). Put's
// ErrNoRepository and ErrRepositoryFile apply.
func (r PipelineRepo) Update(ctx context.Context, tenantID uuid.UUID, p PipelineSpec, ifVersion int) (Pipeline, error) {
	row, err := r.h.q.UpdatePipeline(ctx, sqlcdb.UpdatePipelineParams{
		TenantID: tenantID, Name: p.Name, Source: p.Source, Plan: planJSON(p.Plan), IfVersion: int32(ifVersion),
		SetRepository: p.Repository.Set, RepositoryID: p.Repository.ID,
	})
	if err == nil {
		return toPipeline(row), nil
	}
	return Pipeline{}, wrap(r.refused(ctx, tenantID, p.Name, false, ifVersion, err), "update pipeline %q", p.Name)
}

// refused tells why a Put (put) or an Update of pipeline name changed no
// row (err is pgx.ErrNoRows; others are returned as they are, a violation
// of the repository's foreign key as ErrNoRepository): an Update's
// pipeline is missing (ErrNotFound), the pipeline is read from a connected
// repository's file (ErrRepositoryFile) or at another version than
// ifVersion (ErrVersionMismatch), or else the repository it was to be
// linked to is not the tenant's (ErrNoRepository).
func (r PipelineRepo) refused(ctx context.Context, tenantID uuid.UUID, name string, put bool, ifVersion int, err error) error {
	if Constraint(translate(err)) == repositoryFKey {
		return ErrNoRepository
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	row, getErr := r.h.q.GetPipeline(ctx, sqlcdb.GetPipelineParams{TenantID: tenantID, Name: name})
	switch {
	case errors.Is(getErr, pgx.ErrNoRows):
		if put {
			// Put inserts a missing pipeline: no row is the repository's
			// doing.
			return ErrNoRepository
		}
		return ErrNotFound
	case getErr != nil:
		return getErr
	case row.RepositoryPath != "" && row.RepositoryID != nil:
		return ErrRepositoryFile
	case ifVersion > 0 && int(row.Version) != ifVersion:
		return ErrVersionMismatch
	}
	return ErrNoRepository
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
		return Pipeline{
			ID: row.ID, TenantID: row.TenantID, Name: row.Name, Version: int(row.Version), CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt,
			RepositoryID: row.RepositoryID, RepositoryPath: row.RepositoryPath,
		}
	}, func(row sqlcdb.ListPipelinesRow) string { return nameCursor(row.Name) }), nil
}

// ListForRepository returns a page of tenantID's pipelines stored through
// the API that name repository repositoryID (not the pipelines read from
// its files), by name after after (a name; "" for the first page), with
// their Source and Plan: the webhooks of the repository run them.
func (r PipelineRepo) ListForRepository(ctx context.Context, tenantID, repositoryID uuid.UUID, after string, limit int) ([]Pipeline, error) {
	rows, err := r.h.q.ListRepositoryAPIPipelines(ctx, sqlcdb.ListRepositoryAPIPipelinesParams{
		TenantID: tenantID, RepositoryID: &repositoryID, After: after, Lim: int32(pageSize(limit)),
	})
	if err != nil {
		return nil, wrap(err, "list the pipelines naming repository %s", repositoryID)
	}
	out := make([]Pipeline, 0, len(rows))
	for _, row := range rows {
		out = append(out, toPipeline(row))
	}
	return out, nil
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

// TriggerSettings are the parts of a pipeline's plan that say how it may be
// run by hand: its `on` and `inputs` as the plan's JSON has them (null
// when the plan has none).
type TriggerSettings struct {
	On     json.RawMessage
	Inputs json.RawMessage
}

// TriggerSettings returns the TriggerSettings of tenantID's pipelines in
// ids, by ID: what List leaves out with the plans, for a page of them.
func (r PipelineRepo) TriggerSettings(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]TriggerSettings, error) {
	out := make(map[uuid.UUID]TriggerSettings, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := r.h.q.PipelineTriggerSettings(ctx, sqlcdb.PipelineTriggerSettingsParams{TenantID: tenantID, Ids: ids})
	if err != nil {
		return nil, wrap(err, "trigger settings of %d pipelines", len(ids))
	}
	for _, row := range rows {
		out[row.ID] = TriggerSettings{On: row.TriggerOn, Inputs: row.Inputs}
	}
	return out, nil
}
