package db_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

// artifactRun makes a tenant with a pipeline and a run whose workflow ID
// is set, as runclient does.
type artifactRun struct {
	org    db.Organization
	tenant db.Tenant
	pipe   db.Pipeline
	run    db.Run
}

func mkArtifactRun(t *testing.T, s *db.Store) artifactRun {
	t.Helper()
	ctx := context.Background()
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	p := mkPipeline(t, s, tn.ID, "app")
	r := must[db.Run](t)(s.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{Branch: "main"}))
	r = must[db.Run](t)(s.Runs().SetRunWorkflowID(ctx, tn.ID, r.ID, fmt.Sprintf("%s/%s/%d", tn.ID, p.ID, r.Number)))
	return artifactRun{org: o, tenant: tn, pipe: p, run: r}
}

func newArtifact(run, stage, name string, size int64) db.NewArtifact {
	return db.NewArtifact{Run: run, StageID: stage, Name: name, BlobKey: "k/" + run + "/" + stage + "/" + name + fmt.Sprint(size), Size: size, Digest: "sha256:00", Files: 3}
}

func TestArtifactsRecordListReplace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	a := mkArtifactRun(t, s)
	repo := s.Artifacts()

	// Found by the workflow ID (the engine's) and by the row's ID.
	must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.WorkflowID, "build", "dist", 100)))
	must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.ID.String(), "test", "report", 10)))
	for _, key := range []string{a.run.WorkflowID, a.run.ID.String()} {
		got := must[[]db.Artifact](t)(repo.ListArtifacts(ctx, a.tenant.ID, key))
		if len(got) != 2 || got[0].Name != "dist" || got[1].Name != "report" || got[0].RunID != a.run.ID {
			t.Fatalf("ListArtifacts(%s) = %+v", key, got)
		}
		// Retention: the tenant's 30 days by default.
		if d := got[0].ExpiresAt.Sub(got[0].CreatedAt); d < 30*24*time.Hour-time.Minute || d > 30*24*time.Hour+time.Minute {
			t.Errorf("expires %v after creation, want 30 days", d)
		}
	}
	// A retried attempt replaces the record, and the old blob is queued.
	again := newArtifact(a.run.WorkflowID, "build", "dist", 200)
	must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, again))
	got := must[db.Artifact](t)(repo.GetArtifact(ctx, a.tenant.ID, a.run.ID, "dist"))
	if got.Size != 200 || got.BlobKey != again.BlobKey {
		t.Errorf("after a retry: %+v", got)
	}
	queued := must[[]db.BlobDeletion](t)(repo.BlobDeletions(ctx, 1000))
	if !slices.ContainsFunc(queued, func(d db.BlobDeletion) bool {
		return d.BlobKey == newArtifact(a.run.WorkflowID, "build", "dist", 100).BlobKey
	}) {
		t.Errorf("the replaced blob is not queued for deletion: %+v", queued)
	}
	if u := must[db.ArtifactUsage](t)(repo.Usage(ctx, a.tenant.ID)); u.Used != 210 || u.Plan != db.PlanFree || u.Limit != 1<<30 {
		t.Errorf("usage = %+v, want 210 bytes of free's 1 GiB", u)
	}
	// A run the tenant does not have.
	if _, err := repo.PutArtifact(ctx, a.tenant.ID, newArtifact("nope", "build", "x", 1)); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("artifact of an unknown run: %v, want ErrNotFound", err)
	}
}

func TestArtifactQuota(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	a := mkArtifactRun(t, s)
	repo := s.Artifacts()
	must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.WorkflowID, "build", "big", 1<<30-100)))
	_, err := repo.PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.WorkflowID, "build", "more", 101))
	var q *db.ArtifactQuotaError
	if !errors.As(err, &q) || q.Plan != db.PlanFree || q.Limit != 1<<30 || q.Used != 1<<30-100 {
		t.Fatalf("over the quota: %v (%+v)", err, q)
	}
	// Exactly at the quota is allowed; replacing counts the new size only.
	must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.WorkflowID, "build", "more", 100)))
	must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.WorkflowID, "build", "big", 1<<30-100)))
	if u := must[db.ArtifactUsage](t)(repo.Usage(ctx, a.tenant.ID)); !u.Over() {
		t.Errorf("at the quota, Over() = false: %+v", u)
	}
	// Pro allows 50 GiB.
	pro := db.PlanPro
	must[db.Organization](t)(s.Organizations().Update(ctx, a.org.ID, db.OrganizationPatch{Plan: &pro}))
	must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.WorkflowID, "build", "pro", 10<<30)))
}

