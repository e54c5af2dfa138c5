package api

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
)

// The authorization matrix: every endpoint × every kind of caller, users by
// org and tenant role and API keys by scope and tenant, in their own org
// and tenant and in foreign ones. Each endpoint lists who may call it;
// everyone else gets 404 when they cannot see the org or tenant at all and
// 403 when they can.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	ctx := context.Background()
	org, err := e.store.Organizations().GetBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	// Enterprise: no plan limits get in the way of the matrix.
	ent := db.PlanEnterprise
	if _, err := e.store.Organizations().Update(ctx, org.ID, db.OrganizationPatch{Plan: &ent}); err != nil {
		t.Fatal(err)
	}
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t1"})
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t2"})
	owner.must(201, "POST", "/orgs/acme/tenants/t1/pipelines", map[string]string{"name": "p1", "source": helloKDL})
	owner.must(201, "PUT", "/orgs/acme/tenants/t1/secrets/S1", map[string]string{"value": "v"})
	var repoID string
	{
		var r apiview.Repository
		owner.must(201, "POST", "/orgs/acme/tenants/t1/repositories", map[string]string{"forge": "gitea", "url": "https://git.example.com/acme/app", "token_secret": "S1"}).json(t, &r)
		repoID = r.ID
	}
	owner.must(201, "POST", "/orgs/acme/tenants/t1/pipelines", map[string]string{"name": "slow", "source": slowKDL})
	owner.must(201, "POST", "/orgs/acme/tenants/t1/pipelines", map[string]string{"name": "gated",
		"source": "pipeline \"gated\"\nstage \"gate\" { approval; }\n"})
	// A pipeline with a schedule in Temporal, for the schedule routes.
	e.withSchedules(t)
	owner.must(201, "POST", "/orgs/acme/tenants/t1/pipelines", map[string]string{"name": "sc", "source": helloKDL})
	e.setSchedules(t, "t1", "sc", pipeline.Schedule{Name: "nightly", Cron: "0 3 * * *"})
	const sc = "/orgs/acme/tenants/t1/pipelines/sc/schedules/nightly"
	// Run 1 of p1, ended: what callers read, rerun, or are refused.
	const run1 = "/orgs/acme/tenants/t1/pipelines/p1/runs/1"
	owner.must(201, "POST", "/orgs/acme/tenants/t1/pipelines/p1/runs", nil)
	owner.waitRun(run1, ended)
	// Deployment fixtures: a target, an environment, a service, and a
	// succeeded deployment to roll back to.
	const tb = "/orgs/acme/tenants/t1"
	owner.must(201, "POST", tb+"/targets", map[string]any{"name": "tg1", "kind": "fly", "settings": map[string]string{"app": "a", "api-url": "http://127.0.0.1:9"}})
	owner.must(201, "POST", tb+"/environments", map[string]any{"name": "env1"})
	owner.must(201, "POST", tb+"/services", map[string]any{"name": "svc1"})
	t1, err := e.store.Tenants().Get(ctx, org.ID, "t1")
	if err != nil {
		t.Fatal(err)
	}
	succeededDeployment := func(service string) string {
		deps := e.store.Deployments()
		svc, err := deps.PutService(ctx, t1.ID, service, nil)
		if err != nil {
			t.Fatal(err)
		}
		env, err := deps.GetEnvironment(ctx, t1.ID, "env1")
		if err != nil {
			t.Fatal(err)
		}
		d, err := deps.Create(ctx, t1.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: env.ID, Image: "api:v1", Target: "tg1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := deps.SetStatus(ctx, t1.ID, d.ID, buildit.DeploySucceeded); err != nil {
			t.Fatal(err)
		}
		return d.ID.String()
	}
	deployment1 := succeededDeployment("svc1")
	// An artifact of run 1, in a blob store, to download.
	{
		blobs, err := blobstore.Open(ctx, "file://"+t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = blobs.Close() })
		e.api.cfg.Blobs = blobs
		p1, err := e.store.Pipelines().Get(ctx, t1.ID, "p1")
		if err != nil {
			t.Fatal(err)
		}
		r1, err := e.store.Runs().GetRunByNumber(ctx, t1.ID, p1.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := blobs.Put(ctx, "a1", strings.NewReader("an archive"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Artifacts().PutArtifact(ctx, t1.ID, db.NewArtifact{Run: r1.WorkflowID, StageID: "greet", Name: "a1",
			BlobKey: obj.Key, Size: obj.Size, Digest: obj.Digest, Files: 1}); err != nil {
			t.Fatal(err)
		}
	}

	// freshRun starts a run of pipeline and waits until stage is at want.
	freshRun := func(pipeline, stage string, want buildit.StageStatus) string {
		var v apiview.Run
		owner.must(201, "POST", "/orgs/acme/tenants/t1/pipelines/"+pipeline+"/runs", nil).json(t, &v)
		path := fmt.Sprintf("/orgs/acme/tenants/t1/pipelines/%s/runs/%d", pipeline, v.Number)
		owner.waitRun(path, stageIs(stage, want))
		return path
	}

	member := func(email, orgRole, tenantRole string) *client {
		c := e.signup(email, strings.Split(email, "@")[0]+" home")
		owner.must(201, "POST", "/orgs/acme/members", map[string]string{"email": email, "role": orgRole})
		if tenantRole != "" {
			owner.must(201, "POST", "/orgs/acme/tenants/t1/members", map[string]string{"email": email, "role": tenantRole})
		}
		return c
	}
	outsider := e.signup("out@other.test", "Other")
	outsider.must(201, "POST", "/orgs/other/tenants", map[string]string{"name": "t1"})
	callers := map[string]*client{
		"owner":    owner,
		"admin":    member("admin@acme.test", "admin", ""),
		"plain":    member("plain@acme.test", "member", ""),
		"viewer":   member("viewer@acme.test", "member", "viewer"),
		"tmember":  member("tmember@acme.test", "member", "member"),
		"tadmin":   member("tadmin@acme.test", "member", "admin"),
		"outsider": outsider,
		"kAdmin":   e.withKey(owner.apiKey("acme", map[string]any{"name": "admin", "scopes": Scopes})),
		"kRead":    e.withKey(owner.apiKey("acme", map[string]any{"name": "read", "scopes": []string{ScopePipelinesRead}})),
		"kT1":      e.withKey(owner.apiKey("acme", map[string]any{"name": "t1", "scopes": []string{ScopePipelinesRead, ScopePipelinesWrite}, "tenant": "t1"})),
		"kT2":      e.withKey(owner.apiKey("acme", map[string]any{"name": "t2", "scopes": Scopes[:6], "tenant": "t2"})),
		"kForeign": e.withKey(outsider.apiKey("other", map[string]any{"name": "f", "scopes": Scopes})),
	}
	var plainID string
	{
		var l apiview.List[apiview.Member]
		owner.must(200, "GET", "/orgs/acme/members?limit=500", nil).json(t, &l)
		for _, m := range l.Items {
			if m.Email == "plain@acme.test" {
				plainID = m.UserID.String()
			}
		}
	}
	var readKeyID string
	{
		var l apiview.List[apiview.APIKey]
		owner.must(200, "GET", "/orgs/acme/api-keys", nil).json(t, &l)
		for _, k := range l.Items {
			if k.Name == "read" {
				readKeyID = k.ID.String()
			}
		}
	}

	n := 0
	fresh := func() string { n++; return fmt.Sprintf("x%d", n) }
	// A fresh user, member of acme, for the member endpoints.
	freshMember := func() (email, id string) {
		email = fresh() + "@new.test"
		e.signup(email, "home "+email[:strings.IndexByte(email, '@')])
		var m apiview.Member
		owner.must(201, "POST", "/orgs/acme/members", map[string]string{"email": email}).json(t, &m)
		return email, m.UserID.String()
	}

	allUsers := []string{"owner", "admin", "plain", "viewer", "tmember", "tadmin", "outsider"}
	allKeys := []string{"kAdmin", "kRead", "kT1", "kT2", "kForeign"}
	orgMembers := []string{"owner", "admin", "plain", "viewer", "tmember", "tadmin", "kAdmin", "kRead", "kT1", "kT2"}
	orgAdmins := []string{"owner", "admin", "kAdmin"}
	t1Sees := []string{"owner", "admin", "viewer", "tmember", "tadmin", "kAdmin", "kRead", "kT1"}
	runReaders := []string{"owner", "admin", "viewer", "tmember", "tadmin", "kAdmin"}
	deployReaders := runReaders
	deployAdmins := []string{"owner", "admin", "tadmin", "kAdmin"}
	runWriters := []string{"owner", "admin", "tmember", "tadmin", "kAdmin"}

	type call struct {
		method, path string
		body         any
	}
	cases := []struct {
		route   string // METHOD path as in routes()
		tenant  bool   // a tenant route (visibility by tenant)
		allowed []string
		// req makes the request; allowed callers may get fresh targets so
		// that a deletion does not take away what the next caller needs.
		req func(allowed bool) call
	}{
		{"GET /me", false, append(slices.Clone(allUsers), allKeys...), func(bool) call { return call{"GET", "/me", nil} }},
		{"GET /orgs", false, append(slices.Clone(allUsers), allKeys...), func(bool) call { return call{"GET", "/orgs", nil} }},
		{"GET /orgs/:org", false, orgMembers, func(bool) call { return call{"GET", "/orgs/acme", nil} }},
		{"GET /orgs/:org/members", false, []string{"owner", "admin", "plain", "viewer", "tmember", "tadmin", "kAdmin"}, func(bool) call { return call{"GET", "/orgs/acme/members", nil} }},
		{"POST /orgs/:org/members", false, orgAdmins, func(ok bool) call {
			email := "nobody@new.test"
			if ok {
				email = fresh() + "@new.test"
				e.signup(email, "home "+strings.TrimSuffix(email, "@new.test"))
			}
			return call{"POST", "/orgs/acme/members", map[string]string{"email": email}}
		}},
		{"PATCH /orgs/:org/members/:user", false, orgAdmins, func(ok bool) call {
			id := plainID
			if ok {
				_, id = freshMember()
			}
			return call{"PATCH", "/orgs/acme/members/" + id, map[string]string{"role": "admin"}}
		}},
		{"DELETE /orgs/:org/members/:user", false, orgAdmins, func(ok bool) call {
			id := plainID
			if ok {
				_, id = freshMember()
			}
			return call{"DELETE", "/orgs/acme/members/" + id, nil}
		}},
		{"GET /orgs/:org/tenants", false, orgMembers, func(bool) call { return call{"GET", "/orgs/acme/tenants", nil} }},
		{"POST /orgs/:org/tenants", false, orgAdmins, func(bool) call { return call{"POST", "/orgs/acme/tenants", map[string]string{"name": fresh()}} }},
		{"GET /orgs/:org/tenants/:tenant", true, t1Sees, func(bool) call { return call{"GET", "/orgs/acme/tenants/t1", nil} }},
		{"PATCH /orgs/:org/tenants/:tenant", true, []string{"owner", "admin", "tadmin", "kAdmin"}, func(bool) call {
			return call{"PATCH", "/orgs/acme/tenants/t1", map[string]string{"name": "Tenant " + fresh()}}
		}},
		{"DELETE /orgs/:org/tenants/:tenant", true, orgAdmins, func(ok bool) call {
			slug := "t1"
			if ok {
				slug = fresh()
				owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": slug})
			}
			return call{"DELETE", "/orgs/acme/tenants/" + slug, nil}
		}},
		{"GET /orgs/:org/tenants/:tenant/members", true, []string{"owner", "admin", "viewer", "tmember", "tadmin", "kAdmin"}, func(bool) call { return call{"GET", "/orgs/acme/tenants/t1/members", nil} }},
		{"POST /orgs/:org/tenants/:tenant/members", true, []string{"owner", "admin", "tadmin", "kAdmin"}, func(ok bool) call {
			email := "plain@acme.test"
			if ok {
				email, _ = freshMember()
			}
			return call{"POST", "/orgs/acme/tenants/t1/members", map[string]string{"email": email, "role": "viewer"}}
		}},
		{"GET /orgs/:org/api-keys", false, orgAdmins, func(bool) call { return call{"GET", "/orgs/acme/api-keys", nil} }},
		{"POST /orgs/:org/api-keys", false, orgAdmins, func(bool) call {
			return call{"POST", "/orgs/acme/api-keys", map[string]any{"name": fresh(), "scopes": []string{"runs:read"}}}
		}},
		{"DELETE /orgs/:org/api-keys/:id", false, orgAdmins, func(ok bool) call {
			id := readKeyID
			if ok {
				var k apiview.APIKey
				owner.must(201, "POST", "/orgs/acme/api-keys", map[string]any{"name": fresh(), "scopes": []string{"runs:read"}}).json(t, &k)
				id = k.ID.String()
			}
			return call{"DELETE", "/orgs/acme/api-keys/" + id, nil}
		}},
		{"GET /orgs/:org/tenants/:tenant/pipelines", true, t1Sees, func(bool) call { return call{"GET", "/orgs/acme/tenants/t1/pipelines", nil} }},
		{"POST /orgs/:org/tenants/:tenant/pipelines", true, []string{"owner", "admin", "tmember", "tadmin", "kAdmin", "kT1"}, func(bool) call {
			return call{"POST", "/orgs/acme/tenants/t1/pipelines", map[string]string{"name": fresh(), "source": helloKDL}}
		}},
		{"GET /orgs/:org/tenants/:tenant/pipelines/:pipeline", true, t1Sees, func(bool) call { return call{"GET", "/orgs/acme/tenants/t1/pipelines/p1", nil} }},
		{"PUT /orgs/:org/tenants/:tenant/pipelines/:pipeline", true, []string{"owner", "admin", "tmember", "tadmin", "kAdmin", "kT1"}, func(bool) call {
			return call{"PUT", "/orgs/acme/tenants/t1/pipelines/p1", map[string]string{"source": helloKDL}}
		}},
		{"DELETE /orgs/:org/tenants/:tenant/pipelines/:pipeline", true, []string{"owner", "admin", "tmember", "tadmin", "kAdmin", "kT1"}, func(ok bool) call {
			name := "p1"
			if ok {
				name = fresh()
				owner.must(201, "POST", "/orgs/acme/tenants/t1/pipelines", map[string]string{"name": name, "source": helloKDL})
			}
			return call{"DELETE", "/orgs/acme/tenants/t1/pipelines/" + name, nil}
		}},
		{"GET /orgs/:org/tenants/:tenant/repositories", true, runReaders, func(bool) call { return call{"GET", "/orgs/acme/tenants/t1/repositories", nil} }},
		{"POST /orgs/:org/tenants/:tenant/repositories", true, []string{"owner", "admin", "tadmin", "kAdmin"}, func(bool) call {
			return call{"POST", "/orgs/acme/tenants/t1/repositories", map[string]string{"forge": "gitea", "url": "https://git.example.com/acme/" + fresh(), "token_secret": "S1"}}
		}},
		{"GET /orgs/:org/tenants/:tenant/repositories/:id", true, runReaders, func(bool) call { return call{"GET", "/orgs/acme/tenants/t1/repositories/" + repoID, nil} }},
		{"PATCH /orgs/:org/tenants/:tenant/repositories/:id", true, []string{"owner", "admin", "tadmin", "kAdmin"}, func(bool) call {
			return call{"PATCH", "/orgs/acme/tenants/t1/repositories/" + repoID, map[string]any{"fork_secrets": false}}
		}},
		{"POST /orgs/:org/tenants/:tenant/repositories/:id/rotate-secret", true, []string{"owner", "admin", "tadmin", "kAdmin"}, func(bool) call {
			return call{"POST", "/orgs/acme/tenants/t1/repositories/" + repoID + "/rotate-secret", nil}
		}},
		{"DELETE /orgs/:org/tenants/:tenant/repositories/:id", true, []string{"owner", "admin", "tadmin", "kAdmin"}, func(ok bool) call {
			var r apiview.Repository
			owner.must(201, "POST", "/orgs/acme/tenants/t1/repositories", map[string]string{"forge": "gitea", "url": "https://git.example.com/acme/" + fresh(), "token_secret": "S1"}).json(t, &r)
			return call{"DELETE", "/orgs/acme/tenants/t1/repositories/" + r.ID, nil}
		}},
		{"GET /orgs/:org/tenants/:tenant/schedules", true, runReaders, func(bool) call { return call{"GET", "/orgs/acme/tenants/t1/schedules", nil} }},
		{"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/schedules/:schedule/pause", true, runWriters, func(bool) call { return call{"POST", sc + "/pause", nil} }},
		{"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/schedules/:schedule/resume", true, runWriters, func(bool) call { return call{"POST", sc + "/resume", nil} }},
		{"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/schedules/:schedule/trigger", true, runWriters, func(bool) call { return call{"POST", sc + "/trigger", nil} }},
		{"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/schedules/:schedule/backfill", true, runWriters, func(bool) call {
			// An hour without a firing: allowed, and starts nothing.
			return call{"POST", sc + "/backfill", map[string]string{"start": "2020-01-01T10:00:00Z", "end": "2020-01-01T11:00:00Z"}}
		}},
		{"GET /orgs/:org/tenants/:tenant/secrets", true, []string{"owner", "admin", "tmember", "tadmin", "kAdmin", "kRead", "kT1"}, func(bool) call { return call{"GET", "/orgs/acme/tenants/t1/secrets", nil} }},
		{"GET /orgs/:org/tenants/:tenant/secrets/:name", true, []string{"owner", "admin", "tmember", "tadmin", "kAdmin", "kRead", "kT1"}, func(bool) call { return call{"GET", "/orgs/acme/tenants/t1/secrets/S1", nil} }},
		{"PUT /orgs/:org/tenants/:tenant/secrets/:name", true, []string{"owner", "admin", "tadmin", "kAdmin", "kT1"}, func(bool) call {
			return call{"PUT", "/orgs/acme/tenants/t1/secrets/S1", map[string]string{"value": "v2"}}
		}},
		{"DELETE /orgs/:org/tenants/:tenant/secrets/:name", true, []string{"owner", "admin", "tadmin", "kAdmin", "kT1"}, func(ok bool) call {
			name := "S1"
			if ok {
				name = strings.ToUpper(fresh())
				owner.must(201, "PUT", "/orgs/acme/tenants/t1/secrets/"+name, map[string]string{"value": "v"})
			}
			return call{"DELETE", "/orgs/acme/tenants/t1/secrets/" + name, nil}
		}},
		{"GET /orgs/:org/audit-logs", false, orgAdmins, func(bool) call { return call{"GET", "/orgs/acme/audit-logs", nil} }},

		{"GET /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs", true, runReaders, func(bool) call { return call{"GET", "/orgs/acme/tenants/t1/pipelines/p1/runs", nil} }},
		{"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs", true, runWriters, func(bool) call { return call{"POST", "/orgs/acme/tenants/t1/pipelines/p1/runs", nil} }},
		{"GET /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number", true, runReaders, func(bool) call { return call{"GET", run1, nil} }},
		{"GET /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number/logs", true, runReaders, func(bool) call { return call{"GET", run1 + "/logs?stage=greet", nil} }},
		{"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number/cancel", true, runWriters, func(ok bool) call {
			path := run1
			if ok {
				path = freshRun("slow", "wait", buildit.StageRunning)
			}
			return call{"POST", path + "/cancel", nil}
		}},
		{"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number/rerun", true, runWriters, func(bool) call { return call{"POST", run1 + "/rerun", nil} }},
		{"GET /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number/artifacts", true, runReaders, func(bool) call { return call{"GET", run1 + "/artifacts", nil} }},
		{"GET /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number/artifacts/:name", true, runReaders, func(bool) call { return call{"GET", run1 + "/artifacts/a1", nil} }},
		{"GET /orgs/:org/tenants/:tenant/pipelines/:pipeline/caches", true, runReaders, func(bool) call { return call{"GET", "/orgs/acme/tenants/t1/pipelines/p1/caches", nil} }},
		{"DELETE /orgs/:org/tenants/:tenant/pipelines/:pipeline/caches", true, runWriters, func(bool) call { return call{"DELETE", "/orgs/acme/tenants/t1/pipelines/p1/caches", nil} }},
		{"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number/stages/:stage/approve", true, runWriters, func(ok bool) call {
			path := run1
			if ok {
				path = freshRun("gated", "gate", buildit.StageWaiting)
			}
			return call{"POST", path + "/stages/gate/approve", nil}
		}},
		{"GET /orgs/:org/tenants/:tenant/targets", true, deployReaders, func(bool) call { return call{"GET", tb + "/targets", nil} }},
		{"POST /orgs/:org/tenants/:tenant/targets", true, deployAdmins, func(bool) call {
			return call{"POST", tb + "/targets", map[string]any{"name": fresh(), "kind": "kubernetes", "settings": map[string]string{"namespace": "apps"}}}
		}},
		{"GET /orgs/:org/tenants/:tenant/targets/:target", true, deployReaders, func(bool) call { return call{"GET", tb + "/targets/tg1", nil} }},
		{"PATCH /orgs/:org/tenants/:tenant/targets/:target", true, deployAdmins, func(bool) call {
			return call{"PATCH", tb + "/targets/tg1", map[string]any{"credentials_secret": "FLY_" + strings.ToUpper(fresh())}}
		}},
		{"DELETE /orgs/:org/tenants/:tenant/targets/:target", true, deployAdmins, func(ok bool) call {
			name := "tg1"
			if ok {
				name = fresh()
				owner.must(201, "POST", tb+"/targets", map[string]any{"name": name, "kind": "kubernetes"})
			}
			return call{"DELETE", tb + "/targets/" + name, nil}
		}},
		{"GET /orgs/:org/tenants/:tenant/environments", true, deployReaders, func(bool) call { return call{"GET", tb + "/environments", nil} }},
		{"POST /orgs/:org/tenants/:tenant/environments", true, deployAdmins, func(bool) call {
			return call{"POST", tb + "/environments", map[string]any{"name": fresh(), "require_approval": true}}
		}},
		{"GET /orgs/:org/tenants/:tenant/environments/:env", true, deployReaders, func(bool) call { return call{"GET", tb + "/environments/env1", nil} }},
		{"PATCH /orgs/:org/tenants/:tenant/environments/:env", true, deployAdmins, func(bool) call {
			return call{"PATCH", tb + "/environments/env1", map[string]any{"allowed_branches": []string{"main", fresh()}}}
		}},
		{"DELETE /orgs/:org/tenants/:tenant/environments/:env", true, deployAdmins, func(ok bool) call {
			name := "env1"
			if ok {
				name = fresh()
				owner.must(201, "POST", tb+"/environments", map[string]any{"name": name})
			}
			return call{"DELETE", tb + "/environments/" + name, nil}
		}},
		{"GET /orgs/:org/tenants/:tenant/environments/:env/deployments", true, deployReaders, func(bool) call { return call{"GET", tb + "/environments/env1/deployments", nil} }},
		{"GET /orgs/:org/tenants/:tenant/services", true, deployReaders, func(bool) call { return call{"GET", tb + "/services", nil} }},
		{"POST /orgs/:org/tenants/:tenant/services", true, deployAdmins, func(bool) call {
			return call{"POST", tb + "/services", map[string]any{"name": fresh(), "settings": map[string]any{"team": "web"}}}
		}},
		{"GET /orgs/:org/tenants/:tenant/services/:service", true, deployReaders, func(bool) call { return call{"GET", tb + "/services/svc1", nil} }},
		{"PATCH /orgs/:org/tenants/:tenant/services/:service", true, deployAdmins, func(bool) call {
			return call{"PATCH", tb + "/services/svc1", map[string]any{"settings": map[string]any{"owner": fresh()}}}
		}},
		{"DELETE /orgs/:org/tenants/:tenant/services/:service", true, deployAdmins, func(ok bool) call {
			name := "svc1"
			if ok {
				name = fresh()
				owner.must(201, "POST", tb+"/services", map[string]any{"name": name})
			}
			return call{"DELETE", tb + "/services/" + name, nil}
		}},
		{"POST /orgs/:org/tenants/:tenant/deployments/:id/rollback", true, runWriters, func(ok bool) call {
			id := deployment1
			if ok {
				id = succeededDeployment(fresh())
			}
			return call{"POST", tb + "/deployments/" + id + "/rollback", nil}
		}},
		{"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number/stages/:stage/reject", true, runWriters, func(ok bool) call {
			path := run1
			if ok {
				path = freshRun("gated", "gate", buildit.StageWaiting)
			}
			return call{"POST", path + "/stages/gate/reject", map[string]string{"reason": "no"}}
		}},
	}

	// Every route but those that make or end sessions (tested in the flow,
	// login and OAuth tests) is in the matrix.
	// The sign-in routes of the forges need a forge to sign in to: their
	// access (public, and signed-in users only for link, never keys) is
	// tested with the real Gitea and the stand-ins (oauth_test.go).
	covered := map[string]bool{"POST /auth/signup": true, "POST /auth/login": true, "POST /auth/logout": true,
		"GET /auth/oauth/providers": true, "GET /auth/oauth/:forge/start": true, "GET /auth/oauth/:forge/callback": true,
		"POST /me/oauth/:forge/link": true}
	for _, tc := range cases {
		covered[tc.route] = true
	}
	for _, r := range e.api.routes() {
		if !covered[r.method+" "+r.path] {
			t.Errorf("route %s %s is not in the authorization matrix", r.method, r.path)
		}
	}

	names := append(slices.Clone(allUsers), allKeys...)
	for _, tc := range cases {
		for _, who := range names {
			allowed := slices.Contains(tc.allowed, who)
			cl := tc.req(allowed)
			r := callers[who].do(cl.method, cl.path, cl.body)
			var want string
			switch {
			case allowed:
				if r.status >= 200 && r.status < 300 {
					continue
				}
				want = "2xx"
			case who == "outsider" || who == "kForeign" || (tc.tenant && (who == "plain" || who == "kT2")):
				if r.status == 404 {
					continue
				}
				want = "404"
			default:
				if r.status == 403 {
					continue
				}
				want = "403"
			}
			t.Errorf("%s as %s: %d, want %s: %s", tc.route, who, r.status, want, r.body)
		}
	}
	// An unauthenticated caller gets 401 everywhere but signup and login.
	anon := e.anon()
	for _, r := range e.api.routes() {
		if r.level == public {
			continue
		}
		path := strings.NewReplacer(":org", "acme", ":tenant", "t1", ":pipeline", "p1", ":name", "S1", ":user", plainID, ":id", readKeyID).Replace(r.path)
		if res := anon.do(r.method, path, nil); res.status != 401 {
			t.Errorf("%s %s without credentials: %d", r.method, r.path, res.status)
		}
	}
}
