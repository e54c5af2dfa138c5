package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/deploy/fly/flytest"
)

// buildit run deploys to Fly.io: here to flytest, a local stand-in for the
// Machines API (no Fly account is reachable from this machine), with the
// token from the environment as in a local run. A second run rolls out the
// next revision; a third, with an image whose machines never pass their
// health check, is rolled back to the second.
func TestRunDeploysToFly(t *testing.T) {
	const token = "fo1_local-run-token"
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	t.Setenv("FLY_API_TOKEN", token)
	pipelineFor := func(image, timeout string) string {
		return writeFile(t, "deploy.kdl", fmt.Sprintf(`pipeline "cd"
stage "build" { run "echo built %[1]s"; }
deploy "api" needs="build" {
    target "fly"
    environment "production"
    image "%[1]s"
    replicas 2
    port 8080
    health-check path="/healthz" timeout="%[2]s"
}
target "fly" kind="fly" { app "acme-api"; region "ams"; api-url "%[3]s"; token-secret "FLY_API_TOKEN"; }
`, image, timeout, srv.URL))
	}

	code, stdout, stderr := run(t, "run", pipelineFor("registry.example.com/api:v1", "30s"))
	if code != 0 || !strings.Contains(stdout, "api   | buildit: deploying registry.example.com/api:v1 as revision 1 to fly") ||
		!strings.Contains(stdout, "revision 1 is healthy") || !strings.Contains(stdout, "api    succeeded") {
		t.Fatalf("first deploy: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "run", pipelineFor("registry.example.com/api:v2", "30s"))
	if code != 0 || !strings.Contains(stdout, "as revision 2 to fly (revision 1, registry.example.com/api:v1, is live)") {
		t.Fatalf("second deploy: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "run", pipelineFor("registry.example.com/api:unhealthy", "2s"))
	if code != 1 || !strings.Contains(stdout, "rolled back to revision 2") || !strings.Contains(stdout, "api    failed") {
		t.Fatalf("unhealthy deploy: exit %d\n%s%s", code, stdout, stderr)
	}
	for id, img := range srv.Images("acme-api") {
		if img != "registry.example.com/api:v2" {
			t.Errorf("machine %s runs %s after the rollback", id, img)
		}
	}
	if strings.Contains(stdout+stderr, token) {
		t.Error("the token is in the output")
	}
	// Without the token: a clear error, not retried.
	t.Setenv("FLY_API_TOKEN", "")
	code, stdout, _ = run(t, "run", pipelineFor("registry.example.com/api:v3", "30s"))
	if code != 1 || !strings.Contains(stdout, "FLY_API_TOKEN is not set") {
		t.Errorf("deploy without a token: exit %d\n%s", code, stdout)
	}
}

// buildit run examples/deploy.kdl, its Fly deploy and what that needs
// (--only api-fly), against flytest: FLY_API_URL points the example's Fly
// target there, a stand-in `docker` on PATH takes the build stage's
// commands (no registry is reachable here), and --approve the gate.
func TestRunDeployExample(t *testing.T) {
	const token = "fo1_example-token"
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	bin := t.TempDir()
	stub := "#!/bin/sh\necho \"docker $*\"\n"
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FLY_API_URL", srv.URL)
	t.Setenv("FLY_API_TOKEN", token)
	t.Setenv("REGISTRY_TOKEN", "registry-secret")
	code, stdout, stderr := run(t, "run", filepath.Join("..", "examples", "deploy.kdl"), "--only", "api-fly", "--approve", "approve",
		"--executor", "local", "--secret", "REGISTRY_TOKEN", "--commit", "0123abcd")
	if code != 0 || !strings.Contains(stdout, "docker push registry.example.com/api:0123abcd") ||
		!strings.Contains(stdout, "deploy succeeded: revision 1 of api-fly is healthy") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for id, img := range srv.Images("acme-api") {
		if img != "registry.example.com/api:0123abcd" {
			t.Errorf("machine %s runs %s", id, img)
		}
	}
}
