package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/apiview"
)

// optionalBody lists the routes whose body may be left out.
var optionalBody = map[string]bool{
	"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs":                               true,
	"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number/cancel":                true,
	"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number/rerun":                 true,
	"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number/stages/:stage/approve": true,
	"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/runs/:number/stages/:stage/reject":  true,
	"POST /orgs/:org/tenants/:tenant/deployments/:id/rollback":                               true,
	"POST /orgs/:org/tenants/:tenant/repositories/:id/rotate-secret":                         true,
	"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/schedules/:schedule/pause":          true,
	"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/schedules/:schedule/resume":         true,
	"POST /orgs/:org/tenants/:tenant/pipelines/:pipeline/schedules/:schedule/trigger":        true,
	"POST /me/oauth/:forge/link": true,
}

// Bad input on every endpoint that takes a body: malformed JSON, a wrong
// type, an unknown field, a body over 1 MiB and a non-JSON content type get
// a 4xx with the error shape, never a 500.
func TestBadBodies(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t1"})
	owner.must(201, "POST", "/orgs/acme/tenants/t1/pipelines", map[string]string{"name": "p1", "source": helloKDL})
	anon := e.anon()
	bodies := map[string]struct {
		body   string
		status int
	}{
		"malformed":     {`{"name":`, 400},
		"not an object": {`[]`, 400},
		"wrong type":    {`{"name": 42, "email": 42, "role": 42, "source": 42, "value": 42, "scopes": "x"}`, 400},
		"unknown field": {`{"zzz": 1}`, 400},
		"too large":     {`{"name":"` + strings.Repeat("a", MaxBody) + `"}`, 413},
		"empty":         {``, 400},
	}
	for _, r := range e.api.routes() {
		if r.method == http.MethodGet || r.method == http.MethodDelete || r.path == "/auth/logout" {
			continue
		}
		path := strings.NewReplacer(":org", "acme", ":tenant", "t1", ":pipeline", "p1", ":name", "S1", ":user", "00000000-0000-0000-0000-000000000000",
			":number", "1", ":stage", "gate", ":target", "tg", ":env", "env", ":service", "svc", ":id", "00000000-0000-0000-0000-000000000000").Replace(r.path)
		c := owner
		if r.level == public {
			c = anon
		}
		for name, b := range bodies {
			if name == "empty" && optionalBody[r.method+" "+r.path] {
				continue
			}
			res := c.do(r.method, path, b.body)
			if r.path == "/orgs/:org/members/:user" && res.status == 404 {
				continue // the member is looked up after the body: either is fine
			}
			if res.status != b.status || res.code() == "" {
				t.Errorf("%s %s with %s body: %d %s, want %d with an error code", r.method, r.path, name, res.status, res.body, b.status)
			}
		}
	}
	// A form post (what a cross-site form can send) is refused.
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/auth/login", strings.NewReader("email=a&password=b"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 415 {
		t.Errorf("form login: %d, want 415", res.StatusCode)
	}
}

