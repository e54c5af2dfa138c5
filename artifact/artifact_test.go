package artifact

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/pipeline"
)

func newService(t testing.TB) (*Service, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := blobstore.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Service{Store: st, Catalog: NewBlobCatalog(st)}, dir
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSecurityKeysStayInTheirTenant(t *testing.T) {
	t.Parallel()
	evil := []string{"../", "../../tenants/other", "/abs", "..%2f..%2fother", `..\\evil`, "a/../../b", "", ".", "..", "x\x00y"}
	for _, s := range evil {
		keys := []string{
			ArtifactKey(Scope{Tenant: "t1"}, s, s, s),
			CacheBlobKey(CacheScope{Tenant: "t1", Pipeline: s, Branch: s}, s, s),
			RunArtifactsPrefix(Scope{Tenant: "t1"}, s),
			cacheIndexKey(CacheScope{Tenant: "t1", Pipeline: s, Branch: s}, s),
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "tenants/t1/") || strings.Contains(k, "..") || strings.Contains(k, "//") || strings.Contains(k, `\`) || strings.Contains(k, "%") {
				t.Errorf("name %q made key %q", s, k)
			}
		}
		// A tenant ID that is not an ID is refused, and never reaches
		// another prefix if used anyway.
		if CheckID(s) == nil {
			t.Errorf("CheckID(%q) accepted it", s)
		}
		k := ArtifactKey(Scope{Tenant: s}, "r", "s", "n")
		if !strings.HasPrefix(k, "tenants/x-") || strings.Count(k, "/") != 4 {
			t.Errorf("tenant %q made key %q", s, k)
		}
	}
	for _, ok := range []string{"local", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b_c-d"} {
		if err := CheckID(ok); err != nil {
			t.Errorf("CheckID(%q): %v", ok, err)
		}
	}
	if ArtifactKey(Scope{Tenant: "t1"}, "r", "a", "b-c") == ArtifactKey(Scope{Tenant: "t1"}, "r", "a-b", "c") {
		t.Error("step and name are not separated in the key")
	}
}

func TestSecurityCatalogScopedByTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, _ := newService(t)
	a := buildit.Artifact{Name: "app", Stage: "build", RunID: "r1", Key: ArtifactKey(Scope{Tenant: "t1"}, "r1", "build", "app")}
	if err := svc.Catalog.AddArtifact(ctx, Scope{Tenant: "t1"}, a); err != nil {
		t.Fatal(err)
	}
	if err := svc.Catalog.AddArtifact(ctx, Scope{Tenant: "../t1"}, a); err == nil {
		t.Fatal("a tenant ID with ../ was taken")
	}
	got, err := svc.Catalog.Artifacts(ctx, Scope{Tenant: "t2"}, "r1")
	if err != nil || len(got) != 0 {
		t.Fatalf("t2 sees %v (%v)", got, err)
	}
	got, err = svc.Catalog.Artifacts(ctx, Scope{Tenant: "t1"}, "r1")
	if err != nil || len(got) != 1 || got[0] != a {
		t.Fatalf("t1 sees %v (%v)", got, err)
	}
	// An artifact reference naming another tenant's blob is refused.
	if _, err := svc.RestoreArtifact(ctx, Scope{Tenant: "t2"}, a, Workspace{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not the tenant's") {
		t.Fatalf("restore across tenants: %v", err)
	}
}

func TestArtifactsSaveRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, blobs := newService(t)
	ws := t.TempDir()
	write(t, ws, "dist/app", "binary")
	write(t, ws, "reports/a.xml", "<a/>")
	write(t, ws, "reports/b.txt", "no")
	step := pipeline.Step{ID: "build", Stage: "build", Artifacts: []pipeline.ArtifactSpec{
		{Name: "build", Paths: []string{"dist"}},
		{Name: "reports", Paths: []string{"reports/*.xml"}, When: pipeline.ArtifactsAlways},
		{Name: "extra", Paths: []string{"nope"}, Optional: true},
		{Name: "onfail", Paths: []string{"dist/app"}, When: pipeline.ArtifactsFailure},
	}}
	scope := Scope{Tenant: LocalTenant}
	kept, events, err := svc.SaveArtifacts(ctx, scope, "run1", step, Workspace{Dir: ws}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 3 || len(events) != 3 {
		t.Fatalf("kept %v, events %v", kept, events)
	}
	if !strings.HasPrefix(events[0].String(), "buildit: saved artifact build (2 files, 6 B) in ") {
		t.Errorf("event line %q", events[0])
	}
	listed, err := svc.Catalog.Artifacts(ctx, scope, "run1")
	if err != nil || len(listed) != 3 {
		t.Fatalf("catalog: %v %v", listed, err)
	}

	dst := t.TempDir()
	for _, a := range kept {
		if _, err := svc.RestoreArtifact(ctx, scope, a, Workspace{Dir: dst}); err != nil {
			t.Fatal(err)
		}
	}
	if read(t, dst, "dist/app") != "binary" || read(t, dst, "reports/a.xml") != "<a/>" {
		t.Fatal("restored contents differ")
	}
	if _, err := os.Stat(filepath.Join(dst, "reports/b.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a file the glob does not match was kept")
	}

	// A corrupt blob fails the restore, naming the artifact.
	corrupt(t, filepath.Join(blobs, kept[0].Key))
	_, err = svc.RestoreArtifact(ctx, scope, kept[0], Workspace{Dir: t.TempDir()})
	if !errors.Is(err, blobstore.ErrCorrupt) || !strings.Contains(err.Error(), "artifact build") {
		t.Fatalf("restore of a corrupt artifact: %v", err)
	}

	// Missing paths: an error naming them after success, an event after
	// a failure (when the artifact is kept then).
	step.Artifacts[1].Paths = []string{"reports/*.json"}
	_, _, err = svc.SaveArtifacts(ctx, scope, "run2", step, Workspace{Dir: ws}, true)
	var missing *MissingError
	if !errors.As(err, &missing) || missing.Artifact != "reports" || missing.Paths[0] != "reports/*.json" {
		t.Fatalf("missing path: %v", err)
	}
	kept, events, err = svc.SaveArtifacts(ctx, scope, "run3", step, Workspace{Dir: ws}, false)
	if err != nil || len(kept) != 1 || kept[0].Name != "onfail" || len(events) != 2 || !strings.Contains(events[0].String(), "reports/*.json") {
		t.Fatalf("after a failure: %v %v %v", kept, events, err)
	}
}

// corrupt flips a byte in the middle of a blob.
func corrupt(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCachesRestoreSave(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, blobs := newService(t)
	ws, home := t.TempDir(), t.TempDir()
	write(t, ws, "go.sum", "v1")
	write(t, ws, "target/out.o", "object")
	write(t, home, ".cargo/registry/x", "crate")
	step := pipeline.Step{ID: "build", Stage: "build", Cache: []pipeline.Cache{
		{Key: "deps-${OS}-{{ hashFiles('**/go.sum') }}", RestoreKeys: []string{"deps-${OS}-"}, Paths: []string{"target", "~/.cargo"}},
	}}
	cr := CacheRun{Scope: CacheScope{Tenant: LocalTenant, Pipeline: "p", Branch: "feature"}, DefaultBranch: "main", Vars: map[string]string{"OS": "linux"}}
	w := Workspace{Dir: ws, Home: home}

	states, events := svc.RestoreCaches(ctx, cr, step, w)
	if len(states) != 1 || states[0].Hit || events[0].What != "miss" {
		t.Fatalf("first restore: %v %v", states, events)
	}
	key := states[0].Key
	if !strings.HasPrefix(key, "deps-linux-") || len(key) != len("deps-linux-")+64 {
		t.Fatalf("key %q", key)
	}
	events = svc.SaveCaches(ctx, cr, step, w, states)
	if len(events) != 1 || events[0].What != "saved" {
		t.Fatalf("save: %v", events)
	}
	// Saved again with the same key: the entry is immutable.
	if ev := svc.saveCache(ctx, cr.Scope, step.Cache[0], key, w); ev.Detail != "another run saved this key first" {
		t.Fatalf("second save: %v", ev)
	}

	// An exact hit restores deleted files and merges into what exists.
	os.RemoveAll(filepath.Join(ws, "target"))
	os.RemoveAll(filepath.Join(home, ".cargo"))
	write(t, home, ".cargo/other", "kept")
	states, events = svc.RestoreCaches(ctx, cr, step, w)
	if !states[0].Hit || events[0].What != "hit" || !strings.HasPrefix(events[0].String(), "buildit: cache hit: "+key+" (") {
		t.Fatalf("exact hit: %v %v", states, events)
	}
	if read(t, ws, "target/out.o") != "object" || read(t, home, ".cargo/registry/x") != "crate" || read(t, home, ".cargo/other") != "kept" {
		t.Fatal("restored contents differ")
	}
	if evs := svc.SaveCaches(ctx, cr, step, w, states); len(evs) != 0 {
		t.Fatalf("saved after an exact hit: %v", evs)
	}

	// Another go.sum: a restore-keys hit, then a save of the new key.
	write(t, ws, "go.sum", "v2")
	states, events = svc.RestoreCaches(ctx, cr, step, w)
	if states[0].Hit || events[0].What != "hit" || events[0].Detail != "restored "+key {
		t.Fatalf("prefix hit: %v %v", states, events)
	}

	// Another branch reads nothing of feature's; main reads nothing
	// either, and a branch reads main's after its own.
	other := cr
	other.Scope.Branch = "other"
	if _, events = svc.RestoreCaches(ctx, other, step, w); events[0].What != "miss" {
		t.Fatalf("another branch: %v", events)
	}
	mainRun := cr
	mainRun.Scope.Branch = "main"
	write(t, ws, "go.sum", "v1")
	states, _ = svc.RestoreCaches(ctx, mainRun, step, w)
	svc.SaveCaches(ctx, mainRun, step, w, states)
	_, events = svc.RestoreCaches(ctx, other, step, w)
	if events[0].What != "hit" || events[0].Detail != "restored "+key+" of branch main" {
		t.Fatalf("default branch: %v", events)
	}

	// A corrupt blob: a miss, its entry deleted, nothing moved in.
	entries, err := svc.Catalog.Caches(ctx, Scope{Tenant: LocalTenant}, "p")
	if err != nil || len(entries) != 2 {
		t.Fatalf("entries %v %v", entries, err)
	}
	for _, e := range entries {
		if e.Branch == "feature" && e.Key == key {
			corrupt(t, filepath.Join(blobs, e.BlobKey))
		}
	}
	write(t, ws, "target/out.o", "changed")
	states, events = svc.RestoreCaches(ctx, cr, step, w)
	if states[0].Hit || events[0].What != "miss" || !strings.Contains(events[0].Detail, "unusable and was deleted") {
		t.Fatalf("corrupt: %v %v", states, events)
	}
	if read(t, ws, "target/out.o") != "changed" {
		t.Fatal("a corrupt cache was moved into place")
	}
	left, _ := os.ReadDir(ws)
	for _, e := range left {
		if strings.HasPrefix(e.Name(), ".buildit-cache-") {
			t.Fatalf("staging folder %s left behind", e.Name())
		}
	}
}

func TestBlobCatalogFindAndEvict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, _ := newService(t)
	c := svc.Catalog
	sc := CacheScope{Tenant: "t", Pipeline: "p", Branch: "main"}
	base := time.Now().UTC().Add(-time.Hour)
	for i, k := range []string{"cargo-a", "cargo-b", "npm-a"} {
		ok, err := c.AddCache(ctx, CacheEntry{CacheScope: sc, Key: k, BlobKey: k, Size: 100, Created: base.Add(time.Duration(i) * time.Minute), LastUsed: base.Add(time.Duration(i) * time.Minute)})
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	e, err := c.FindCache(ctx, sc, "cargo-z", []string{"yarn-", "cargo-"})
	if err != nil || e.Key != "cargo-b" {
		t.Fatalf("prefix: %v %v", e, err)
	}
	if _, err := c.FindCache(ctx, sc, "x", []string{"y"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("miss: %v", err)
	}
	if _, err := c.FindCache(ctx, CacheScope{Tenant: "t2", Pipeline: "p", Branch: "main"}, "cargo-a", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant: %v", err)
	}
	// cargo-b was just used: the two others go first.
	evicted, err := c.EvictCaches(ctx, Scope{Tenant: "t"}, 150)
	if err != nil || len(evicted) != 2 || evicted[0].Key != "cargo-a" || evicted[1].Key != "npm-a" {
		t.Fatalf("evicted %v %v", evicted, err)
	}
	left, _ := c.Caches(ctx, Scope{Tenant: "t"}, "")
	if len(left) != 1 || left[0].Key != "cargo-b" {
		t.Fatalf("left %v", left)
	}
	deleted, err := c.DeleteCache(ctx, CacheScope{Tenant: "t", Pipeline: "p"}, "")
	if err != nil || len(deleted) != 1 {
		t.Fatalf("delete all: %v %v", deleted, err)
	}
}

func TestHashFiles(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	write(t, ws, "a/go.sum", "1")
	write(t, ws, "b/go.sum", "2")
	h1, err := HashFiles(ws, []string{"**/go.sum"})
	if err != nil || len(h1) != 64 {
		t.Fatal(h1, err)
	}
	write(t, ws, ".buildit/artifacts/r/x/go.sum", "ignored")
	write(t, ws, ".git/go.sum", "ignored")
	if h, _ := HashFiles(ws, []string{"**/go.sum"}); h != h1 {
		t.Fatal(".buildit or .git changed the hash")
	}
	write(t, ws, "b/go.sum", "3")
	h2, _ := HashFiles(ws, []string{"**/go.sum"})
	h3, _ := HashFiles(ws, []string{"a/go.sum"})
	none, _ := HashFiles(ws, []string{"*.lock"})
	if h1 == h2 || h2 == h3 || none != "" {
		t.Fatalf("hashes %s %s %s %q", h1, h2, h3, none)
	}
}
