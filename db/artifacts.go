package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// ArtifactQuotas is the artifact storage a tenant keeps at most, by its
// organization's plan. Enterprise is bounded too (1 TiB), so that one
// tenant cannot fill a shared store by mistake; an operator raises it here.
var ArtifactQuotas = map[Plan]int64{
	PlanFree:       1 << 30,
	PlanPro:        50 << 30,
	PlanEnterprise: 1 << 40,
}

// ArtifactQuotaError says an artifact would put its tenant over its plan's
// quota; nothing was recorded.
type ArtifactQuotaError struct {
	Plan  Plan
	Limit int64
	Used  int64
}

func (e *ArtifactQuotaError) Error() string {
	return fmt.Sprintf("artifact storage of plan %s is %d bytes (used %d)", e.Plan, e.Limit, e.Used)
}

// Artifact is a catalog record of an archive a stage of a run kept.
type Artifact struct {
	ID        uuid.UUID
	TenantID  uuid.UUID
	RunID     uuid.UUID
	StageID   string
	Name      string
	BlobKey   string
	Size      int64
	Digest    string
	Files     int
	CreatedAt time.Time
	ExpiresAt time.Time
}

// NewArtifact is what PutArtifact needs. Run is the run's workflow ID
// (pipeline_runs.workflow_id, what the engine knows as its run ID) or the
// ID of its row.
type NewArtifact struct {
	Run     string
	StageID string
	Name    string
	BlobKey string
	Size    int64
	Digest  string
	Files   int
}

// ArtifactUsage is what a tenant keeps and may keep.
type ArtifactUsage struct {
	Plan  Plan
	Used  int64
	Limit int64
}

// Over reports whether the tenant is at or over its quota.
func (u ArtifactUsage) Over() bool { return u.Used >= u.Limit }

// BlobDeletion is a blob whose row is gone, queued for deletion from the
// blob store.
type BlobDeletion struct {
	ID       int64
	TenantID uuid.UUID
	BlobKey  string
	Attempts int
}

// ArtifactRepo holds the artifact and cache catalog, and the queue of
// blobs to delete.
type ArtifactRepo struct{ h handle }

// PutArtifact records an artifact of tenantID's run, replacing a record of
// the same run, stage and name (a retried attempt; the old blob is queued
// for deletion when it differs). It fails with an *ArtifactQuotaError when
// the tenant's artifacts would then total more than its plan's quota, and
// with ErrNotFound when the tenant has no such run. The tenant's row is
// locked while it checks and inserts, so that concurrent writers of one
// tenant cannot both take the last place.
func (r ArtifactRepo) PutArtifact(ctx context.Context, tenantID uuid.UUID, a NewArtifact) (Artifact, error) {
	var out Artifact
	err := r.h.atomic(ctx, func(h handle) error {
		if _, err := h.q.LockTenantArtifacts(ctx, tenantID); err != nil {
			return err
		}
		u, err := h.q.ArtifactUsage(ctx, tenantID)
		if err != nil {
			return err
		}
		replaced, err := h.q.ReplacedArtifactSize(ctx, sqlcdb.ReplacedArtifactSizeParams{TenantID: tenantID, Run: a.Run, StageID: a.StageID, Name: a.Name})
		if err != nil {
			return err
		}
		plan := Plan(u.Plan)
		if limit, ok := ArtifactQuotas[plan]; ok && u.Used-replaced+a.Size > limit {
			return &ArtifactQuotaError{Plan: plan, Limit: limit, Used: u.Used}
		}
		row, err := h.q.PutArtifact(ctx, sqlcdb.PutArtifactParams{
			TenantID: tenantID, Run: a.Run, StageID: a.StageID, Name: a.Name,
			BlobKey: a.BlobKey, Size: a.Size, Digest: a.Digest, Files: int32(min(a.Files, 1<<31-1)), //nolint:gosec // bounded
		})
		out = toArtifact(row)
		return err
	})
	var q *ArtifactQuotaError
	if errors.As(err, &q) {
		return Artifact{}, q
	}
	return out, wrap(err, "record artifact %q of stage %s", a.Name, a.StageID)
}

