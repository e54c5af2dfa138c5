package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/repourl"
	"github.com/buildit-ci/buildit/repourl/repourltest"
)

// enterprise lifts the org's plan limits, so that many runs can start.
func enterprise(t *testing.T, e *env, slug string) {
	t.Helper()
	ent := db.PlanEnterprise
	if _, err := e.store.Organizations().Update(context.Background(), mustOrg(t, e, slug), db.OrganizationPatch{Plan: &ent}); err != nil {
		t.Fatal(err)
	}
}

// refusedRepository fails the test unless r is the 422 of a refused
// repository.
func refusedRepository(t *testing.T, what string, r resp) {
	t.Helper()
	var body struct{ Error Error }
	_ = json.Unmarshal(r.body, &body)
	if r.status != 422 || body.Error.Code != CodeInvalid || !strings.HasPrefix(body.Error.Message, "repository: ") {
		t.Errorf("%s: %d %s, want a 422 naming the repository", what, r.status, r.body)
	}
}

// A trigger's repository is checked against the policy: local paths,
// file://, git's remote helpers (fd::0 held a run in queued for 43
// minutes), git://, options and malformed URLs are a 422 naming the field;
// https, ssh and user@host:path are accepted.
func TestSecurityTriggerRefusesRepositories(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	enterprise(t, e, "acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "hello", "source": helloKDL})
	base := "/orgs/acme/tenants/web/pipelines/hello/runs"

	for _, c := range repourltest.Refusals {
		if !utf8.ValidString(c.Repository) {
			continue // JSON cannot carry it
		}
		if strings.ContainsRune(c.Repository, 0) {
			// NUL may be the request decoder's to refuse, a 400.
			if r := owner.do("POST", base, map[string]any{"repository": c.Repository}); r.status != 400 && r.status != 422 {
				t.Errorf("%q: %d %s", c.Repository, r.status, r.body)
			}
			continue
		}
		refusedRepository(t, c.Repository, owner.do("POST", base, map[string]any{"repository": c.Repository}))
	}
	for _, repo := range repourltest.Accepted {
		if r := owner.do("POST", base, map[string]any{"repository": repo}); r.status != 201 {
			t.Errorf("%q: %d %s, want it accepted", repo, r.status, r.body)
		}
	}
	// A refused repository never becomes a run.
	var runs apiview.List[apiview.Run]
	owner.must(200, "GET", base+"?limit=100", nil).json(t, &runs)
	if len(runs.Items) != len(repourltest.Accepted) {
		t.Errorf("%d runs, want one per accepted repository (%d)", len(runs.Items), len(repourltest.Accepted))
	}
	// A run's readers do not see the password of its repository's URL.
	if strings.Contains(e.seen.String(), "ghp_secret") || !strings.Contains(e.seen.String(), "x-access-token:xxxxx@github.com") {
		t.Error("an answer shows the password of a repository URL")
	}
}

// A rerun checks its repository again: a run stored before the policy
// (here, its params set to a local path) cannot be rerun into a clone of
// the worker's disk.
func TestSecurityRerunRechecksRepository(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "hello", "source": helloKDL})
	base := "/orgs/acme/tenants/web/pipelines/hello/runs"
	var run apiview.Run
	owner.must(201, "POST", base, nil).json(t, &run)
	owner.waitRun(base+"/1", ended)
	for _, repo := range []string{"/srv/buildit/workspaces", "fd::0"} {
		if _, err := e.store.Pool().Exec(context.Background(), "UPDATE pipeline_runs SET params = jsonb_build_object('repository', $1::text) WHERE workflow_id = $2", repo, run.WorkflowID); err != nil {
			t.Fatal(err)
		}
		refusedRepository(t, "rerun of a run of "+repo, owner.do("POST", base+"/1/rerun", nil))
	}
}

// A refused repository never leaves a run sitting in queued: a trigger
// naming git's fd::0 helper is refused at once (before, its run stayed
// queued for 43 minutes, holding one of the organization's places); and
// one that passes the server but not the worker (the server allows http,
// this worker does not) fails at once, saying why.
func TestSecurityRefusedRepositoryNeverQueues(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "hello", "source": helloKDL})
	base := "/orgs/acme/tenants/web/pipelines/hello/runs"

	if r := owner.do("POST", base, map[string]any{"repository": "fd::0"}); r.status == 201 {
		var run apiview.Run
		r.json(t, &run)
		done := owner.waitRun(base+"/1", ended) // fails the test if still queued
		t.Fatalf("fd::0 was accepted; its run ended %s: %s", done.Status, done.Error)
	} else {
		refusedRepository(t, "fd::0", r)
	}

	e.svc.Repositories = repourl.Policy{AllowHTTP: true}
	var run apiview.Run
	owner.must(201, "POST", base, map[string]any{"repository": "http://127.0.0.1:1/app.git"}).json(t, &run)
	done := owner.waitRun(base+"/1", ended)
	if done.Status != buildit.RunFailed || !strings.Contains(done.Error, "preparing the workspace: repository: http:// is not allowed") {
		t.Errorf("a run whose repository the worker refuses ended %s: %q", done.Status, done.Error)
	}
}