// Values that parse but are wrong get a 422 that says which field.
func TestInvalidValues(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t1"})
	anon := e.anon()
	for _, tc := range []struct {
		c            *client
		method, path string
		body         any
		want         string
	}{
		{anon, "POST", "/auth/signup", map[string]string{"email": "not-an-email", "password": "long-enough-12", "name": "A", "organization": "O"}, "email"},
		{anon, "POST", "/auth/signup", map[string]string{"email": "a@b.test", "password": "short", "name": "A", "organization": "Org"}, "password"},
		{anon, "POST", "/auth/signup", map[string]string{"email": "a@b.test", "password": "password1234", "name": "A", "organization": "Org"}, "password is too common"},
		{anon, "POST", "/auth/signup", map[string]string{"email": "a@b.test", "password": "long-enough-12", "name": "", "organization": "Org"}, "name"},
		{anon, "POST", "/auth/signup", map[string]string{"email": "a@b.test", "password": "long-enough-12", "name": "A", "organization": "Org", "organization_slug": "Bad_Slug"}, "organization_slug"},
		{anon, "POST", "/auth/signup", map[string]string{"email": "a@b.test", "password": "long-enough-12", "name": "A", "organization": "日本"}, "organization_slug"},
		{anon, "POST", "/auth/login", map[string]string{"email": "", "password": ""}, "required"},
		{owner, "POST", "/orgs/acme/tenants", map[string]string{"name": "T", "slug": "-bad-"}, "slug"},
		{owner, "POST", "/orgs/acme/tenants", map[string]string{"slug": "ok-slug"}, "name is required"},
		{owner, "PATCH", "/orgs/acme/tenants/t1", map[string]string{"slug": "api"}, "reserved"},
		{owner, "POST", "/orgs/acme/members", map[string]string{"email": "nobody@x.test"}, "sign up first"},
		{owner, "POST", "/orgs/acme/members", map[string]string{"email": "owner@acme.test", "role": "king"}, "role"},
		{owner, "POST", "/orgs/acme/api-keys", map[string]any{"name": "k", "scopes": []string{"root"}}, "unknown scope"},
		{owner, "POST", "/orgs/acme/api-keys", map[string]any{"name": "k", "scopes": []string{}}, "scopes is required"},
		{owner, "POST", "/orgs/acme/api-keys", map[string]any{"name": "k", "scopes": []string{"runs:read"}, "tenant": "nope"}, "no tenant"},
		{owner, "POST", "/orgs/acme/api-keys", map[string]any{"name": "k", "scopes": []string{"runs:read"}, "expires_at": time.Now().Add(-time.Hour)}, "future"},
		{owner, "POST", "/orgs/acme/tenants/t1/pipelines", map[string]string{"name": "bad name!", "source": helloKDL}, "name"},
		{owner, "POST", "/orgs/acme/tenants/t1/pipelines", map[string]string{"name": "p", "source": ""}, "source is required"},
		{owner, "POST", "/orgs/acme/tenants/t1/pipelines", map[string]string{"name": "p", "source": "pipeline \"x\" {"}, "invalid"},
		{owner, "PUT", "/orgs/acme/tenants/t1/secrets/1BAD", map[string]string{"value": "v"}, "environment variable"},
		{owner, "PUT", "/orgs/acme/tenants/t1/secrets/OK", map[string]string{}, "value is required"},
	} {
		res := tc.c.do(tc.method, tc.path, tc.body)
		if res.status != 422 || !strings.Contains(string(res.body), tc.want) {
			t.Errorf("%s %s %v: %d %s, want 422 about %q", tc.method, tc.path, tc.body, res.status, res.body, tc.want)
		}
	}
	// Bad query parameters are 400s.
	for _, path := range []string{"/orgs?limit=0", "/orgs?limit=x", "/orgs/acme/audit-logs?since=yesterday", "/orgs/acme/audit-logs?actor=me", "/orgs/acme/tenants?after=zzzz", "/orgs/acme/tenants?after=%00"} {
		if res := owner.do("GET", path, nil); res.status != 400 && res.status != 422 {
			t.Errorf("GET %s: %d %s, want 400", path, res.status, res.body)
		}
	}
	// Headers: a malformed Authorization is a 401, not a 500.
	for _, h := range []string{"Bearer", "Basic abc", "Bearer bik_short", "Bearer bik_abcdefgh_" + strings.Repeat("x", 43)} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", h)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("Authorization %q: %d, want 401", h, res.StatusCode)
		}
	}
}

