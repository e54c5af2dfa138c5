package api

import (
	"context"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/apiview"
)

// connect connects a Gitea repository to acme/web as owner and returns
// the answer (with the webhook secret, shown this once).
func connect(t *testing.T, owner *client, url string) apiview.Repository {
	t.Helper()
	return connectIn(t, owner, url)
}

func connectIn(t testing.TB, owner *client, url string) apiview.Repository {
	t.Helper()
	var r apiview.Repository
	owner.must(201, "POST", "/orgs/acme/tenants/web/repositories", map[string]any{
		"forge": "gitea", "url": url, "token_secret": "GITEA_TOKEN",
	}).json(t, &r)
	return r
}

func TestRepositoriesAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.api.cfg.PublicURL = "https://ci.example.com/"
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "PUT", "/orgs/acme/tenants/web/secrets/GITEA_TOKEN", map[string]string{"value": "tok-not-for-answers"})
	base := "/orgs/acme/tenants/web/repositories"

	// Bad input: 4xx, each saying what.
	for name, tc := range map[string]struct {
		body   any
		status int
	}{
		"not JSON":          {"{", 400},
		"unknown field":     {map[string]any{"forge": "gitea", "url": "https://g.test/a/b", "token_secret": "GITEA_TOKEN", "x": 1}, 400},
		"no forge":          {map[string]any{"url": "https://g.test/a/b", "token_secret": "GITEA_TOKEN"}, 422},
		"unknown forge":     {map[string]any{"forge": "svn", "url": "https://g.test/a/b", "token_secret": "GITEA_TOKEN"}, 422},
		"ssh URL":           {map[string]any{"forge": "gitea", "url": "git@g.test:a/b.git", "token_secret": "GITEA_TOKEN"}, 422},
		"credentials":       {map[string]any{"forge": "gitea", "url": "https://u:p@g.test/a/b", "token_secret": "GITEA_TOKEN"}, 422},
		"no repository":     {map[string]any{"forge": "gitea", "url": "https://g.test/", "token_secret": "GITEA_TOKEN"}, 422},
		"plain http":        {map[string]any{"forge": "gitea", "url": "http://g.test/a/b", "token_secret": "GITEA_TOKEN"}, 422},
		"missing secret":    {map[string]any{"forge": "gitea", "url": "https://g.test/a/b", "token_secret": "NOPE"}, 422},
		"bad pipeline path": {map[string]any{"forge": "gitea", "url": "https://g.test/a/b", "token_secret": "GITEA_TOKEN", "pipelines_path": "../etc"}, 422},
		"bad api url":       {map[string]any{"forge": "gitea", "url": "https://g.test/a/b", "token_secret": "GITEA_TOKEN", "api_url": "ftp://x"}, 422},
	} {
		if r := owner.do("POST", base, tc.body); r.status != tc.status {
			t.Errorf("%s: %d, want %d: %s", name, r.status, tc.status, r.body)
		}
	}

	r := connect(t, owner, "https://Git.Example.com/acme/app.git/")
	if r.URL != "https://git.example.com/acme/app" || r.Forge != "gitea" || r.PipelinesPath != ".buildit" || r.TokenSecret != "GITEA_TOKEN" {
		t.Errorf("connected %+v", r)
	}
	if want := "https://ci.example.com/api/v1/hooks/gitea/" + r.ID; r.WebhookURL != want {
		t.Errorf("webhook_url %q, want %q", r.WebhookURL, want)
	}
	if len(r.WebhookSecret) != 64 {
		t.Errorf("webhook_secret %q: want 32 bytes in hex", r.WebhookSecret)
	}
	// The same repository again (another spelling): a conflict.
	if res := owner.do("POST", base, map[string]any{"forge": "gitea", "url": "https://git.example.com/acme/app", "token_secret": "GITEA_TOKEN"}); res.status != 409 {
		t.Errorf("connect twice: %d %s", res.status, res.body)
	}

	// The secret is shown once: not by get, list, update.
	var got apiview.Repository
	owner.must(200, "GET", base+"/"+r.ID, nil).json(t, &got)
	var list apiview.List[apiview.Repository]
	owner.must(200, "GET", base, nil).json(t, &list)
	if got.WebhookSecret != "" || len(list.Items) != 1 || list.Items[0].WebhookSecret != "" || got.WebhookURL != r.WebhookURL {
		t.Errorf("get %+v, list %+v", got, list)
	}
	var up apiview.Repository
	owner.must(200, "PATCH", base+"/"+r.ID, map[string]any{"fork_secrets": true, "pipelines_path": "ci/"}).json(t, &up)
	if !up.ForkSecrets || up.PipelinesPath != "ci" || up.WebhookSecret != "" {
		t.Errorf("patched %+v", up)
	}
	if res := owner.do("PATCH", base+"/"+r.ID, map[string]any{"url": "https://g.test/x/y"}); res.status != 422 {
		t.Errorf("patch the url: %d", res.status)
	}
	if res := owner.do("PATCH", base+"/"+r.ID, map[string]any{"token_secret": "NOPE"}); res.status != 422 {
		t.Errorf("patch to a missing secret: %d", res.status)
	}
	var rotated apiview.Repository
	owner.must(200, "POST", base+"/"+r.ID+"/rotate-secret", nil).json(t, &rotated)
	if len(rotated.WebhookSecret) != 64 || rotated.WebhookSecret == r.WebhookSecret {
		t.Errorf("rotated secret %q", rotated.WebhookSecret)
	}
	if strings.Contains(e.seen.String(), "tok-not-for-answers") || strings.Contains(e.logs.String(), r.WebhookSecret) {
		t.Error("a token or webhook secret is in an answer or the log")
	}
	if n := strings.Count(e.seen.String(), r.WebhookSecret); n != 1 {
		t.Errorf("the webhook secret is in %d answers, want 1", n)
	}

	// Another tenant (and org) sees nothing: 404 everywhere, also for a
	// non-UUID id.
	other := e.signup("other@evil.test", "Evil")
	other.must(201, "POST", "/orgs/evil/tenants", map[string]string{"name": "web"})
	obase := "/orgs/evil/tenants/web/repositories/" + r.ID
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		if res := other.do(m, obase, map[string]any{}); res.status != 404 {
			t.Errorf("%s across tenants: %d", m, res.status)
		}
	}
	if res := other.do("POST", obase+"/rotate-secret", nil); res.status != 404 {
		t.Errorf("rotate across tenants: %d", res.status)
	}
	if res := owner.do("GET", base+"/not-a-uuid", nil); res.status != 404 {
		t.Errorf("a non-UUID id: %d", res.status)
	}

	// Audited.
	entries, err := e.store.Audit().List(context.Background(), mustOrg(t, e, "acme"), dbAuditFilter(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, a := range entries.Items {
		actions[a.Action] = true
	}
	owner.must(204, "DELETE", base+"/"+r.ID, nil)
	entries, _ = e.store.Audit().List(context.Background(), mustOrg(t, e, "acme"), dbAuditFilter(), "", 100)
	for _, a := range entries.Items {
		actions[a.Action] = true
	}
	for _, want := range []string{"repository.connect", "repository.update", "repository.rotate_secret", "repository.disconnect"} {
		if !actions[want] {
			t.Errorf("no %s in the audit log", want)
		}
	}
	owner.must(404, "GET", base+"/"+r.ID, nil)
}
