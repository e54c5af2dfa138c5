package db

import (
	"context"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// Lookup returns the tenant with id, whatever its organization. It is for
// the server's own workflows (a schedule's run), which hold only IDs that
// BuildIt itself wrote; a request's tenant is found with Get or GetByID,
// under its organization.
func (r TenantRepo) Lookup(ctx context.Context, id uuid.UUID) (Tenant, error) {
	row, err := r.h.q.LookupTenant(ctx, id)
	return toTenant(row), wrap(err, "look up tenant %s", id)
}

// MaxScheduledPipelines bounds ListScheduled.
const MaxScheduledPipelines = 1000

// ListScheduled lists the tenant's pipelines that have schedules, by
// name, at most MaxScheduledPipelines. Their Plan holds only the plan's
// `on` ({"on": …}) and their Source is empty.
func (r PipelineRepo) ListScheduled(ctx context.Context, tenantID uuid.UUID) ([]Pipeline, error) {
	rows, err := r.h.q.ListScheduledPipelines(ctx, sqlcdb.ListScheduledPipelinesParams{TenantID: tenantID, Lim: MaxScheduledPipelines})
	if err != nil {
		return nil, wrap(err, "list scheduled pipelines")
	}
	out := make([]Pipeline, 0, len(rows))
	for _, row := range rows {
		out = append(out, Pipeline{ID: row.ID, TenantID: row.TenantID, Name: row.Name, Plan: row.Plan,
			Version: int(row.Version), CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt})
	}
	return out, nil
}
