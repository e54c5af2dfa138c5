package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/archive"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/db"
)

const artifactPipeline = "pipeline \"app\"\nstage \"build\" {\n    run \"true\"\n}\n"

// artifactEnv is a tenant with a finished run of pipeline app that kept
// artifacts, in a file:// blob store.
type artifactEnv struct {
	*env
	owner  *client
	blobs  *blobstore.Store
	tenant db.Tenant
	pipe   db.Pipeline
	run    db.Run
	base   string // the run's path
}

func setupArtifacts(t testing.TB, orgName, tenantSlug string) artifactEnv {
	t.Helper()
	e := setup(t)
	return addArtifactTenant(t, e, orgName, tenantSlug)
}

func addArtifactTenant(t testing.TB, e *env, orgName, tenantSlug string) artifactEnv {
	t.Helper()
	ctx := context.Background()
	if e.api.cfg.Blobs == nil {
		blobs, err := blobstore.Open(ctx, "file://"+t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = blobs.Close() })
		e.api.cfg.Blobs = blobs
	}
	org := strings.ToLower(orgName)
	owner := e.signup("owner@"+org+".test", orgName)
	owner.must(201, "POST", "/orgs/"+org+"/tenants", map[string]string{"name": tenantSlug})
	owner.must(201, "POST", "/orgs/"+org+"/tenants/"+tenantSlug+"/pipelines", map[string]string{"name": "app", "source": artifactPipeline})
	o, err := e.store.Organizations().GetBySlug(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := e.store.Tenants().Get(ctx, o.ID, tenantSlug)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.store.Pipelines().Get(ctx, tn.ID, "app")
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.store.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	r, err = e.store.Runs().SetRunWorkflowID(ctx, tn.ID, r.ID, fmt.Sprintf("%s/%s/%d", tn.ID, p.ID, r.Number))
	if err != nil {
		t.Fatal(err)
	}
	return artifactEnv{env: e, owner: owner, blobs: e.api.cfg.Blobs, tenant: tn, pipe: p, run: r,
		base: "/orgs/" + org + "/tenants/" + tenantSlug + "/pipelines/app/runs/1"}
}

// keep packs files (path → contents) as artifact name of stage build, and
// records it.
func (a artifactEnv) keep(t testing.TB, name string, files map[string]string) db.Artifact {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	var paths []string
	for p, body := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	var buf bytes.Buffer
	st, err := archive.Pack(ctx, &buf, []archive.Tree{{Dir: dir, Paths: paths}})
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("%s/artifacts/%s/build/%s.tar.zst", a.tenant.ID, a.run.ID, name)
	obj, err := a.blobs.Put(ctx, key, &buf)
	if err != nil {
		t.Fatal(err)
	}
	art, err := a.store.Artifacts().PutArtifact(ctx, a.tenant.ID, db.NewArtifact{Run: a.run.WorkflowID, StageID: "build", Name: name,
		BlobKey: key, Size: obj.Size, Digest: obj.Digest, Files: st.Files})
	if err != nil {
		t.Fatal(err)
	}
	return art
}

