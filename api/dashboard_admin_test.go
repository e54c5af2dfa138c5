package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/dashboard"
	"github.com/buildit-ci/buildit/db"
)

// secretValue is the fixture's secret value: no page may ever show it.
const secretValue = "s3cr3t-VALUE-do-not-show"

// adminFixture is dashFixture with deployments (service api deployed twice
// to staging, both succeeded), a secret, a target and an API key.
type adminFixture struct {
	dashFixture
	dep1, dep2 string // the deployments' ids, revisions 1 and 2
}

func (e *env) adminFixture(t *testing.T) adminFixture {
	t.Helper()
	ctx := context.Background()
	f := adminFixture{dashFixture: e.dashFixture(t)}
	ann := f.owner
	ann.must(201, "POST", f.base+"/environments", map[string]any{"name": "staging", "allowed_branches": []string{"main"}})
	ann.must(201, "POST", f.base+"/environments", map[string]any{"name": "prod", "require_approval": true})
	ann.must(201, "POST", f.base+"/services", map[string]any{"name": "api"})
	ann.must(201, "POST", f.base+"/targets", map[string]any{"name": "fly1", "kind": "fly", "settings": map[string]string{"app": "a"}, "credentials_secret": "FLY_TOKEN"})
	ann.must(201, "PUT", f.base+"/secrets/DB_PASS", map[string]string{"value": secretValue})
	ann.apiKey("acme", map[string]any{"name": "ci-key", "scopes": []string{ScopeRunsRead}})
	deps := e.store.Deployments()
	svc, err := deps.GetService(ctx, f.tenant.ID, "api")
	if err != nil {
		t.Fatal(err)
	}
	env, err := deps.GetEnvironment(ctx, f.tenant.ID, "staging")
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range []string{"api:v1", "api:<v2>"} {
		d, err := deps.Create(ctx, f.tenant.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: env.ID, Image: img, Target: "fly1", Actor: "ann@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := deps.SetStatus(ctx, f.tenant.ID, d.ID, buildit.DeploySucceeded); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			f.dep1 = d.ID.String()
		} else {
			f.dep2 = d.ID.String()
		}
	}
	return f
}

// adminPages are the deployment, editor and settings pages of the
// fixture, each with the API route it mirrors: the method and path to ask
// the API with, and a body that the API refuses as invalid (422/400)
// when the caller may use the route, so that nothing changes.
func (f adminFixture) adminPages() []struct{ page, method, api string } {
	b := f.base
	return []struct{ page, method, api string }{
		{b + "/deployments", "GET", b + "/environments"},
		{b + "/environments/staging", "GET", b + "/environments/staging/deployments"},
		{b + "/services/api", "GET", b + "/services/api"},
		{b + "/new-pipeline", "POST", b + "/pipelines"},
		{b + "/pipelines/app/edit", "PUT", b + "/pipelines/app"},
		{b + "/settings/members", "GET", b + "/members"},
		{b + "/settings/secrets", "GET", b + "/secrets"},
		{b + "/settings/targets", "GET", b + "/targets"},
		{b + "/settings/environments", "GET", b + "/environments"},
		{"/orgs/acme/settings", "GET", "/orgs/acme"},
		{"/orgs/acme/settings/members", "GET", "/orgs/acme/members"},
		{"/orgs/acme/settings/api-keys", "GET", "/orgs/acme/api-keys"},
		{"/orgs/acme/settings/audit", "GET", "/orgs/acme/audit-logs"},
	}
}

// apiAnswer is what the API answers c on a page's route: its status, and
// for a change route 200 when it got as far as refusing the empty body.
func apiAnswer(c *client, method, path string) int {
	if method == "GET" {
		return c.do("GET", path, nil).status
	}
	st := c.do(method, path, map[string]any{}).status
	if st == http.StatusUnprocessableEntity || st == http.StatusBadRequest {
		return http.StatusOK
	}
	return st
}

func checkScopes(t *testing.T, path string, doc *html.Node) {
	t.Helper()
	for _, th := range findAll(doc, tag("th")) {
		if _, ok := attr(th, "scope"); !ok {
			t.Errorf("GET %s: a <th> without scope: %q", path, text(th))
		}
	}
	for _, in := range findAll(doc, func(n *html.Node) bool {
		typ, _ := attr(n, "type")
		return (n.Data == "input" && typ != "hidden") || n.Data == "select" || n.Data == "textarea"
	}) {
		if in.Parent == nil || (in.Parent.Data != "label" && (in.Parent.Parent == nil || in.Parent.Parent.Data != "label")) {
			name, _ := attr(in, "name")
			t.Errorf("GET %s: the field %q has no label", path, name)
		}
	}
}

