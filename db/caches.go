package db

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// Cache is a catalog record of a cache entry: an immutable archive of a
// tenant's pipeline on a branch, under a key.
type Cache struct {
	ID         uuid.UUID
	TenantID   uuid.UUID
	Pipeline   string
	Branch     string
	Key        string
	BlobKey    string
	Size       int64
	Digest     string
	Files      int
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// CacheScope is where cache entries live: a tenant's pipeline on a branch.
type CacheScope struct {
	TenantID uuid.UUID
	Pipeline string
	Branch   string
}

// MaxCacheList bounds what ListCaches returns.
const MaxCacheList = 1000

// FindCache returns the entry under key in scope, or else the newest whose
// key starts with one of prefixes (tried in order), and marks it used. It
// is ErrNotFound when there is none. Prefixes are compared as text: '%'
// and '_' in them are plain characters.
func (r ArtifactRepo) FindCache(ctx context.Context, s CacheScope, key string, prefixes []string) (Cache, error) {
	row, err := r.h.q.TouchCache(ctx, sqlcdb.TouchCacheParams{TenantID: s.TenantID, Pipeline: s.Pipeline, Branch: s.Branch, Key: key})
	if !errors.Is(translate(err), ErrNotFound) {
		return toCache(row), wrap(err, "find cache %q", key)
	}
	for _, p := range prefixes {
		row, err = r.h.q.TouchCacheByPrefix(ctx, sqlcdb.TouchCacheByPrefixParams{TenantID: s.TenantID, Pipeline: s.Pipeline, Branch: s.Branch, Prefix: p})
		if !errors.Is(translate(err), ErrNotFound) {
			return toCache(row), wrap(err, "find cache by prefix %q", p)
		}
	}
	return Cache{}, wrap(err, "find cache %q", key)
}

// AddCache records a new entry and answers true, or false when its key is
// taken in its scope already (entries are immutable; nothing is written).
func (r ArtifactRepo) AddCache(ctx context.Context, c Cache) (bool, error) {
	n, err := r.h.q.InsertCache(ctx, sqlcdb.InsertCacheParams{
		TenantID: c.TenantID, Pipeline: c.Pipeline, Branch: c.Branch, Key: c.Key,
		BlobKey: c.BlobKey, Size: c.Size, Digest: c.Digest, Files: int32(min(c.Files, 1<<31-1)), //nolint:gosec // bounded
	})
	if err != nil {
		return false, wrap(err, "add cache %q", c.Key)
	}
	return n == 1, nil
}

// ListCaches lists tenantID's entries (of one pipeline when pipeline is not
// ""), most recently used first, at most MaxCacheList.
func (r ArtifactRepo) ListCaches(ctx context.Context, tenantID uuid.UUID, pipeline string) ([]Cache, error) {
	rows, err := r.h.q.ListCaches(ctx, sqlcdb.ListCachesParams{TenantID: tenantID, Pipeline: pipeline, Lim: MaxCacheList})
	if err != nil {
		return nil, wrap(err, "list caches")
	}
	return toCaches(rows), nil
}

// DeleteCaches deletes entries of a tenant's pipeline (of one branch when
// s.Branch is not "", under one key when key is not "") and answers with
// them; their blobs are queued for deletion.
func (r ArtifactRepo) DeleteCaches(ctx context.Context, s CacheScope, key string) ([]Cache, error) {
	rows, err := r.h.q.DeleteCaches(ctx, sqlcdb.DeleteCachesParams{TenantID: s.TenantID, Pipeline: s.Pipeline, Branch: s.Branch, Key: key})
	if err != nil {
		return nil, wrap(err, "delete caches of pipeline %q", s.Pipeline)
	}
	return toCaches(rows), nil
}

// EvictCaches deletes tenantID's least recently used entries until they
// total at most maxBytes, and answers with them; their blobs are queued
// for deletion.
func (r ArtifactRepo) EvictCaches(ctx context.Context, tenantID uuid.UUID, maxBytes int64) ([]Cache, error) {
	rows, err := r.h.q.EvictCaches(ctx, sqlcdb.EvictCachesParams{TenantID: tenantID, MaxBytes: maxBytes})
	if err != nil {
		return nil, wrap(err, "evict caches")
	}
	return toCaches(rows), nil
}

func toCaches(rows []sqlcdb.Cach) []Cache {
	out := make([]Cache, len(rows))
	for i, row := range rows {
		out[i] = toCache(row)
	}
	return out
}

func toCache(row sqlcdb.Cach) Cache {
	return Cache{
		ID: row.ID, TenantID: row.TenantID, Pipeline: row.Pipeline, Branch: row.Branch, Key: row.Key,
		BlobKey: row.BlobKey, Size: row.Size, Digest: row.Digest, Files: int(row.Files),
		CreatedAt: row.CreatedAt, LastUsedAt: row.LastUsedAt,
	}
}