// Concurrent writers of one tenant cannot both take the last place.
func TestArtifactQuotaConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	a := mkArtifactRun(t, s)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Artifacts().PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.WorkflowID, "build", fmt.Sprint("a", i), 1<<28))
		})
	}
	wg.Wait()
	okCount := 0
	for _, err := range errs {
		var q *db.ArtifactQuotaError
		switch {
		case err == nil:
			okCount++
		case !errors.As(err, &q):
			t.Fatal(err)
		}
	}
	if okCount != 4 {
		t.Errorf("%d of %d artifacts of 256 MiB were recorded under a 1 GiB quota, want 4", okCount, n)
	}
}

func TestArtifactsIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	a := mkArtifactRun(t, s)
	b := mkArtifactRun(t, s)
	repo := s.Artifacts()
	art := must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.WorkflowID, "build", "dist", 5)))

	for _, key := range []string{a.run.WorkflowID, a.run.ID.String()} {
		if got := must[[]db.Artifact](t)(repo.ListArtifacts(ctx, b.tenant.ID, key)); len(got) != 0 {
			t.Errorf("tenant B lists A's artifacts by %s: %+v", key, got)
		}
		if _, err := repo.PutArtifact(ctx, b.tenant.ID, newArtifact(key, "build", "evil", 1)); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("tenant B records an artifact on A's run by %s: %v", key, err)
		}
	}
	if _, err := repo.GetArtifact(ctx, b.tenant.ID, a.run.ID, "dist"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("tenant B gets A's artifact by name: %v", err)
	}
	if err := repo.DeleteArtifact(ctx, b.tenant.ID, art.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("tenant B deletes A's artifact by ID: %v", err)
	}
	if got := must[[]db.Artifact](t)(repo.ListArtifacts(ctx, a.tenant.ID, a.run.WorkflowID)); len(got) != 1 {
		t.Errorf("A's artifacts after B's tries: %+v", got)
	}
	if u := must[db.ArtifactUsage](t)(repo.Usage(ctx, b.tenant.ID)); u.Used != 0 {
		t.Errorf("B's usage counts A's: %+v", u)
	}
}

func TestArtifactsExpireAndQueueBlobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	a := mkArtifactRun(t, s)
	repo := s.Artifacts()
	days := 2
	must[db.Tenant](t)(s.Tenants().Update(ctx, a.org.ID, a.tenant.ID, db.TenantPatch{ArtifactRetentionDays: &days}))
	for _, bad := range []int{0, 401} {
		if _, err := s.Tenants().Update(ctx, a.org.ID, a.tenant.ID, db.TenantPatch{ArtifactRetentionDays: &bad}); !errors.Is(err, db.ErrInvalid) {
			t.Errorf("retention of %d days: %v, want ErrInvalid", bad, err)
		}
	}
	old := must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.WorkflowID, "build", "old", 5)))
	if d := old.ExpiresAt.Sub(old.CreatedAt); d < 47*time.Hour || d > 49*time.Hour {
		t.Errorf("expires %v after creation, want the tenant's 2 days", d)
	}
	if n := must[int](t)(repo.DeleteExpired(ctx, time.Now(), 100)); n != 0 {
		t.Errorf("deleted %d unexpired artifacts", n)
	}
	if n := must[int](t)(repo.DeleteExpired(ctx, old.ExpiresAt.Add(time.Second), 100)); n < 1 {
		t.Errorf("deleted %d expired artifacts, want at least 1", n)
	}
	if got := must[[]db.Artifact](t)(repo.ListArtifacts(ctx, a.tenant.ID, a.run.WorkflowID)); len(got) != 0 {
		t.Errorf("expired artifact still listed: %+v", got)
	}
	queued := must[[]db.BlobDeletion](t)(repo.BlobDeletions(ctx, 10000))
	i := slices.IndexFunc(queued, func(d db.BlobDeletion) bool { return d.BlobKey == old.BlobKey })
	if i < 0 {
		t.Fatalf("the expired artifact's blob is not queued")
	}
	noErr(t, repo.BlobDeleteFailed(ctx, queued[i], "boom"))
	again := must[[]db.BlobDeletion](t)(repo.BlobDeletions(ctx, 10000))
	j := slices.IndexFunc(again, func(d db.BlobDeletion) bool { return d.ID == queued[i].ID })
	if j < 0 || again[j].Attempts != 1 {
		t.Fatalf("a failed blob delete is not kept with its attempt counted: %+v", again)
	}
	noErr(t, repo.BlobDeleted(ctx, again[j]))
	if slices.ContainsFunc(must[[]db.BlobDeletion](t)(repo.BlobDeletions(ctx, 10000)), func(d db.BlobDeletion) bool { return d.ID == queued[i].ID }) {
		t.Error("a done blob deletion is still queued")
	}

	// Deleting the pipeline takes its runs' artifacts, and queues their blobs.
	kept := must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.WorkflowID, "build", "kept", 5)))
	if err := s.Pipelines().Delete(ctx, a.tenant.ID, a.pipe.Name); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(must[[]db.BlobDeletion](t)(repo.BlobDeletions(ctx, 10000)), func(d db.BlobDeletion) bool { return d.BlobKey == kept.BlobKey }) {
		t.Error("the blob of an artifact of a deleted pipeline is not queued")
	}
}