func TestDashboardAdminPages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.adminFixture(t)
	ann := f.owner
	for _, p := range f.adminPages() {
		r := ann.page(p.page)
		if r.status != 200 {
			t.Fatalf("GET %s: %d\n%s", p.page, r.status, r.body)
		}
		checkPageHeaders(t, p.page, r)
		doc := r.doc(t)
		checkNoInline(t, p.page, doc)
		checkScopes(t, p.page, doc)
	}
	body := func(path string) string { return text(ann.page(path).doc(t)) }
	t.Run("deployments", func(t *testing.T) {
		doc := ann.page(f.base + "/deployments").doc(t)
		m := findAll(doc, withAttr("class", "list matrix"))
		if len(m) != 1 || !strings.Contains(text(m[0]), "revision 2") || !strings.Contains(text(m[0]), "api:<v2>") || !strings.Contains(text(m[0]), "not deployed") {
			t.Errorf("the overview does not show api's revision 2 in staging and nothing in prod")
		}
		if len(findAll(doc, withAttr("href", f.base+"/environments/prod"))) == 0 || len(findAll(doc, withAttr("href", f.base+"/services/api"))) == 0 {
			t.Errorf("the overview links no environment or service")
		}
	})
	t.Run("environment", func(t *testing.T) {
		doc := ann.page(f.base + "/environments/staging").doc(t)
		rows := findAll(doc, withAttr("data-deployment", ""))
		if len(rows) != 2 {
			t.Fatalf("%d deployments, want 2", len(rows))
		}
		if id, _ := attr(rows[0], "data-deployment"); id != f.dep2 || !strings.Contains(text(rows[0]), "live") {
			t.Errorf("the newest row %s is not revision 2, live: %q", id, text(rows[0]))
		}
		if b := findAll(rows[0], tag("button")); len(b) != 0 {
			t.Errorf("a rollback to the live revision")
		}
		b := findAll(rows[1], withAttr("data-url", "/api/v1"+f.base+"/deployments/"+f.dep1+"/rollback"))
		if len(b) != 1 {
			t.Errorf("no rollback to revision 1")
		}
		if len(findAll(doc, tag("dialog"))) != 1 {
			t.Errorf("no confirmation dialog")
		}
	})
	t.Run("service", func(t *testing.T) {
		if s := body(f.base + "/services/api"); !strings.Contains(s, "staging") || !strings.Contains(s, "api:v1") {
			t.Errorf("the service page lacks its history: %s", s)
		}
	})
	t.Run("editor", func(t *testing.T) {
		doc := ann.page(f.base + "/pipelines/app/edit").doc(t)
		ta := findAll(doc, tag("textarea"))
		if len(ta) != 1 || text(ta[0]) != dashKDL {
			t.Errorf("the editor does not hold the source")
		}
		forms := findAll(doc, withAttr("data-url", "/api/v1"+f.base+"/pipelines/app"))
		if len(forms) != 1 {
			t.Fatalf("no form PUT to the pipeline")
		}
		if m, _ := attr(forms[0], "data-method"); m != "PUT" {
			t.Errorf("the editor sends %s", m)
		}
		if len(findAll(doc, withAttr("name", "version"))) != 1 {
			t.Errorf("no version for optimistic locking")
		}
		doc = ann.page(f.base + "/new-pipeline").doc(t)
		if forms := findAll(doc, withAttr("data-url", "/api/v1"+f.base+"/pipelines")); len(forms) != 1 || len(findAll(forms[0], withAttr("name", "name"))) != 1 {
			t.Errorf("no new pipeline form")
		}
		// What the form shows on a 422: the API's file:line:col details.
		r := ann.do("PUT", f.base+"/pipelines/app", map[string]string{"source": "pipeline \"app\"\nstage \"x\" { nope; }\n"})
		if r.status != 422 || !strings.Contains(string(r.body), `"line"`) || !strings.Contains(string(r.body), `"column"`) {
			t.Errorf("the API's 422 lacks line and column: %s", r.body)
		}
	})
	t.Run("org", func(t *testing.T) {
		doc := ann.page("/orgs/acme").doc(t)
		if len(findAll(doc, withAttr("data-url", "/api/v1/orgs/acme/tenants"))) != 1 {
			t.Errorf("no create-tenant form for the owner")
		}
		if s := body("/orgs/acme/settings"); !strings.Contains(s, "free") {
			t.Errorf("no plan: %s", s)
		}
		if s := body("/orgs/acme/settings/members"); !strings.Contains(s, "ann@example.com") || !strings.Contains(s, "owner") {
			t.Errorf("members: %s", s)
		}
		if s := body("/orgs/acme/settings/api-keys"); !strings.Contains(s, "ci-key") || !strings.Contains(s, "runs:read") {
			t.Errorf("keys: %s", s)
		}
		if s := body("/orgs/acme/settings/audit"); !strings.Contains(s, "secret.put") || !strings.Contains(s, "tenant.create") {
			t.Errorf("audit: %s", s)
		}
		if s := body("/orgs/acme/settings/audit?action=secret.put"); !strings.Contains(s, "secret.put") || strings.Contains(s, "tenant.create") {
			t.Errorf("the action filter: %s", s)
		}
		if s := body("/orgs/acme/settings/audit?tenant=nope"); strings.Contains(s, "secret.put") {
			t.Errorf("an unknown tenant's filter shows entries")
		}
		if r := ann.page("/orgs/acme/settings/audit?since=yesterday"); r.status != ann.do("GET", "/orgs/acme/audit-logs?since=yesterday", nil).status {
			t.Errorf("a bad since: %d, not the API's status", r.status)
		}
	})
	t.Run("tenant settings", func(t *testing.T) {
		if s := body(f.base + "/settings/secrets"); !strings.Contains(s, "DB_PASS") {
			t.Errorf("secrets: %s", s)
		}
		if s := body(f.base + "/settings/targets"); !strings.Contains(s, "fly1") || !strings.Contains(s, "FLY_TOKEN") {
			t.Errorf("targets: %s", s)
		}
		if s := body(f.base + "/settings/environments"); !strings.Contains(s, "release") && (!strings.Contains(s, "main") || !strings.Contains(s, "required")) {
			t.Errorf("environments: %s", s)
		}
	})
}

