package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/blobstore"
)

// NewBlobCatalog is the Catalog of local runs (buildit run, buildit
// cache): small JSON objects in the blob store itself, under each
// tenant's prefix ("tenants/<tenant>/catalog/"), one per artifact and one
// per cache entry. Listing reads every object of a tenant's catalog, which
// suits the few hundred entries of one machine; server mode keeps its
// catalog in Postgres.
//
// One process serializes its own writes. Two processes saving one cache
// key at the same instant may both record it (the blob store has no
// conditional write): the last record wins and the other's blob is left
// behind, unread: nothing is corrupted, some space is lost.
func NewBlobCatalog(store *blobstore.Store) Catalog {
	return &blobCatalog{store: store}
}

type blobCatalog struct {
	store *blobstore.Store
	mu    sync.Mutex
}

func catalogPrefix(tenant string) string { return TenantPrefix(tenant) + "catalog/" }

func artifactIndexPrefix(s Scope, runID string) string {
	return catalogPrefix(s.Tenant) + "artifacts/" + hashed(runID) + "/"
}

func cacheIndexPrefix(s CacheScope) string {
	return catalogPrefix(s.Tenant) + "caches/" + hashed(s.Pipeline) + "/" + hashed(s.Branch) + "/"
}

func cacheIndexKey(s CacheScope, key string) string {
	return cacheIndexPrefix(s) + hashed(key) + ".json"
}

func (c *blobCatalog) put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = c.store.Put(ctx, key, bytes.NewReader(b))
	return err
}

func (c *blobCatalog) get(ctx context.Context, key string, v any) error {
	r, err := c.store.Get(ctx, key, blobstore.Object{})
	if errors.Is(err, blobstore.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("catalog object %s: %w", key, err)
	}
	return nil
}

// list reads every JSON object under prefix into a T.
func list[T any](ctx context.Context, c *blobCatalog, prefix string) ([]T, []string, error) {
	var out []T
	var keys []string
	err := c.store.List(ctx, prefix, func(o blobstore.Object) (bool, error) {
		if !strings.HasSuffix(o.Key, ".json") {
			return true, nil
		}
		var v T
		if err := c.get(ctx, o.Key, &v); err != nil {
			if errors.Is(err, ErrNotFound) { // deleted meanwhile
				return true, nil
			}
			return false, err
		}
		out = append(out, v)
		keys = append(keys, o.Key)
		return true, nil
	})
	return out, keys, err
}

func (c *blobCatalog) AddArtifact(ctx context.Context, s Scope, a buildit.Artifact) error {
	if err := CheckID(s.Tenant); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.put(ctx, artifactIndexPrefix(s, a.RunID)+hashed(a.Stage, a.Name)+".json", a)
}

func (c *blobCatalog) Artifacts(ctx context.Context, s Scope, runID string) ([]buildit.Artifact, error) {
	if err := CheckID(s.Tenant); err != nil {
		return nil, err
	}
	as, _, err := list[buildit.Artifact](ctx, c, artifactIndexPrefix(s, runID))
	slices.SortFunc(as, func(a, b buildit.Artifact) int {
		return cmp2(a.Stage, b.Stage, a.Name, b.Name)
	})
	return as, err
}

func cmp2(a1, b1, a2, b2 string) int {
	if c := strings.Compare(a1, b1); c != 0 {
		return c
	}
	return strings.Compare(a2, b2)
}

func (c *blobCatalog) FindCache(ctx context.Context, s CacheScope, key string, prefixes []string) (CacheEntry, error) {
	if err := CheckID(s.Tenant); err != nil {
		return CacheEntry{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var e CacheEntry
	err := c.get(ctx, cacheIndexKey(s, key), &e)
	if errors.Is(err, ErrNotFound) && len(prefixes) > 0 {
		var all []CacheEntry
		all, _, err = list[CacheEntry](ctx, c, cacheIndexPrefix(s))
		if err != nil {
			return CacheEntry{}, err
		}
		err = ErrNotFound
	prefixes:
		for _, p := range prefixes {
			found := false
			for _, cand := range all {
				if cand.CacheScope == s && strings.HasPrefix(cand.Key, p) && (!found || cand.Created.After(e.Created)) {
					e, found = cand, true
				}
			}
			if found {
				err = nil
				break prefixes
			}
		}
	}
	if err != nil {
		return CacheEntry{}, err
	}
	e.LastUsed = time.Now().UTC()
	if err := c.put(ctx, cacheIndexKey(s, e.Key), e); err != nil {
		return CacheEntry{}, err
	}
	return e, nil
}

func (c *blobCatalog) AddCache(ctx context.Context, e CacheEntry) (bool, error) {
	if err := CheckID(e.Tenant); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := cacheIndexKey(e.CacheScope, e.Key)
	if _, err := c.store.Stat(ctx, key); err == nil {
		return false, nil
	} else if !errors.Is(err, blobstore.ErrNotFound) {
		return false, err
	}
	return true, c.put(ctx, key, e)
}

func (c *blobCatalog) Caches(ctx context.Context, s Scope, pipeline string) ([]CacheEntry, error) {
	if err := CheckID(s.Tenant); err != nil {
		return nil, err
	}
	prefix := catalogPrefix(s.Tenant) + "caches/"
	if pipeline != "" {
		prefix += hashed(pipeline) + "/"
	}
	es, _, err := list[CacheEntry](ctx, c, prefix)
	slices.SortStableFunc(es, func(a, b CacheEntry) int { return b.LastUsed.Compare(a.LastUsed) })
	return es, err
}

func (c *blobCatalog) DeleteCache(ctx context.Context, s CacheScope, key string) ([]CacheEntry, error) {
	if err := CheckID(s.Tenant); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if key != "" {
		var e CacheEntry
		if err := c.get(ctx, cacheIndexKey(s, key), &e); err != nil {
			return nil, err
		}
		return []CacheEntry{e}, c.store.Delete(ctx, cacheIndexKey(s, key))
	}
	es, keys, err := list[CacheEntry](ctx, c, catalogPrefix(s.Tenant)+"caches/"+hashed(s.Pipeline)+"/")
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := c.store.Delete(ctx, k); err != nil {
			return nil, err
		}
	}
	return es, nil
}

func (c *blobCatalog) EvictCaches(ctx context.Context, s Scope, maxBytes int64) ([]CacheEntry, error) {
	if err := CheckID(s.Tenant); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	es, _, err := list[CacheEntry](ctx, c, catalogPrefix(s.Tenant)+"caches/")
	if err != nil {
		return nil, err
	}
	var total int64
	for _, e := range es {
		total += e.Size
	}
	slices.SortStableFunc(es, func(a, b CacheEntry) int { return a.LastUsed.Compare(b.LastUsed) })
	var evicted []CacheEntry
	for _, e := range es {
		if total <= maxBytes {
			break
		}
		if err := c.store.Delete(ctx, cacheIndexKey(e.CacheScope, e.Key)); err != nil {
			return evicted, err
		}
		total -= e.Size
		evicted = append(evicted, e)
	}
	return evicted, nil
}