// A queued blob that a row uses again (a rerun's record of a reused
// artifact) is dropped from the queue, not deleted.
func TestBlobDeletionSkipsBlobsInUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	a := mkArtifactRun(t, s)
	repo := s.Artifacts()
	first := must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, newArtifact(a.run.WorkflowID, "build", "dist", 5)))
	rerun := must[db.Run](t)(s.Runs().CreateRun(ctx, a.tenant.ID, a.pipe.ID, db.NewRun{}))
	reused := newArtifact(rerun.ID.String(), "build", "dist", 5)
	reused.BlobKey = first.BlobKey
	must[db.Artifact](t)(repo.PutArtifact(ctx, a.tenant.ID, reused))
	noErr(t, repo.DeleteArtifact(ctx, a.tenant.ID, first.ID))
	if slices.ContainsFunc(must[[]db.BlobDeletion](t)(repo.BlobDeletions(ctx, 10000)), func(d db.BlobDeletion) bool { return d.BlobKey == first.BlobKey }) {
		t.Error("a blob another run's artifact uses is queued for deletion")
	}
}

func cacheOf(s db.CacheScope, key string, size int64) db.Cache {
	return db.Cache{TenantID: s.TenantID, Pipeline: s.Pipeline, Branch: s.Branch, Key: key, BlobKey: "c/" + uuid.NewString(), Size: size, Digest: "sha256:00", Files: 1}
}

func TestCaches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	a := mkArtifactRun(t, s)
	repo := s.Artifacts()
	main := db.CacheScope{TenantID: a.tenant.ID, Pipeline: "app", Branch: "main"}
	for _, k := range []string{"go-abc", "go-def", "a%c", "npm-1"} {
		if ok := must[bool](t)(repo.AddCache(ctx, cacheOf(main, k, 10))); !ok {
			t.Fatalf("AddCache(%s) = false", k)
		}
		time.Sleep(2 * time.Millisecond) // distinct created_at
	}
	if ok := must[bool](t)(repo.AddCache(ctx, cacheOf(main, "go-abc", 10))); ok {
		t.Error("AddCache of a taken key = true; entries are immutable")
	}
	for _, c := range []struct {
		name, key string
		prefixes  []string
		want      string
	}{
		{"exact", "go-abc", []string{"go-"}, "go-abc"},
		{"newest of a prefix", "go-zzz", []string{"go-"}, "go-def"},
		{"prefixes in order", "x", []string{"nope-", "npm-", "go-"}, "npm-1"},
		{"percent is plain", "x", []string{"a%"}, "a%c"},
		{"underscore is plain", "x", []string{"go_"}, ""},
		{"percent matches no other", "x", []string{"%"}, ""},
		{"none", "x", nil, ""},
	} {
		got, err := repo.FindCache(ctx, main, c.key, c.prefixes)
		switch {
		case c.want == "" && !errors.Is(err, db.ErrNotFound):
			t.Errorf("%s: FindCache = %+v, %v; want ErrNotFound", c.name, got, err)
		case c.want != "" && (err != nil || got.Key != c.want):
			t.Errorf("%s: FindCache = %q, %v; want %q", c.name, got.Key, err, c.want)
		}
	}
	// The branch is part of the scope.
	if _, err := repo.FindCache(ctx, db.CacheScope{TenantID: a.tenant.ID, Pipeline: "app", Branch: "dev"}, "go-abc", nil); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("another branch's entry found: %v", err)
	}
	// Most recently used first: go-abc, go-def and npm-1 were found above.
	list := must[[]db.Cache](t)(repo.ListCaches(ctx, a.tenant.ID, "app"))
	if len(list) != 4 || list[len(list)-1].Key != "go-abc" && list[len(list)-1].Key != "a%c" {
		t.Errorf("ListCaches = %v", keys(list))
	}
	gone := must[[]db.Cache](t)(repo.DeleteCaches(ctx, db.CacheScope{TenantID: a.tenant.ID, Pipeline: "app"}, "npm-1"))
	if len(gone) != 1 || gone[0].Key != "npm-1" {
		t.Errorf("DeleteCaches(npm-1) = %v", keys(gone))
	}
	gone = must[[]db.Cache](t)(repo.DeleteCaches(ctx, db.CacheScope{TenantID: a.tenant.ID, Pipeline: "app"}, ""))
	if len(gone) != 3 {
		t.Errorf("DeleteCaches(all) = %v", keys(gone))
	}
}

