package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/buildit-ci/buildit/archive"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/db"
)

// The remote CLI lists and downloads a run's artifacts, and lists and
// deletes a pipeline's caches, against buildit server and its blob store.
// The artifacts are recorded as a worker records them: a blob in the
// server's store and a row in the catalog.
func TestRemoteCLIArtifacts(t *testing.T) {
	st := startStack(t, stackOpts{})
	base := st.base
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	signUpAnn(t, hc, base)
	apiCall(t, hc, "POST", base+"/api/v1/orgs/acme/tenants", map[string]string{"name": "web"}, 201)
	apiCall(t, hc, "POST", base+"/api/v1/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": "pipeline \"app\"\nstage \"build\" { run \"true\"; }\n"}, 201)
	var key struct{ Secret string }
	if err := json.Unmarshal(apiCall(t, hc, "POST", base+"/api/v1/orgs/acme/api-keys", map[string]any{
		"name": "ci", "tenant": "web", "scopes": []string{"pipelines:read", "runs:read", "runs:write"},
	}, 201), &key); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BUILDIT_CONFIG", filepath.Join(t.TempDir(), "credentials.json"))
	t.Setenv("BUILDIT_URL", base)
	t.Setenv("BUILDIT_TOKEN", key.Secret)
	t.Setenv("BUILDIT_ORG", "acme")
	t.Setenv("BUILDIT_TENANT", "web")

	ctx := context.Background()
	pool, err := pgxpool.New(ctx, st.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := db.NewStore(pool, nil)
	blobs, err := blobstore.Open(ctx, st.blobURL)
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	org, err := store.Organizations().GetBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	tn, err := store.Tenants().Get(ctx, org.ID, "web")
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Pipelines().Get(ctx, tn.ID, "app")
	if err != nil {
		t.Fatal(err)
	}
	r, err := store.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	keep := func(name string, files map[string]string) {
		t.Helper()
		src := t.TempDir()
		var paths []string
		for p, body := range files {
			full := filepath.Join(src, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		var buf bytes.Buffer
		stats, err := archive.Pack(ctx, &buf, []archive.Tree{{Dir: src, Paths: paths}})
		if err != nil {
			t.Fatal(err)
		}
		obj, err := blobs.Put(ctx, fmt.Sprintf("%s/artifacts/%s/%s", tn.ID, r.ID, name), &buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Artifacts().PutArtifact(ctx, tn.ID, db.NewArtifact{Run: r.ID.String(), StageID: "build", Name: name,
			BlobKey: obj.Key, Size: obj.Size, Digest: obj.Digest, Files: stats.Files}); err != nil {
			t.Fatal(err)
		}
	}
	keep("dist", map[string]string{"bin/app": "the app", "bin/lib/x.so": "a lib"})
	keep("report", map[string]string{"report.xml": "<ok/>"})

	code, stdout, stderr := run(t, "runs", "artifacts", "app", "1")
	if code != 0 || !strings.Contains(stdout, "NAME") || !strings.Contains(stdout, "dist") || !strings.Contains(stdout, "report") || !strings.Contains(stdout, "build") {
		t.Errorf("runs artifacts: %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "runs", "artifacts", "app", "1", "--json")
	var listed []struct{ Name, Digest string }
	if err := json.Unmarshal([]byte(stdout), &listed); err != nil || code != 0 || len(listed) != 2 || !strings.HasPrefix(listed[0].Digest, "sha256:") {
		t.Errorf("runs artifacts --json: %d %v %s", code, err, stdout)
	}

	out := t.TempDir()
	code, stdout, stderr = run(t, "runs", "download", "app", "1", "-o", out)
	if code != 0 || !strings.Contains(stdout, "dist: 2 files") || !strings.Contains(stdout, filepath.Join(out, "report")) {
		t.Errorf("runs download: %d\n%s%s", code, stdout, stderr)
	}
	for path, want := range map[string]string{"dist/bin/app": "the app", "dist/bin/lib/x.so": "a lib", "report/report.xml": "<ok/>"} {
		if b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(path))); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v", path, b, err)
		}
	}
	one := t.TempDir()
	if code, _, stderr := run(t, "runs", "download", "app", "1", "report", "-o", one); code != 0 {
		t.Errorf("runs download NAME: %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(one, "dist")); err == nil {
		t.Error("runs download report also wrote dist")
	}
	if code, _, stderr := run(t, "runs", "download", "app", "1", "nope", "-o", one); code != 2 || !strings.Contains(stderr, `no artifact "nope"`) {
		t.Errorf("download of no such artifact: %d %s", code, stderr)
	}

	// Caches.
	obj, err := blobs.Put(ctx, tn.ID.String()+"/caches/go-1", strings.NewReader("a cache"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Artifacts().AddCache(ctx, db.Cache{TenantID: tn.ID, Pipeline: "app", Branch: "main", Key: "go-1", BlobKey: obj.Key, Size: obj.Size, Digest: obj.Digest, Files: 1}); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := run(t, "cache", "list", "app"); code != 0 || !strings.Contains(stdout, "go-1") || !strings.Contains(stdout, "main") {
		t.Errorf("cache list: %d %s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := run(t, "cache", "delete", "app", "--key", "go-1"); code != 0 || !strings.Contains(stdout, "deleted 1 cache entries of app") {
		t.Errorf("cache delete: %d %s%s", code, stdout, stderr)
	}
	if _, err := blobs.Stat(ctx, obj.Key); err == nil {
		t.Error("the deleted cache's blob is still in the store")
	}
	if code, _, stderr := run(t, "cache", "delete", "app", "--key", "go-1"); code != 2 || !strings.Contains(stderr, "not found") {
		t.Errorf("cache delete of a deleted key: %d %s", code, stderr)
	}
}

// A name from the server that is not one path element is not made a
// folder.
func TestArtifactDirRefusesPaths(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", ".", "..", "../x", "a/b", `a\b`, "/etc"} {
		if _, err := artifactDir(t.TempDir(), name); err == nil {
			t.Errorf("artifactDir(%q) accepted", name)
		}
	}
	if d, err := artifactDir("/tmp/out", "dist"); err != nil || d != "/tmp/out/dist" {
		t.Errorf("artifactDir(dist) = %q, %v", d, err)
	}
}

// --cache-max-size takes a size; BUILDIT_CACHE_MAX_SIZE that is not one is
// refused at start, not ignored.
func TestCacheMaxSizeFlag(t *testing.T) {
	t.Setenv("BUILDIT_CACHE_MAX_SIZE", "lots")
	code, _, stderr := run(t, "worker", "--database-url", "postgres://127.0.0.1:1/none", "--temporal-address", "127.0.0.1:1")
	if code != 2 || !strings.Contains(stderr, "BUILDIT_CACHE_MAX_SIZE") {
		t.Errorf("a bad BUILDIT_CACHE_MAX_SIZE: exit %d %s", code, stderr)
	}
	t.Setenv("BUILDIT_CACHE_MAX_SIZE", "")
	if code, _, stderr := run(t, "worker", "--cache-max-size", "0", "--temporal-address", "127.0.0.1:1"); code != 2 || !strings.Contains(stderr, "not a size") {
		t.Errorf("--cache-max-size 0: exit %d %s", code, stderr)
	}
}
