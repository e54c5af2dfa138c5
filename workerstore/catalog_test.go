package workerstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/artifact"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/dbtest"
	"github.com/buildit-ci/buildit/workerstore"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type fixture struct {
	store  *db.Store
	tenant db.Tenant
	run    db.Run
}

func setup(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	store := db.NewStore(dbtest.Pool(t), nil)
	o, err := store.Organizations().Create(ctx, db.NewOrganization{Slug: "o-" + uuid.NewString()[:8], Name: "O"})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := store.Tenants().Create(ctx, o.ID, db.NewTenant{Slug: "t-" + uuid.NewString()[:8], Name: "T"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Pipelines().Create(ctx, tn.ID, db.PipelineSpec{Name: "app", Source: `pipeline "app"`})
	if err != nil {
		t.Fatal(err)
	}
	r, err := store.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	r, err = store.Runs().SetRunWorkflowID(ctx, tn.ID, r.ID, fmt.Sprintf("%s/%s/%d", tn.ID, p.ID, r.Number))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{store: store, tenant: tn, run: r}
}

func TestCatalogArtifacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	cat := workerstore.Catalog{Store: f.store}
	scope := artifact.Scope{Tenant: f.tenant.ID.String()}
	a := buildit.Artifact{Name: "dist", Stage: "build", RunID: f.run.WorkflowID, Key: "k/dist", Size: 42, Digest: "sha256:ab", Files: 3}
	if err := cat.AddArtifact(ctx, scope, a); err != nil {
		t.Fatal(err)
	}
	got, err := cat.Artifacts(ctx, scope, f.run.WorkflowID)
	if err != nil || len(got) != 1 || got[0] != a {
		t.Fatalf("Artifacts = %+v, %v; want [%+v]", got, err, a)
	}
	// Another tenant's scope sees nothing and records nothing there.
	other := setup(t)
	oscope := artifact.Scope{Tenant: other.tenant.ID.String()}
	if got, err := cat.Artifacts(ctx, oscope, f.run.WorkflowID); err != nil || len(got) != 0 {
		t.Errorf("another tenant lists the run's artifacts: %+v, %v", got, err)
	}
	if err := cat.AddArtifact(ctx, oscope, a); !errors.Is(err, artifact.ErrNotFound) {
		t.Errorf("another tenant records on the run: %v, want artifact.ErrNotFound", err)
	}
	if err := cat.AddArtifact(ctx, artifact.Scope{Tenant: "local"}, a); err == nil {
		t.Error("a scope that is not a tenant ID is accepted")
	}
	// Over the free plan's 1 GiB: an *artifact.QuotaError with the text
	// the stage fails with.
	big := a
	big.Name, big.Size = "big", 1<<30
	err = cat.AddArtifact(ctx, scope, big)
	var q *artifact.QuotaError
	if !errors.As(err, &q) {
		t.Fatalf("over the quota: %v, want an *artifact.QuotaError", err)
	}
	if want := "plan_limit: artifact storage of plan free is 1 GiB (used 42 B)"; err.Error() != want {
		t.Errorf("quota error %q, want %q", err, want)
	}
}

func TestCatalogCaches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	cat := workerstore.Catalog{Store: f.store}
	sc := artifact.CacheScope{Tenant: f.tenant.ID.String(), Pipeline: "app", Branch: "main"}
	e := artifact.CacheEntry{CacheScope: sc, Key: "go-1", BlobKey: "c/1", Size: 10, Digest: "sha256:cd", Files: 2}
	if ok, err := cat.AddCache(ctx, e); !ok || err != nil {
		t.Fatalf("AddCache = %v, %v", ok, err)
	}
	got, err := cat.FindCache(ctx, sc, "go-2", []string{"go-"})
	if err != nil || got.Key != "go-1" || got.BlobKey != "c/1" || got.Tenant != sc.Tenant || got.LastUsed.IsZero() {
		t.Fatalf("FindCache by prefix = %+v, %v", got, err)
	}
	if _, err := cat.FindCache(ctx, sc, "npm", []string{"npm-"}); !errors.Is(err, artifact.ErrNotFound) {
		t.Errorf("FindCache of nothing: %v, want artifact.ErrNotFound", err)
	}
	list, err := cat.Caches(ctx, artifact.Scope{Tenant: sc.Tenant}, "")
	if err != nil || len(list) != 1 {
		t.Errorf("Caches = %+v, %v", list, err)
	}
	gone, err := cat.EvictCaches(ctx, artifact.Scope{Tenant: sc.Tenant}, 5)
	if err != nil || len(gone) != 1 || gone[0].BlobKey != "c/1" {
		t.Errorf("EvictCaches = %+v, %v", gone, err)
	}
}

// Concurrent saves of one key from several workers: exactly one records
// it, the others are told to delete their blob.
func TestCatalogAddCacheConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	cat := workerstore.Catalog{Store: f.store}
	sc := artifact.CacheScope{Tenant: f.tenant.ID.String(), Pipeline: "app", Branch: "main"}
	const n = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := range n {
		wg.Go(func() {
			ok, err := cat.AddCache(ctx, artifact.CacheEntry{CacheScope: sc, Key: "k", BlobKey: fmt.Sprint("c/", i), Size: 1})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if winners != 1 {
		t.Errorf("%d of %d concurrent saves of one key won, want exactly 1", winners, n)
	}
}