// The new pages answer as their API routes do: 404 to another
// organization's user and to a member of the organization outside the
// tenant, what the API gives a tenant viewer and a plain org member, and
// no page shows a secret's value.
func TestSecurityDashboardAdminSameAccessAsAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.adminFixture(t)
	bob := e.signup("bob@example.com", "Other")
	member, _ := e.joined(f.owner, "acme", "mia@example.com", "member")
	viewer, _ := e.joined(f.owner, "acme", "vic@example.com", "member")
	f.owner.must(201, "POST", f.base+"/members", map[string]string{"email": "vic@example.com", "role": "viewer"})
	for _, who := range []struct {
		name string
		c    *client
	}{{"owner", f.owner}, {"other org", bob}, {"org member outside the tenant", member}, {"tenant viewer", viewer}} {
		for _, p := range f.adminPages() {
			want := apiAnswer(who.c, p.method, p.api)
			r := who.c.page(p.page)
			if r.status != want {
				t.Errorf("%s: GET %s: %d, the API's %s %s answers %d", who.name, p.page, r.status, p.method, p.api, want)
			}
			checkPageHeaders(t, p.page, r)
			if (who.c == bob || who.c == member && strings.HasPrefix(p.page, f.base)) && r.status != 404 {
				t.Errorf("%s: GET %s: %d, want 404", who.name, p.page, r.status)
			}
			if r.status == 404 && strings.Contains(string(r.body), "DB_PASS") {
				t.Errorf("%s: GET %s: the 404 page names a secret", who.name, p.page)
			}
		}
	}
	// A viewer reads deployments but is offered no rollback; members and
	// secrets settings show no forms to whom the API refuses changes.
	doc := viewer.page(f.base + "/environments/staging").doc(t)
	if b := findAll(doc, withAttr("data-url", "")); len(b) != 0 {
		t.Errorf("a viewer is offered a rollback")
	}
	if doc := member.page("/orgs/acme").doc(t); len(findAll(doc, withAttr("data-url", "/api/v1/orgs/acme/tenants"))) != 0 {
		t.Errorf("an org member is offered to create a tenant")
	}
	// Nor is a viewer offered to edit a pipeline (the API's PUT is a 403
	// to them), where its owner is.
	editLinks := func(c *client) int {
		return len(findAll(c.page(f.base+"/pipelines/app").doc(t), withAttr("href", f.base+"/pipelines/app/edit")))
	}
	if n := editLinks(viewer); n != 0 {
		t.Errorf("a viewer is offered to edit the pipeline")
	}
	if n := editLinks(f.owner); n != 1 {
		t.Errorf("the owner is offered %d links to edit the pipeline", n)
	}
	// Things of the tenant that do not exist are 404s, as in the API.
	for _, p := range []string{f.base + "/environments/nope", f.base + "/services/nope", f.base + "/pipelines/nope/edit"} {
		if r := f.owner.page(p); r.status != 404 {
			t.Errorf("GET %s: %d, want 404", p, r.status)
		}
	}
	// Signed out: to the sign-in page.
	anon := e.anon()
	for _, p := range f.adminPages() {
		if r := anon.page(p.page); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login?next=") {
			t.Errorf("signed out: GET %s: %d", p.page, r.status)
		}
	}
}

// A secret's value is write-only: no page has it, for any user.
func TestSecurityDashboardNoSecretValue(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.adminFixture(t)
	paths := []string{}
	for _, p := range f.pages() {
		paths = append(paths, p.page)
	}
	for _, p := range f.adminPages() {
		paths = append(paths, p.page)
	}
	for _, p := range paths {
		r := f.owner.page(p)
		if strings.Contains(string(r.body), secretValue) {
			t.Errorf("GET %s shows the secret's value", p)
		}
	}
}

// The create-key form offers exactly the API's scopes.
func TestDashboardAPIKeyScopes(t *testing.T) {
	t.Parallel()
	if !slices.Equal(dashboard.APIKeyScopes, Scopes) {
		t.Errorf("dashboard.APIKeyScopes %v, the API's %v", dashboard.APIKeyScopes, Scopes)
	}
}
