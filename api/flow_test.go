package api

import (
	"strconv"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/apiview"
)

func itoa(n int) string { return strconv.Itoa(n) }

// The path a new user takes, as the README's curl walk-through shows it.
func TestSignupToPipeline(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ann := e.signup("ann@example.com", "Acme Corp")

	var me apiview.Me
	ann.must(200, "GET", "/me", nil).json(t, &me)
	if me.User == nil || me.User.Email != "ann@example.com" || len(me.Organizations) != 1 || me.Organizations[0].Slug != "acme-corp" || me.Organizations[0].Role != "owner" {
		t.Fatalf("me = %+v", me)
	}

	var tn apiview.Tenant
	ann.must(201, "POST", "/orgs/acme-corp/tenants", map[string]string{"name": "Web Team"}).json(t, &tn)
	if tn.Slug != "web-team" {
		t.Errorf("tenant slug %q", tn.Slug)
	}
	key := ann.apiKey("acme-corp", map[string]any{"name": "ci", "scopes": []string{"pipelines:read", "pipelines:write"}, "tenant": "web-team"})
	if !strings.HasPrefix(key, "bik_") {
		t.Fatalf("key %q", key)
	}
	bot := e.withKey(key)
	var p apiview.Pipeline
	bot.must(201, "POST", "/orgs/acme-corp/tenants/web-team/pipelines", map[string]string{"name": "hello", "source": helloKDL}).json(t, &p)
	if p.Version != 1 || !strings.Contains(string(p.Plan), `"greet"`) {
		t.Errorf("pipeline %+v", p)
	}
	bot.must(200, "GET", "/orgs/acme-corp/tenants/web-team/pipelines/hello", nil)
	var l apiview.List[apiview.Pipeline]
	bot.must(200, "GET", "/orgs/acme-corp/tenants/web-team/pipelines", nil).json(t, &l)
	if len(l.Items) != 1 || l.Items[0].Source != "" {
		t.Errorf("list %+v", l)
	}

	// An invalid pipeline: 422 with every problem at its line and column.
	r := bot.must(422, "PUT", "/orgs/acme-corp/tenants/web-team/pipelines/hello", map[string]string{"source": "pipeline \"x\"\nstage \"a\" { rnu \"x\"; }\nstage \"b\" needs=\"zz\" { run \"x\"; }\n"})
	var bad struct {
		Error struct {
			Code    string
			Details []apiview.Problem
		}
	}
	r.json(t, &bad)
	found := map[string]bool{}
	for _, d := range bad.Error.Details {
		found[strings.Join([]string{itoa(d.Line), itoa(d.Column), d.Message}, ":")] = true
	}
	for _, want := range []string{`2:13:unknown node "rnu" in stage "a"; did you mean "run"?`, `3:17:stage "b" needs unknown stage "zz"`} {
		if bad.Error.Code != "invalid_pipeline" || !found[want] {
			t.Errorf("422 lacks %q: %s", want, r.body)
		}
	}
	// PUT with the right version, then a stale one.
	bot.must(200, "PUT", "/orgs/acme-corp/tenants/web-team/pipelines/hello", map[string]any{"source": helloKDL, "version": 1})
	if r := bot.do("PUT", "/orgs/acme-corp/tenants/web-team/pipelines/hello", map[string]any{"source": helloKDL, "version": 1}); r.status != 409 {
		t.Errorf("stale version: %d %s", r.status, r.body)
	}
	bot.must(201, "PUT", "/orgs/acme-corp/tenants/web-team/pipelines/other", map[string]any{"source": helloKDL})

	// Secrets are write-only.
	ann.must(201, "PUT", "/orgs/acme-corp/tenants/web-team/secrets/DEPLOY_TOKEN", map[string]string{"value": "s3cr3t-value-xyz"})
	ann.must(200, "PUT", "/orgs/acme-corp/tenants/web-team/secrets/DEPLOY_TOKEN", map[string]string{"value": "s3cr3t-value-xyz2"})
	r = ann.must(200, "GET", "/orgs/acme-corp/tenants/web-team/secrets/DEPLOY_TOKEN", nil)
	if strings.Contains(string(r.body), "s3cr3t") {
		t.Errorf("secret value in GET: %s", r.body)
	}

	// Every change is in the audit log.
	var audit apiview.List[apiview.Audit]
	ann.must(200, "GET", "/orgs/acme-corp/audit-logs", nil).json(t, &audit)
	var actions []string
	for _, a := range audit.Items {
		actions = append(actions, a.Action)
	}
	for _, want := range []string{"user.signup", "tenant.create", "api_key.create", "pipeline.create", "pipeline.update", "secret.put"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit log lacks %s: %v", want, actions)
		}
	}

	// Logout ends the session.
	ann.must(204, "POST", "/auth/logout", nil)
	ann.must(401, "GET", "/me", nil)
	// Login starts another.
	ann.must(200, "POST", "/auth/login", map[string]string{"email": "ANN@example.com", "password": "password-ann@example.com"})
	ann.must(200, "GET", "/me", nil)
}