func TestArtifactsListAndDownload(t *testing.T) {
	t.Parallel()
	a := setupArtifacts(t, "Acme", "web")
	dist := a.keep(t, "dist", map[string]string{"dist/app": "#!/bin/sh\necho app\n", "dist/lib/x.so": "elf"})
	a.keep(t, "report", map[string]string{"report.xml": "<ok/>"})

	var page apiview.List[apiview.Artifact]
	a.owner.must(200, "GET", a.base+"/artifacts", nil).json(t, &page)
	if len(page.Items) != 2 || page.Items[0].Name != "dist" || page.Items[0].Stage != "build" || page.Items[0].Size != dist.Size ||
		page.Items[0].Digest != dist.Digest || page.Items[0].Files != dist.Files || page.Items[0].ExpiresAt.IsZero() {
		t.Fatalf("artifacts = %+v", page.Items)
	}

	r := a.owner.must(200, "GET", a.base+"/artifacts/dist", nil)
	sum := sha256.Sum256(r.body)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != dist.Digest || int64(len(r.body)) != dist.Size {
		t.Errorf("downloaded %d bytes with %s, want %d with %s", len(r.body), got, dist.Size, dist.Digest)
	}
	h := r.header
	if h.Get("Content-Type") != "application/zstd" || !strings.Contains(h.Get("Content-Disposition"), `attachment; filename="dist.tar.zst"`) ||
		h.Get("X-Checksum-Sha256") != strings.TrimPrefix(dist.Digest, "sha256:") || !strings.HasPrefix(h.Get("Digest"), "SHA-256=") ||
		h.Get("Content-Length") != fmt.Sprint(dist.Size) {
		t.Errorf("headers: %v", h)
	}
	// The archive unpacks to what was kept.
	out := t.TempDir()
	if _, err := archive.Unpack(context.Background(), bytes.NewReader(r.body), []archive.Tree{{Dir: out}}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "dist", "app")); err != nil || string(b) != "#!/bin/sh\necho app\n" {
		t.Errorf("unpacked dist/app: %q, %v", b, err)
	}

	// One file from inside.
	for _, p := range []string{"dist/app", "./dist/app", "/dist/app"} {
		f := a.owner.must(200, "GET", a.base+"/artifacts/dist?path="+p, nil)
		if string(f.body) != "#!/bin/sh\necho app\n" || f.header.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("?path=%s: %q (%s)", p, f.body, f.header.Get("Content-Type"))
		}
	}
	for _, p := range []string{"dist/nope", "dist", "dist/lib", "../dist/app/x"} {
		if r := a.owner.do("GET", a.base+"/artifacts/dist?path="+p, nil); r.status != 404 {
			t.Errorf("?path=%s: %d %s, want 404", p, r.status, r.body)
		}
	}
	// A viewer reads them too (runs:read).
	a.owner.must(404, "GET", a.base+"/artifacts/nope", nil)
	a.owner.must(404, "GET", strings.Replace(a.base, "/runs/1", "/runs/2", 1)+"/artifacts", nil)
}

// A blob that does not match its record (changed in the store) is never
// sent whole: the body is cut short of its Content-Length, and it is logged.
func TestArtifactCorruptBlobIsCutShort(t *testing.T) {
	t.Parallel()
	a := setupArtifacts(t, "Acme", "web")
	// Incompressible, so that the archive spans several buffers and the
	// answer has begun when the damage shows.
	noise := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(3, 4)) //nolint:gosec // test data
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	dist := a.keep(t, "dist", map[string]string{"dist/app": string(noise)})
	// Same size, other bytes.
	if _, err := a.blobs.Put(context.Background(), dist.BlobKey, bytes.NewReader(bytes.Repeat([]byte{1}, int(dist.Size)))); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(context.Background(), "GET", a.srv.URL+"/api/v1"+a.base+"/artifacts/dist", nil)
	req.Header.Set("Authorization", "Bearer "+a.owner.apiKey("acme", map[string]any{"name": "dl", "scopes": []string{ScopeRunsRead}, "tenant": "web"}))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got bytes.Buffer
	_, err = got.ReadFrom(res.Body)
	if res.StatusCode != 200 || err == nil || int64(got.Len()) >= dist.Size {
		t.Errorf("a corrupt artifact: %d, %d of %d bytes, read error %v; want 200 cut short", res.StatusCode, got.Len(), dist.Size, err)
	}
	// One file from it: refused or cut short, never sent whole.
	req, _ = http.NewRequestWithContext(context.Background(), "GET", a.srv.URL+"/api/v1"+a.base+"/artifacts/dist?path=dist/app", nil)
	req.Header.Set("Authorization", "Bearer "+a.owner.apiKey("acme", map[string]any{"name": "dl2", "scopes": []string{ScopeRunsRead}, "tenant": "web"}))
	if res, err := http.DefaultClient.Do(req); err == nil {
		var file bytes.Buffer
		_, rerr := file.ReadFrom(res.Body)
		res.Body.Close()
		if res.StatusCode == 200 && rerr == nil {
			t.Errorf("a file of a corrupt artifact was sent as if whole (%d bytes)", file.Len())
		}
		if res.StatusCode != 200 && res.StatusCode != 502 {
			t.Errorf("a file of a corrupt artifact: %d", res.StatusCode)
		}
	}
	if !strings.Contains(a.logs.String(), "streaming an artifact failed") {
		t.Errorf("the corruption is not logged:\n%s", a.logs.String())
	}
}