func keys(cs []db.Cache) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Key
	}
	return out
}

func TestEvictCachesLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	a := mkArtifactRun(t, s)
	repo := s.Artifacts()
	sc := db.CacheScope{TenantID: a.tenant.ID, Pipeline: "app", Branch: "main"}
	for _, k := range []string{"a", "b", "c", "d"} {
		must[bool](t)(repo.AddCache(ctx, cacheOf(sc, k, 100)))
		time.Sleep(2 * time.Millisecond)
	}
	// a is used last: the least recently used are b, then c.
	must[db.Cache](t)(repo.FindCache(ctx, sc, "a", nil))
	gone := must[[]db.Cache](t)(repo.EvictCaches(ctx, a.tenant.ID, 250))
	slices.SortFunc(gone, func(x, y db.Cache) int { return cmpStr(x.Key, y.Key) })
	if got := keys(gone); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("evicted %v, want [b c]", got)
	}
	if got := keys(must[[]db.Cache](t)(repo.ListCaches(ctx, a.tenant.ID, ""))); !slices.Equal(got, []string{"a", "d"}) {
		t.Errorf("kept %v, want [a d]", got)
	}
	if gone := must[[]db.Cache](t)(repo.EvictCaches(ctx, a.tenant.ID, 1000)); len(gone) != 0 {
		t.Errorf("evicted %v under the limit", keys(gone))
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Concurrent saves of one key: exactly one is recorded.
func TestAddCacheConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	a := mkArtifactRun(t, s)
	sc := db.CacheScope{TenantID: a.tenant.ID, Pipeline: "app", Branch: "main"}
	const n = 16
	won := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ok, err := s.Artifacts().AddCache(ctx, cacheOf(sc, "same", 1))
			if err != nil {
				t.Error(err)
			}
			won[i] = ok
		})
	}
	wg.Wait()
	if c := len(slices.DeleteFunc(won, func(b bool) bool { return !b })); c != 1 {
		t.Errorf("%d of %d concurrent AddCache of one key won, want exactly 1", c, n)
	}
}

func TestCachesIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	a := mkArtifactRun(t, s)
	b := mkArtifactRun(t, s)
	repo := s.Artifacts()
	sa := db.CacheScope{TenantID: a.tenant.ID, Pipeline: "app", Branch: "main"}
	sb := db.CacheScope{TenantID: b.tenant.ID, Pipeline: "app", Branch: "main"}
	must[bool](t)(repo.AddCache(ctx, cacheOf(sa, "k", 10)))
	if _, err := repo.FindCache(ctx, sb, "k", []string{""}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("tenant B finds A's cache: %v", err)
	}
	if got := must[[]db.Cache](t)(repo.ListCaches(ctx, b.tenant.ID, "")); len(got) != 0 {
		t.Errorf("tenant B lists A's caches: %v", keys(got))
	}
	if got := must[[]db.Cache](t)(repo.DeleteCaches(ctx, db.CacheScope{TenantID: b.tenant.ID, Pipeline: "app"}, "")); len(got) != 0 {
		t.Errorf("tenant B deletes A's caches: %v", keys(got))
	}
	if got := must[[]db.Cache](t)(repo.EvictCaches(ctx, b.tenant.ID, 0)); len(got) != 0 {
		t.Errorf("tenant B evicts A's caches: %v", keys(got))
	}
	// B may use the same key for its own.
	if ok := must[bool](t)(repo.AddCache(ctx, cacheOf(sb, "k", 10))); !ok {
		t.Error("tenant B cannot save a key A has")
	}
	if got := must[[]db.Cache](t)(repo.ListCaches(ctx, a.tenant.ID, "")); len(got) != 1 {
		t.Errorf("A's caches after B's tries: %v", keys(got))
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
