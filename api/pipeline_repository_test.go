package api

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

// repoIn connects a Gitea repository at url to org/tenant as owner, whose
// tenant holds the GITEA_TOKEN secret.
func repoIn(t testing.TB, owner *client, org, tenant, url string) apiview.Repository {
	t.Helper()
	var r apiview.Repository
	owner.must(201, "PUT", "/orgs/"+org+"/tenants/"+tenant+"/secrets/GITEA_TOKEN", map[string]string{"value": "tok"})
	owner.must(201, "POST", "/orgs/"+org+"/tenants/"+tenant+"/repositories", map[string]any{
		"forge": "gitea", "url": url, "token_secret": "GITEA_TOKEN",
	}).json(t, &r)
	return r
}

// filePipeline stores pipeline name as the RepositoryEvent workflow does
// for a file of repository repoID: read from it.
func (e *env) filePipeline(t *testing.T, org, tenant, repoID, name string) {
	t.Helper()
	ctx := context.Background()
	o, err := e.store.Organizations().GetBySlug(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := e.store.Tenants().Get(ctx, o.ID, tenant)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.Pipelines().EnsureForRepository(ctx, tn.ID, db.RepositoryPipeline{
		PipelineSpec: db.PipelineSpec{Name: name, Source: "pipeline \"" + name + "\"\nstage \"a\" { run \"true\"; }\n"},
		RepositoryID: uuid.MustParse(repoID), Path: ".buildit/" + name + ".kdl",
	}); err != nil {
		t.Fatal(err)
	}
}

// Pipelines stored through the API may name a connected repository of
// their tenant: POST and PUT take repository_id (PUT: left out keeps it,
// null or "" clears it), GET and the list show it, and a repository that
// is not the tenant's is a 422 "repository not found" that stores
// nothing. A pipeline read from a repository's file is not replaced
// through the API (409) and shows its file.
func TestPipelineRepositoryAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "mobile"})
	repo := repoIn(t, owner, "acme", "web", "https://git.example.com/acme/app")
	mobile := repoIn(t, owner, "acme", "mobile", "https://git.example.com/acme/mobile")
	base := "/orgs/acme/tenants/web/pipelines"

	var p apiview.Pipeline
	owner.must(201, "POST", base, map[string]any{"name": "hello", "source": helloKDL, "repository_id": repo.ID}).json(t, &p)
	if p.RepositoryID != repo.ID || p.RepositoryPath != "" {
		t.Errorf("created %+v", p)
	}
	var got apiview.Pipeline
	owner.must(200, "GET", base+"/hello", nil).json(t, &got)
	if got.RepositoryID != repo.ID {
		t.Errorf("GET shows repository_id %q, want %q", got.RepositoryID, repo.ID)
	}
	var list apiview.List[apiview.Pipeline]
	owner.must(200, "GET", base, nil).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].RepositoryID != repo.ID {
		t.Errorf("the list shows %+v", list.Items)
	}

	// Bad repository ids: 4xx, and no pipeline.
	notFoundMsg := ""
	for name, tc := range map[string]struct {
		id     any
		status int
	}{
		"another tenant's": {mobile.ID, 422},
		"unknown":          {uuid.NewString(), 422},
		"not a UUID":       {"app", 422},
		"a number":         {7, 400},
	} {
		r := owner.do("POST", base, map[string]any{"name": "x", "source": helloKDL, "repository_id": tc.id})
		if r.status != tc.status {
			t.Errorf("%s repository: %d %s, want %d", name, r.status, r.body, tc.status)
		}
		var body struct{ Error Error }
		r.json(t, &body)
		if name == "another tenant's" || name == "unknown" {
			if body.Error.Code != CodeInvalid || !strings.HasPrefix(body.Error.Message, "repository not found") {
				t.Errorf("%s repository: %s", name, r.body)
			}
			if notFoundMsg != "" && notFoundMsg != string(r.body) {
				t.Errorf("another tenant's and an unknown repository are answered apart: %s and %s", notFoundMsg, r.body)
			}
			notFoundMsg = string(r.body)
		}
	}
	owner.must(404, "GET", base+"/x", nil)
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("a bad repository_id logged an error:\n%s", e.logs)
	}

	// PUT: left out keeps it; null and "" clear it; an id sets it.
	for _, tc := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"left out", map[string]any{"source": helloKDL}, repo.ID},
		{"null", map[string]any{"source": helloKDL, "repository_id": nil}, ""},
		{"set", map[string]any{"source": helloKDL, "repository_id": repo.ID}, repo.ID},
		{`""`, map[string]any{"source": helloKDL, "repository_id": ""}, ""},
		{"set at a version", map[string]any{"source": helloKDL, "repository_id": repo.ID, "version": 5}, repo.ID},
	} {
		var put, got apiview.Pipeline
		owner.must(200, "PUT", base+"/hello", tc.body).json(t, &put)
		owner.must(200, "GET", base+"/hello", nil).json(t, &got)
		if put.RepositoryID != tc.want || got.RepositoryID != tc.want {
			t.Errorf("PUT with repository_id %s: answered %q, stored %q, want %q", tc.name, put.RepositoryID, got.RepositoryID, tc.want)
		}
	}
	if r := owner.do("PUT", base+"/hello", map[string]any{"source": helloKDL, "repository_id": mobile.ID}); r.status != 422 || string(r.body) != notFoundMsg {
		t.Errorf("PUT with another tenant's repository: %d %s", r.status, r.body)
	}
	if r := owner.do("PUT", base+"/new", map[string]any{"source": helloKDL, "repository_id": mobile.ID}); r.status != 422 {
		t.Errorf("PUT (a new pipeline) with another tenant's repository: %d %s", r.status, r.body)
	}
	owner.must(404, "GET", base+"/new", nil)
	var created apiview.Pipeline
	owner.must(201, "PUT", base+"/new", map[string]any{"source": helloKDL, "repository_id": repo.ID}).json(t, &created)
	if created.RepositoryID != repo.ID {
		t.Errorf("PUT (a new pipeline) with the tenant's repository: %+v", created)
	}

	// A file's pipeline shows its file and is not replaced through the
	// API, whatever the body says.
	e.filePipeline(t, "acme", "web", repo.ID, "lint")
	got = apiview.Pipeline{}
	owner.must(200, "GET", base+"/lint", nil).json(t, &got)
	if got.RepositoryID != repo.ID || got.RepositoryPath != ".buildit/lint.kdl" {
		t.Errorf("a file's pipeline shows %+v", got)
	}
	for _, body := range []map[string]any{
		{"source": helloKDL},
		{"source": helloKDL, "repository_id": nil},
		{"source": helloKDL, "version": 1},
	} {
		r := owner.do("PUT", base+"/lint", body)
		if r.status != 409 || r.code() != CodeConflict || !strings.Contains(string(r.body), ".buildit/lint.kdl") || !strings.Contains(string(r.body), "push") {
			t.Errorf("PUT %v of a file's pipeline: %d %s", body, r.status, r.body)
		}
	}
	got = apiview.Pipeline{}
	owner.must(200, "GET", base+"/lint", nil).json(t, &got)
	if got.Version != 1 || got.RepositoryPath != ".buildit/lint.kdl" {
		t.Errorf("a refused PUT changed the file's pipeline: %+v", got)
	}

	// The change is audited with the repository.
	entries, err := e.store.Audit().List(context.Background(), mustOrg(t, e, "acme"), dbAuditFilter(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range entries.Items {
		if a.Action == "pipeline.create" && a.TargetID == "hello" && a.Metadata["repository_id"] == repo.ID {
			found = true
		}
	}
	if !found {
		t.Error("the create's audit entry does not name the repository")
	}
}

// A repository_id of another tenant's repository, in the same organization
// or another one, through a session or a tenant's API key, on POST or PUT
// (new or existing pipeline): answered as an unknown id, nothing stored or
// changed, and nothing of the repository in the answer.
func TestSecurityPipelineRepositoryOfAnotherTenant(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "mobile"})
	sibling := repoIn(t, owner, "acme", "mobile", "https://git.example.com/acme/mobile")
	evil := e.signup("evil@evil.test", "Evil")
	evil.must(201, "POST", "/orgs/evil/tenants", map[string]string{"name": "web"})
	victim := repoIn(t, evil, "evil", "web", "https://git.example.com/victim/secret-app")
	key := owner.apiKey("acme", map[string]any{"name": "ci", "tenant": "web", "scopes": []string{"pipelines:read", "pipelines:write"}})
	base := "/orgs/acme/tenants/web/pipelines"
	owner.must(201, "POST", base, map[string]any{"name": "hello", "source": helloKDL})

	unknown := owner.do("POST", base, map[string]any{"name": "x", "source": helloKDL, "repository_id": uuid.NewString()})
	if unknown.status != 422 {
		t.Fatalf("an unknown repository: %d %s", unknown.status, unknown.body)
	}
	for _, who := range []struct {
		name string
		c    *client
	}{{"session", owner}, {"API key", e.withKey(key)}} {
		for _, r := range []apiview.Repository{sibling, victim} {
			for _, req := range []struct{ method, path string }{
				{"POST", base}, {"PUT", base + "/fresh"}, {"PUT", base + "/hello"},
			} {
				res := who.c.do(req.method, req.path, map[string]any{"name": pathName(req.path), "source": helloKDL, "repository_id": r.ID})
				if res.status != 422 || string(res.body) != string(unknown.body) {
					t.Errorf("%s: %s %s naming %s: %d %s, want the unknown id's answer %s", who.name, req.method, req.path, r.URL, res.status, res.body, unknown.body)
				}
			}
		}
	}
	var list apiview.List[apiview.Pipeline]
	owner.must(200, "GET", base, nil).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].Name != "hello" || list.Items[0].RepositoryID != "" || list.Items[0].Version != 1 {
		t.Errorf("after the refusals the tenant has %+v", list.Items)
	}
	// Only the connect's answer, to evil, names the victim's repository.
	if n := strings.Count(e.seen.String(), "secret-app"); n != 1 {
		t.Errorf("the victim's repository is in %d answers, want 1", n)
	}
	var n int
	if err := e.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM pipelines WHERE repository_id = ANY($1::uuid[])",
		[]string{sibling.ID, victim.ID}).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d pipelines name the other tenants' repositories (%v)", n, err)
	}
}

// pathName is the last element of a pipeline's path, or "x" for the
// collection's.
func pathName(p string) string {
	if strings.HasSuffix(p, "/pipelines") {
		return "x"
	}
	return p[strings.LastIndex(p, "/")+1:]
}