// Names and keys are looked up in the catalog by tenant and run: paths,
// encoded slashes and another tenant's run number reach nothing.
func TestSecurityArtifactsStayInTheirTenant(t *testing.T) {
	t.Parallel()
	a := setupArtifacts(t, "Acme", "web")
	a.keep(t, "dist", map[string]string{"dist/app": "acme-secret-build"})
	b := addArtifactTenant(t, a.env, "Evil", "web")
	b.keep(t, "mine", map[string]string{"x": "evil"})
	// Both runs are number 1 of a pipeline named app: B's path with A's
	// artifact name finds nothing.
	for _, path := range []string{
		b.base + "/artifacts/dist",
		b.base + "/artifacts/dist?path=dist/app",
		b.base + "/artifacts/..%2F..%2F..%2F..%2F..%2Facme%2Ftenants%2Fweb%2Fpipelines%2Fapp%2Fruns%2F1%2Fartifacts%2Fdist",
		b.base + "/artifacts/%2E%2E",
		b.base + "/artifacts/" + strings.ReplaceAll(a.tenant.ID.String(), "-", "-") + "%2Fartifacts%2F" + a.run.ID.String() + "%2Fbuild%2Fdist.tar.zst",
		b.base + "/artifacts/%2Fetc%2Fpasswd",
		b.base + "/artifacts/../../../../../../acme/tenants/web/pipelines/app/runs/1/artifacts/dist",
		b.base + "/artifacts/mine/../dist",
		"/orgs/acme/tenants/web/pipelines/app/runs/1/artifacts/dist",
		"/orgs/acme/tenants/web/pipelines/app/runs/1/artifacts",
		"/orgs/acme/tenants/web/pipelines/app/caches",
	} {
		r := b.owner.do("GET", path, nil)
		if r.status == 200 || strings.Contains(string(r.body), "acme-secret-build") {
			t.Errorf("GET %s as tenant B: %d %.200s", path, r.status, r.body)
		}
	}
	if r := b.owner.do("DELETE", "/orgs/acme/tenants/web/pipelines/app/caches", nil); r.status < 400 {
		t.Errorf("DELETE of A's caches as B: %d", r.status)
	}
	// B's own artifact is there.
	b.owner.must(200, "GET", b.base+"/artifacts/mine", nil)
}

