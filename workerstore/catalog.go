package workerstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/artifact"
	"github.com/buildit-ci/buildit/db"
)

// Catalog is the artifact.Catalog of server mode, on Postgres. A Scope's
// Tenant is the tenant's ID. A buildit.Artifact's RunID is the run's
// workflow ID (workflows.RunInput.RunID, which runclient sets to
// pipeline_runs.workflow_id); the catalog finds the run's row by it, within
// the tenant, and takes the row's ID too, so that a caller holding a
// RunRef.RunID finds the same run.
type Catalog struct{ Store *db.Store }

var _ artifact.Catalog = Catalog{}

func tenantOf(s artifact.Scope) (uuid.UUID, error) {
	id, err := uuid.Parse(s.Tenant)
	if err != nil {
		return uuid.Nil, fmt.Errorf("artifact scope: tenant %q is not a tenant ID", s.Tenant)
	}
	return id, nil
}

func cacheScope(s artifact.CacheScope) (db.CacheScope, error) {
	id, err := tenantOf(artifact.Scope{Tenant: s.Tenant})
	return db.CacheScope{TenantID: id, Pipeline: s.Pipeline, Branch: s.Branch}, err
}

// notFound turns db.ErrNotFound into artifact.ErrNotFound, keeping the
// message.
func notFound(err error) error {
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("%w: %w", artifact.ErrNotFound, err)
	}
	return err
}

// AddArtifact implements artifact.Catalog. An artifact that would put the
// tenant over its plan's quota is an *artifact.QuotaError, and nothing is
// recorded.
func (c Catalog) AddArtifact(ctx context.Context, s artifact.Scope, a buildit.Artifact) error {
	tenant, err := tenantOf(s)
	if err != nil {
		return err
	}
	_, err = waitForDB(ctx, func() (db.Artifact, error) {
		return c.Store.Artifacts().PutArtifact(ctx, tenant, db.NewArtifact{
			Run: a.RunID, StageID: a.Stage, Name: a.Name, BlobKey: a.Key, Size: a.Size, Digest: a.Digest, Files: a.Files,
		})
	})
	var q *db.ArtifactQuotaError
	if errors.As(err, &q) {
		return &artifact.QuotaError{Plan: string(q.Plan), Limit: q.Limit, Used: q.Used}
	}
	return notFound(err)
}

// Artifacts implements artifact.Catalog; runID is the run's workflow ID
// (or its row's ID).
func (c Catalog) Artifacts(ctx context.Context, s artifact.Scope, runID string) ([]buildit.Artifact, error) {
	tenant, err := tenantOf(s)
	if err != nil {
		return nil, err
	}
	rows, err := waitForDB(ctx, func() ([]db.Artifact, error) { return c.Store.Artifacts().ListArtifacts(ctx, tenant, runID) })
	if err != nil {
		return nil, err
	}
	out := make([]buildit.Artifact, len(rows))
	for i, a := range rows {
		out[i] = buildit.Artifact{Name: a.Name, Stage: a.StageID, RunID: runID, Key: a.BlobKey, Size: a.Size, Digest: a.Digest, Files: a.Files}
	}
	return out, nil
}

// FindCache implements artifact.Catalog.
func (c Catalog) FindCache(ctx context.Context, s artifact.CacheScope, key string, prefixes []string) (artifact.CacheEntry, error) {
	sc, err := cacheScope(s)
	if err != nil {
		return artifact.CacheEntry{}, err
	}
	e, err := waitForDB(ctx, func() (db.Cache, error) { return c.Store.Artifacts().FindCache(ctx, sc, key, prefixes) })
	if err != nil {
		return artifact.CacheEntry{}, notFound(err)
	}
	return cacheEntry(s.Tenant, e), nil
}

// AddCache implements artifact.Catalog.
func (c Catalog) AddCache(ctx context.Context, e artifact.CacheEntry) (bool, error) {
	sc, err := cacheScope(e.CacheScope)
	if err != nil {
		return false, err
	}
	return waitForDB(ctx, func() (bool, error) {
		return c.Store.Artifacts().AddCache(ctx, db.Cache{
			TenantID: sc.TenantID, Pipeline: e.Pipeline, Branch: e.Branch, Key: e.Key,
			BlobKey: e.BlobKey, Size: e.Size, Digest: e.Digest, Files: e.Files,
		})
	})
}

// Caches implements artifact.Catalog (at most db.MaxCacheList entries).
func (c Catalog) Caches(ctx context.Context, s artifact.Scope, pipeline string) ([]artifact.CacheEntry, error) {
	tenant, err := tenantOf(s)
	if err != nil {
		return nil, err
	}
	rows, err := c.Store.Artifacts().ListCaches(ctx, tenant, pipeline)
	return cacheEntries(s.Tenant, rows), err
}

// DeleteCache implements artifact.Catalog. A scope with Branch "" means
// every branch of the pipeline.
func (c Catalog) DeleteCache(ctx context.Context, s artifact.CacheScope, key string) ([]artifact.CacheEntry, error) {
	sc, err := cacheScope(s)
	if err != nil {
		return nil, err
	}
	rows, err := c.Store.Artifacts().DeleteCaches(ctx, sc, key)
	return cacheEntries(s.Tenant, rows), err
}

// EvictCaches implements artifact.Catalog.
func (c Catalog) EvictCaches(ctx context.Context, s artifact.Scope, maxBytes int64) ([]artifact.CacheEntry, error) {
	tenant, err := tenantOf(s)
	if err != nil {
		return nil, err
	}
	rows, err := waitForDB(ctx, func() ([]db.Cache, error) { return c.Store.Artifacts().EvictCaches(ctx, tenant, maxBytes) })
	return cacheEntries(s.Tenant, rows), err
}

func cacheEntries(tenant string, rows []db.Cache) []artifact.CacheEntry {
	out := make([]artifact.CacheEntry, len(rows))
	for i, r := range rows {
		out[i] = cacheEntry(tenant, r)
	}
	return out
}

func cacheEntry(tenant string, r db.Cache) artifact.CacheEntry {
	return artifact.CacheEntry{
		CacheScope: artifact.CacheScope{Tenant: tenant, Pipeline: r.Pipeline, Branch: r.Branch},
		Key:        r.Key, BlobKey: r.BlobKey, Size: r.Size, Digest: r.Digest, Files: r.Files,
		Created: r.CreatedAt, LastUsed: r.LastUsedAt,
	}
}
