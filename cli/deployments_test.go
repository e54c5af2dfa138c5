package cli

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/deploy/fly/flytest"
)

// buildit trigger of a deploy pipeline, buildit deployments list and
// rollback, against buildit server and worker, deploying to flytest (a
// local stand-in for Fly's Machines API).
func TestRemoteDeployments(t *testing.T) {
	const token = "fo1_cli-deploy-token"
	fly := flytest.New(token, "acme-api")
	defer fly.Close()
	base := startStack(t, stackOpts{worker: true}).base
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	api := base + "/api/v1/orgs/acme/tenants/web"
	signUpAnn(t, hc, base)
	apiCall(t, hc, "POST", base+"/api/v1/orgs/acme/tenants", map[string]string{"name": "web"}, 201)
	apiCall(t, hc, "PUT", api+"/secrets/FLY_TOKEN", map[string]string{"value": token}, 201)
	apiCall(t, hc, "POST", api+"/targets", map[string]any{"name": "fly", "kind": "fly", "credentials_secret": "FLY_TOKEN",
		"settings": map[string]string{"app": "acme-api", "api-url": fly.URL}}, 201)
	var key struct{ Secret string }
	if err := json.Unmarshal(apiCall(t, hc, "POST", base+"/api/v1/orgs/acme/api-keys", map[string]any{"name": "ci", "tenant": "web",
		"scopes": []string{"pipelines:read", "pipelines:write", "runs:read", "runs:write", "deployments:read", "deployments:write"}}, 201), &key); err != nil {
		t.Fatal(err)
	}

	t.Setenv("BUILDIT_CONFIG", filepath.Join(t.TempDir(), "credentials.json"))
	t.Setenv("BUILDIT_URL", base)
	t.Setenv("BUILDIT_TOKEN", key.Secret)
	t.Setenv("BUILDIT_ORG", "")
	t.Setenv("BUILDIT_TENANT", "")
	file := writeFile(t, "cd.kdl", `pipeline "cd"
deploy "api" {
    target "fly"
    environment "production"
    image "registry.example.com/api:${BUILDIT_COMMIT}"
    port 8080
    health-check path="/healthz" timeout="20s"
}
target "fly"
`)
	if code, stdout, stderr := run(t, "pipelines", "push", file); code != 0 {
		t.Fatalf("push: %d %s%s", code, stdout, stderr)
	}
	for _, commit := range []string{"aaaa1111", "bbbb2222"} {
		if code, stdout, stderr := run(t, "trigger", "cd", "--commit", commit, "-f"); code != 0 || !strings.Contains(stdout, "deploy succeeded") {
			t.Fatalf("trigger %s: %d\n%s%s", commit, code, stdout, stderr)
		}
	}
	code, stdout, _ := run(t, "deployments", "list", "production")
	if code != 0 || !strings.Contains(stdout, "api      2         succeeded  registry.example.com/api:bbbb2222") {
		t.Errorf("deployments list: %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "deployments", "list", "production", "--json")
	var ds []struct {
		ID       string
		Revision int
		Status   string
	}
	if err := json.Unmarshal([]byte(stdout), &ds); err != nil || code != 0 || len(ds) != 2 || ds[1].Revision != 1 {
		t.Fatalf("deployments list --json: %d %v %s", code, err, stdout)
	}
	code, stdout, stderr := run(t, "deployments", "rollback", ds[1].ID)
	if code != 0 || !strings.Contains(stdout, "rolling api in production back to revision 1 (registry.example.com/api:aaaa1111)") {
		t.Fatalf("rollback: %d %s%s", code, stdout, stderr)
	}
	waitFor(t, func() bool {
		_, stdout, _ := run(t, "deployments", "list", "production", "--json")
		return strings.Count(stdout, `"status": "succeeded"`) == 3
	})
	for id, img := range fly.Images("acme-api") {
		if img != "registry.example.com/api:aaaa1111" {
			t.Errorf("machine %s runs %s after the rollback", id, img)
		}
	}
	if code, _, stderr := run(t, "deployments", "list", "nowhere"); code != 2 || !strings.Contains(stderr, "environment not found") {
		t.Errorf("list of an unknown environment: %d %s", code, stderr)
	}
}