func TestCachesListAndDelete(t *testing.T) {
	t.Parallel()
	a := setupArtifacts(t, "Acme", "web")
	ctx := context.Background()
	var keys []string
	for _, k := range []struct{ branch, key string }{{"main", "go-1"}, {"dev", "go-1"}, {"main", "npm-1"}} {
		key := fmt.Sprintf("%s/caches/%s/%s", a.tenant.ID, k.branch, k.key)
		obj, err := a.blobs.Put(ctx, key, strings.NewReader("cache "+k.key))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
		if ok, err := a.store.Artifacts().AddCache(ctx, db.Cache{TenantID: a.tenant.ID, Pipeline: "app", Branch: k.branch, Key: k.key,
			BlobKey: key, Size: obj.Size, Digest: obj.Digest, Files: 1}); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	caches := "/orgs/acme/tenants/web/pipelines/app/caches"
	var page apiview.List[apiview.Cache]
	a.owner.must(200, "GET", caches, nil).json(t, &page)
	if len(page.Items) != 3 {
		t.Fatalf("caches = %+v", page.Items)
	}
	a.owner.must(404, "DELETE", caches+"?key=nope", nil)
	a.owner.must(422, "DELETE", caches+"?key=", nil)
	a.owner.must(200, "DELETE", caches+"?key=go-1", nil).json(t, &page)
	if len(page.Items) != 2 {
		t.Errorf("deleted %+v, want go-1 of both branches", page.Items)
	}
	for _, k := range keys[:2] {
		if _, err := a.blobs.Stat(ctx, k); err == nil {
			t.Errorf("blob %s is still there", k)
		}
	}
	a.owner.must(200, "DELETE", caches, nil).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].Key != "npm-1" {
		t.Errorf("deleted %+v, want npm-1", page.Items)
	}
	entries, err := a.store.Audit().List(ctx, mustOrg(t, a.env, "acme"), dbAuditFilter(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries.Items {
		if e.Action == "cache.delete" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d cache.delete audit entries, want 2", n)
	}
}

// A tenant at its plan's artifact storage starts no run: 403 plan_limit.
func TestArtifactQuotaRefusesRuns(t *testing.T) {
	t.Parallel()
	a := setupArtifacts(t, "Acme", "web")
	a.keep(t, "dist", map[string]string{"a": "x"})
	if _, err := a.store.Pool().Exec(context.Background(), "UPDATE artifacts SET size = $1 WHERE tenant_id = $2", int64(1<<30), a.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Runs().SetRunResult(context.Background(), a.tenant.ID, a.run.ID, buildit.RunFailed, "failed"); err != nil {
		t.Fatal(err)
	}
	runs := "/orgs/acme/tenants/web/pipelines/app/runs"
	for _, path := range []string{runs, runs + "/1/rerun", runs + "/1/rerun?failed=true"} {
		r := a.owner.do("POST", path, nil)
		if r.status != 403 || r.code() != CodePlanLimit || !strings.Contains(string(r.body), "artifact storage of plan free is 1 GiB") {
			t.Errorf("POST %s at the quota: %d %s", path, r.status, r.body)
		}
	}
}

// A tenant admin sets how long the tenant's artifacts are kept: 1 to 400
// days; a tenant member cannot.
func TestTenantArtifactRetention(t *testing.T) {
	t.Parallel()
	a := setupArtifacts(t, "Acme", "web")
	var v apiview.Tenant
	a.owner.must(200, "GET", "/orgs/acme/tenants/web", nil).json(t, &v)
	if v.ArtifactRetentionDays != 30 {
		t.Errorf("default retention %d days, want 30", v.ArtifactRetentionDays)
	}
	a.owner.must(200, "PATCH", "/orgs/acme/tenants/web", map[string]any{"artifact_retention_days": 7}).json(t, &v)
	if v.ArtifactRetentionDays != 7 {
		t.Errorf("retention after PATCH: %d", v.ArtifactRetentionDays)
	}
	for _, bad := range []any{0, 401, -1, "7"} {
		if r := a.owner.do("PATCH", "/orgs/acme/tenants/web", map[string]any{"artifact_retention_days": bad}); r.status != 422 && r.status != 400 {
			t.Errorf("retention %v: %d %s", bad, r.status, r.body)
		}
	}
	// Artifacts kept afterwards expire 7 days after they are kept.
	art := a.keep(t, "dist", map[string]string{"a": "x"})
	if d := art.ExpiresAt.Sub(art.CreatedAt).Hours(); d < 7*24-1 || d > 7*24+1 {
		t.Errorf("artifact expires %v hours after it was kept, want 168", d)
	}
	member := a.signup("m@acme.test", "M home")
	a.owner.must(201, "POST", "/orgs/acme/members", map[string]string{"email": "m@acme.test", "role": "member"})
	a.owner.must(201, "POST", "/orgs/acme/tenants/web/members", map[string]string{"email": "m@acme.test", "role": "member"})
	member.must(403, "PATCH", "/orgs/acme/tenants/web", map[string]any{"artifact_retention_days": 400})
}