// ListArtifacts lists the artifacts of tenantID's run (by workflow ID or
// row ID), by stage and name.
func (r ArtifactRepo) ListArtifacts(ctx context.Context, tenantID uuid.UUID, run string) ([]Artifact, error) {
	rows, err := r.h.q.ListArtifactsOfRun(ctx, sqlcdb.ListArtifactsOfRunParams{TenantID: tenantID, Run: run})
	if err != nil {
		return nil, wrap(err, "list artifacts of run %s", run)
	}
	out := make([]Artifact, len(rows))
	for i, row := range rows {
		out[i] = toArtifact(row)
	}
	return out, nil
}

// GetArtifact returns the artifact of tenantID's run named name (the
// newest, should two stages have kept one of that name).
func (r ArtifactRepo) GetArtifact(ctx context.Context, tenantID, runID uuid.UUID, name string) (Artifact, error) {
	row, err := r.h.q.GetArtifactByName(ctx, sqlcdb.GetArtifactByNameParams{TenantID: tenantID, RunID: runID, Name: name})
	return toArtifact(row), wrap(err, "get artifact %q", name)
}

// DeleteArtifact deletes tenantID's artifact record id and queues its blob.
func (r ArtifactRepo) DeleteArtifact(ctx context.Context, tenantID, id uuid.UUID) error {
	return wrap(affected(r.h.q.DeleteArtifact(ctx, sqlcdb.DeleteArtifactParams{TenantID: tenantID, ID: id})), "delete artifact %s", id)
}

// Usage returns what tenantID's artifacts total and its plan's quota.
func (r ArtifactRepo) Usage(ctx context.Context, tenantID uuid.UUID) (ArtifactUsage, error) {
	row, err := r.h.q.ArtifactUsage(ctx, tenantID)
	if err != nil {
		return ArtifactUsage{}, wrap(err, "artifact usage of tenant %s", tenantID)
	}
	u := ArtifactUsage{Plan: Plan(row.Plan), Used: row.Used, Limit: 1<<63 - 1}
	if l, ok := ArtifactQuotas[u.Plan]; ok {
		u.Limit = l
	}
	return u, nil
}

// DeleteExpired deletes at most limit artifact records (of every tenant)
// whose expiry is at or before now, queueing their blobs, and answers how
// many it deleted. It is the retention sweeper's, not a tenant's request.
func (r ArtifactRepo) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	rows, err := r.h.q.DeleteExpiredArtifacts(ctx, sqlcdb.DeleteExpiredArtifactsParams{Now: now, Lim: int32(min(limit, 1<<31-1))}) //nolint:gosec // bounded
	return len(rows), wrap(err, "delete expired artifacts")
}

// BlobDeletions drops queued blobs that a row uses again, then returns at
// most limit queued blobs (of every tenant), oldest first.
func (r ArtifactRepo) BlobDeletions(ctx context.Context, limit int) ([]BlobDeletion, error) {
	if _, err := r.h.q.DropReferencedBlobDeletions(ctx); err != nil {
		return nil, wrap(err, "drop blob deletions in use")
	}
	rows, err := r.h.q.ListBlobDeletions(ctx, int32(min(limit, 1<<31-1))) //nolint:gosec // bounded
	if err != nil {
		return nil, wrap(err, "list blob deletions")
	}
	out := make([]BlobDeletion, len(rows))
	for i, row := range rows {
		out[i] = BlobDeletion{ID: row.ID, TenantID: row.TenantID, BlobKey: row.BlobKey, Attempts: int(row.Attempts)}
	}
	return out, nil
}

// BlobDeleted removes a queued blob deletion once the blob is gone.
func (r ArtifactRepo) BlobDeleted(ctx context.Context, d BlobDeletion) error {
	return wrap(r.h.q.DoneBlobDeletion(ctx, sqlcdb.DoneBlobDeletionParams{TenantID: d.TenantID, ID: d.ID}), "blob deletion %d", d.ID)
}

// BlobDeleteFailed counts a failed attempt at a queued blob deletion; it
// stays queued.
func (r ArtifactRepo) BlobDeleteFailed(ctx context.Context, d BlobDeletion, why string) error {
	return wrap(r.h.q.FailBlobDeletion(ctx, sqlcdb.FailBlobDeletionParams{TenantID: d.TenantID, ID: d.ID, LastError: why}), "blob deletion %d", d.ID)
}

func toArtifact(row sqlcdb.Artifact) Artifact {
	return Artifact{
		ID: row.ID, TenantID: row.TenantID, RunID: row.RunID, StageID: row.StageID, Name: row.Name,
		BlobKey: row.BlobKey, Size: row.Size, Digest: row.Digest, Files: int(row.Files),
		CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt,
	}
}
