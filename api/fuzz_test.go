package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

// bodyRoutes returns the routes that take a JSON body, with their paths
// filled in for FuzzRequestBodies' fixtures.
func bodyRoutes(s *Server) []route {
	fill := strings.NewReplacer(":org", "acme", ":tenant", "t1", ":pipeline", "p1", ":name", "S1",
		":user", "00000000-0000-0000-0000-000000000000", ":number", "1", ":stage", "gate",
		":target", "tg", ":env", "env", ":service", "svc", ":id", "00000000-0000-0000-0000-000000000000")
	var out []route
	for _, r := range s.routes() {
		switch r.method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			if r.path == "/auth/logout" {
				continue
			}
			r.path = fill.Replace(r.path)
			out = append(out, r)
		}
	}
	return out
}

// fuzzSeeds are bodies worth starting from: valid ones for each kind of
// request, and the bad bytes that once gave 500s.
var fuzzSeeds = []string{
	`{"email":"owner@acme.test","password":"password-owner@acme.test"}`,
	`{"email":"new@acme.test","password":"a fine long passphrase","name":"N","organization":"New Org"}`,
	`{"name":"t9","slug":"t9"}`,
	`{"email":"owner@acme.test","role":"admin"}`,
	`{"role":"member"}`,
	`{"name":"k","scopes":["runs:read"],"tenant":"t1","expires_at":"2999-01-01T00:00:00Z"}`,
	`{"name":"p2","source":"pipeline \"p2\"\nstage \"a\" { run \"echo\"; }\n"}`,
	`{"source":"pipeline \"p1\"\nstage \"a\" { run \"echo\"; }\n","version":1}`,
	`{"branch":"main","commit":"abc123","event":"push","repository":"https://example.test/r.git","env":{"A":"1"}}`,
	`{"reason":"no"}`,
	`{"name":"tg2","kind":"fly","settings":{"app":"a"},"credentials_secret":"S1"}`,
	`{"name":"env2","require_approval":true,"allowed_branches":["main"]}`,
	`{"name":"svc2","settings":{"image":"x"}}`,
	`{"value":"v"}`,
	`{"email":"owner@acme.test\u0000","password":"x"}`,
	"{\"name\":\"\xff\xfe\"}",
	`{"name":"\ud800"}`,
	`{"settings":{"a\u0000":"b"}}`,
	`{"name":"` + strings.Repeat("x", 3000) + `"}`,
	`{"env":{"A":"` + strings.Repeat("é", 5000) + `"}}`,
	`{"version":1e400}`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	`{"name":"t1","name":"t2"}`,
}

// FuzzRequestBodies sends fuzzed JSON bodies to every route that takes one,
// through the real router and a real database, and fails on any 5xx (but
// the 503 of the routes that start workflows: this server has no
// Temporal), a panic, or an error answer without the error shape.
//
//	go test -run '^$' -fuzz FuzzRequestBodies -fuzztime 3m ./api
func FuzzRequestBodies(f *testing.F) {
	e := setup(f)
	owner := e.signup("owner@acme.test", "Acme")
	ctx := context.Background()
	org, err := e.store.Organizations().GetBySlug(ctx, "acme")
	if err != nil {
		f.Fatal(err)
	}
	ent := db.PlanEnterprise // no plan limit in the way
	if _, err := e.store.Organizations().Update(ctx, org.ID, db.OrganizationPatch{Plan: &ent}); err != nil {
		f.Fatal(err)
	}
	const tb = "/orgs/acme/tenants/t1"
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t1"})
	owner.must(201, "POST", tb+"/pipelines", map[string]string{"name": "p1", "source": helloKDL})
	owner.must(201, "PUT", tb+"/secrets/S1", map[string]string{"value": "v"})
	owner.must(201, "POST", tb+"/targets", map[string]any{"name": "tg", "kind": "fly", "settings": map[string]string{"app": "a"}})
	owner.must(201, "POST", tb+"/environments", map[string]any{"name": "env"})
	owner.must(201, "POST", tb+"/services", map[string]any{"name": "svc"})
	// PATCH of a tenant may rename it: it gets its own, put back after
	// each call, so the other routes keep theirs.
	var tp apiview.Tenant
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "tp"}).json(f, &tp)
	key := owner.apiKey("acme", map[string]any{"name": "fuzz", "scopes": Scopes})
	routes := bodyRoutes(e.api)
	for i := range routes {
		for _, s := range fuzzSeeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		r := routes[int(which)%len(routes)]
		if r.method == http.MethodPatch && r.path == "/orgs/acme/tenants/t1" {
			r.path = "/orgs/acme/tenants/tp"
			defer func() {
				if _, err := e.store.Pool().Exec(ctx, "UPDATE tenants SET slug = 'tp', name = 'tp' WHERE id = $1", tp.ID); err != nil {
					t.Fatal(err)
				}
			}()
		}
		req, err := http.NewRequestWithContext(context.Background(), r.method, e.srv.URL+"/api/v1"+r.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if r.level != public {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var answer struct {
			Error *struct{ Code, Message string }
		}
		_ = json.Unmarshal(b, &answer)
		switch {
		case res.StatusCode == http.StatusServiceUnavailable && answer.Error != nil && strings.Contains(answer.Error.Message, "workflow service"):
		case res.StatusCode >= 500:
			t.Fatalf("%s %s with %q: %d %s", r.method, r.path, body, res.StatusCode, b)
		case res.StatusCode >= 400 && (answer.Error == nil || answer.Error.Code == ""):
			t.Fatalf("%s %s with %q: %d without the error shape: %s", r.method, r.path, body, res.StatusCode, b)
		}
	})
}
