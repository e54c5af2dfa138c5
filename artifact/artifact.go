// Package artifact keeps what stages hand on: artifacts (archives a stage
// keeps after an attempt, restored into the workspaces of the stages that
// need it, downloadable afterwards) and caches (archives kept between runs
// under a key). The archives live in a blob store (package blobstore); a
// Catalog records what is there: Postgres in server mode, the blob store
// itself for local runs.
package artifact

import (
	"context"
	"errors"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/blobstore"
)

// ErrNotFound reports that the catalog holds no such artifact or cache
// entry.
var ErrNotFound = errors.New("not found")

// LocalTenant is the tenant of local runs (buildit run), which have none.
const LocalTenant = "local"

// Scope is the tenant whose blobs are meant: every key and every catalog
// query is namespaced by it. Tenant is the tenant's ID (a UUID) in server
// mode and LocalTenant for local runs.
type Scope struct {
	Tenant string `json:"tenant"`
}

// CacheScope is where a cache entry lives: a tenant's pipeline on a
// branch. A run reads its own branch's entries, then its default
// branch's; it writes only its own branch's.
type CacheScope struct {
	Tenant   string `json:"tenant"`
	Pipeline string `json:"pipeline"`
	Branch   string `json:"branch"`
}

// CacheEntry is one saved cache: an immutable archive under a key.
type CacheEntry struct {
	CacheScope
	Key      string    `json:"key"`
	BlobKey  string    `json:"blob_key"`
	Size     int64     `json:"size"`
	Digest   string    `json:"digest"`
	Files    int       `json:"files"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
}

// Catalog records what the blob store holds. Every method is scoped by
// tenant: an implementation answers nothing of another tenant's.
type Catalog interface {
	// AddArtifact records an artifact a stage of a run kept; a second
	// record of the same run, stage and name replaces the first (a
	// retried attempt).
	AddArtifact(ctx context.Context, s Scope, a buildit.Artifact) error
	// Artifacts lists a run's artifacts, by stage and name.
	Artifacts(ctx context.Context, s Scope, runID string) ([]buildit.Artifact, error)

	// FindCache answers with the entry under key in scope, or else the
	// newest whose key starts with one of prefixes (tried in order), and
	// marks it used; ErrNotFound when none.
	FindCache(ctx context.Context, s CacheScope, key string, prefixes []string) (CacheEntry, error)
	// AddCache records a new entry. Entries are immutable: when key is
	// taken already (another run saved it first) it answers false and
	// records nothing, and the caller deletes its blob.
	AddCache(ctx context.Context, e CacheEntry) (bool, error)
	// Caches lists a tenant's entries (of one pipeline when pipeline is
	// not ""), most recently used first.
	Caches(ctx context.Context, s Scope, pipeline string) ([]CacheEntry, error)
	// DeleteCache removes entries (and answers with them, so that the
	// caller deletes their blobs): one key of a scope, or every entry of
	// a pipeline when key is "".
	DeleteCache(ctx context.Context, s CacheScope, key string) ([]CacheEntry, error)
	// EvictCaches removes the least recently used entries of a tenant
	// until its entries total at most maxBytes, and answers with them.
	EvictCaches(ctx context.Context, s Scope, maxBytes int64) ([]CacheEntry, error)
}

// Service saves and restores a run's artifacts and caches: the blob store,
// the catalog and their limits. The stage activities use it; the API reads
// through its Store and Catalog.
type Service struct {
	Store   *blobstore.Store
	Catalog Catalog
	// CacheMaxBytes bounds a tenant's caches in all (least recently used
	// evicted first); zero means DefaultCacheMaxBytes.
	CacheMaxBytes int64
}

// DefaultCacheMaxBytes is Service.CacheMaxBytes's default: 10 GiB, as
// GitHub Actions gives a repository.
const DefaultCacheMaxBytes = 10 << 30