// No answer, log line or audit entry holds a password, a session token,
// an API key's secret or a secret's value.
func TestNoCredentialsLeak(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const password = "hunter2-hunter2-secret"
	anon := e.anon()
	anon.must(202, "POST", "/auth/signup", map[string]string{"email": "ann@acme.test", "password": password, "name": "Ann", "organization": "Acme"})
	anon.must(200, "POST", "/auth/login", map[string]string{"email": "ann@acme.test", "password": password})
	anon.do("POST", "/auth/login", map[string]string{"email": "ann@acme.test", "password": password + "-wrong"})
	u, _ := http.NewRequest("GET", e.srv.URL, nil)
	var token string
	for _, ck := range anon.hc.Jar.Cookies(u.URL) {
		if ck.Name == SessionCookie {
			token = ck.Value
		}
	}
	if token == "" {
		t.Fatal("no session cookie")
	}
	anon.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t1"})
	key := anon.apiKey("acme", map[string]any{"name": "k", "scopes": Scopes})
	_, keySecret, _ := strings.Cut(strings.TrimPrefix(key, "bik_"), "_")
	const secretValue = "the-secret-value-42"
	anon.must(201, "PUT", "/orgs/acme/tenants/t1/secrets/TOKEN", map[string]string{"value": secretValue})
	e.withKey(key).must(200, "GET", "/orgs/acme/audit-logs?limit=500", nil)
	e.withKey(key+"x").must(401, "GET", "/me", nil)

	audit, err := e.store.Audit().List(t.Context(), mustOrg(t, e, "acme"), dbAuditFilter(), "", 500)
	if err != nil {
		t.Fatal(err)
	}
	auditJSON, _ := json.Marshal(audit)
	// The create response is the one place the key's secret may be.
	seen := strings.Replace(e.seen.String(), key, "<the created key>", 1)
	for where, text := range map[string]string{"responses": seen, "logs": e.logs.String(), "audit": string(auditJSON)} {
		for what, s := range map[string]string{"password": password, "session token": token, "API key secret": keySecret, "secret value": secretValue} {
			if strings.Contains(text, s) {
				t.Errorf("%s contain the %s", where, what)
			}
		}
	}
	if !strings.Contains(e.logs.String(), `"route":"/api/v1/auth/login"`) {
		t.Error("request log lacks the login route; the leak check read nothing")
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.signup("ann@acme.test", "Acme")
	e.api.loginByIP = newLimiter(10*time.Second, 30)
	anon := e.anon()
	var last resp
	for i := 0; i < 11; i++ {
		last = anon.do("POST", "/auth/login", map[string]string{"email": "ann@acme.test", "password": "wrong-password"})
	}
	if last.status != 429 || last.header.Get("Retry-After") == "" || last.code() != CodeRateLimited {
		t.Fatalf("11th wrong login: %d %s (Retry-After %q), want 429", last.status, last.body, last.header.Get("Retry-After"))
	}
	// The right password is refused too while the email is limited.
	if r := anon.do("POST", "/auth/login", map[string]string{"email": "ann@acme.test", "password": "password-ann@acme.test"}); r.status != 429 {
		t.Errorf("right password while limited: %d", r.status)
	}
	// Another email from the same address is not limited by the first.
	e.signup("bob@acme.test", "Bobs")
	anon.must(200, "POST", "/auth/login", map[string]string{"email": "bob@acme.test", "password": "password-bob@acme.test"})
}

func TestPlanLimitsAndOwners(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	for i := range 3 {
		owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t" + itoa(i)})
	}
	r := owner.do("POST", "/orgs/acme/tenants", map[string]string{"name": "t4"})
	if r.status != 403 || r.code() != CodePlanLimit {
		t.Errorf("4th tenant on free: %d %s", r.status, r.body)
	}
	admin := e.signup("admin@acme.test", "Home")
	var m apiview.Member
	owner.must(201, "POST", "/orgs/acme/members", map[string]string{"email": "admin@acme.test", "role": "admin"}).json(t, &m)
	var me apiview.Me
	owner.must(200, "GET", "/me", nil).json(t, &me)
	ownerID := me.User.ID.String()
	// An admin cannot make an owner nor touch one.
	if r := admin.do("PATCH", "/orgs/acme/members/"+m.UserID.String(), map[string]string{"role": "owner"}); r.status != 403 {
		t.Errorf("admin promotes self to owner: %d", r.status)
	}
	if r := admin.do("DELETE", "/orgs/acme/members/"+ownerID, nil); r.status != 403 {
		t.Errorf("admin removes the owner: %d", r.status)
	}
	// The last owner stays.
	if r := owner.do("PATCH", "/orgs/acme/members/"+ownerID, map[string]string{"role": "member"}); r.status != 409 {
		t.Errorf("last owner demoted: %d %s", r.status, r.body)
	}
	if r := owner.do("DELETE", "/orgs/acme/members/"+ownerID, nil); r.status != 409 {
		t.Errorf("last owner removed: %d %s", r.status, r.body)
	}
	// Members: 5 on free (owner + admin + 3).
	for i := range 3 {
		email := "m" + itoa(i) + "@acme.test"
		e.signup(email, "home"+itoa(i))
		owner.must(201, "POST", "/orgs/acme/members", map[string]string{"email": email})
	}
	e.signup("m9@acme.test", "home9")
	if r := owner.do("POST", "/orgs/acme/members", map[string]string{"email": "m9@acme.test"}); r.status != 403 || r.code() != CodePlanLimit {
		t.Errorf("6th member on free: %d %s", r.status, r.body)
	}
	// Signing up twice with one email (any case) creates nothing, and says
	// nothing about it (TestSecurityLoginAndSignupSameWhetherEmailExists).
	if r := e.anon().do("POST", "/auth/signup", map[string]string{"email": "OWNER@acme.test", "password": "long-enough-12", "name": "X", "organization": "Another"}); r.status != 202 {
		t.Errorf("duplicate email: %d %s", r.status, r.body)
	}
	if _, err := e.store.Organizations().GetBySlug(t.Context(), "another"); err == nil {
		t.Error("a signup with a taken email created its organization")
	}
	if r := e.anon().do("POST", "/auth/signup", map[string]string{"email": "new@acme.test", "password": "long-enough-12", "name": "X", "organization": "Acme"}); r.status != 409 || !strings.Contains(string(r.body), "organization_slug") {
		t.Errorf("taken org slug: %d %s", r.status, r.body)
	}
}

// The OpenAPI description lists exactly the router's routes.
func TestOpenAPIMatchesRouter(t *testing.T) {
	e := setup(t)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	r := e.anon().must(200, "GET", "/openapi.json", nil)
	r.json(t, &doc)
	param := regexp.MustCompile(`\{(\w+)\}`)
	var inDoc, inRouter []string
	for p, ops := range doc.Paths {
		for m := range ops {
			inDoc = append(inDoc, strings.ToUpper(m)+" "+param.ReplaceAllString(p, ":$1"))
		}
	}
	for _, rt := range e.api.engine.Routes() {
		path, ok := strings.CutPrefix(rt.Path, "/api/v1")
		if !ok || path == "/openapi.json" {
			continue
		}
		inRouter = append(inRouter, rt.Method+" "+path)
	}
	sort.Strings(inDoc)
	sort.Strings(inRouter)
	if strings.Join(inDoc, "\n") != strings.Join(inRouter, "\n") {
		t.Errorf("openapi.json and the router differ:\nopenapi:\n%s\nrouter:\n%s", strings.Join(inDoc, "\n"), strings.Join(inRouter, "\n"))
	}
}
