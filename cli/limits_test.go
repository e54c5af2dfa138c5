package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/internal/bombtest"
)

// validate and graph refuse a matrix bomb with the message the API gives,
// and exit 2, in bounded memory.
func TestSecurityValidateAndGraphRefuseMatrixBomb(t *testing.T) {
	file := writeFile(t, "bomb.kdl", bombtest.Matrix(10, 6))
	want := file + `:4:5: stage "boom" has 60466176 matrix instances (10 axes: 6×6×6×6×6×6×…); the limit is 256 per stage`
	for _, args := range [][]string{{"validate", file}, {"validate", "-q", file}, {"graph", file}, {"run", file}} {
		t.Run(strings.Join(args[:len(args)-1], " "), func(t *testing.T) {
			var code int
			var stdout, stderr string
			bombtest.Bound(t, 64*bombtest.MiB, func() { code, stdout, stderr = run(t, args...) })
			if code != 2 || stdout != "" || !strings.Contains(stderr, want) {
				t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s\nwant in stderr: %s", code, stdout, stderr, want)
			}
		})
	}
}

// A plan over the size limit is found by planning, which validate does
// even when it prints nothing for valid files.
func TestSecurityValidateRefusesOversizedPlan(t *testing.T) {
	var b strings.Builder
	b.WriteString("pipeline \"dense\"\nstage \"dense\" {\n    run \"" + strings.Repeat("${matrix.a}", 100) + "\"\n    matrix {\n        a")
	for v := range 256 {
		fmt.Fprintf(&b, " \"%03d%s\"", v, strings.Repeat("x", 100))
	}
	b.WriteString("\n    }\n}\n")
	file := writeFile(t, "dense.kdl", b.String())
	want := file + `:2:1: stage "dense": with its matrix expanded the plan grows past 1 MiB, the limit on what expansion produces`
	for _, args := range [][]string{{"validate", file}, {"validate", "-q", file}, {"graph", file}} {
		code, stdout, stderr := run(t, args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, want) {
			t.Errorf("%v: exit %d, want 2\nstdout: %s\nstderr: %s\nwant in stderr: %s", args, code, stdout, stderr, want)
		}
	}
}

// The operator's limit flags: shown in --help, and a value that is no
// positive number is a usage error before anything starts.
func TestLimitFlags(t *testing.T) {
	for _, cmd := range []string{"server", "dev"} {
		code, stdout, _ := run(t, cmd, "--help")
		for _, flag := range []string{"--max-pipeline-bytes", "--max-pipeline-stages", "--max-matrix", "--max-plan-instances", "--max-template-depth", "--max-plan-bytes", "BUILDIT_MAX_MATRIX"} {
			if code != 0 || !strings.Contains(stdout, flag) {
				t.Errorf("%s --help (exit %d) lacks %s", cmd, code, flag)
			}
		}
		code, _, stderr := run(t, cmd, "--max-matrix", "0")
		if code != 2 || !strings.Contains(stderr, "--max-matrix must be at least 1, got 0") {
			t.Errorf("%s --max-matrix 0: exit %d, %s", cmd, code, stderr)
		}
	}
	t.Setenv("BUILDIT_MAX_PIPELINE_STAGES", "lots")
	code, _, stderr := run(t, "server")
	if code != 2 || !strings.Contains(stderr, `BUILDIT_MAX_PIPELINE_STAGES="lots": want a number`) {
		t.Errorf("server with BUILDIT_MAX_PIPELINE_STAGES=lots: exit %d, %s", code, stderr)
	}
}

// An operator raises a limit with a flag of buildit server, and
// buildit pipelines push leaves the limits to the server: a pipeline over
// the defaults is pushed and taken, a bomb over the server's limits is
// refused by it with its message.
func TestPushUnderTheServersLimits(t *testing.T) {
	base := startStack(t, stackOpts{serverArgs: []string{"--max-matrix", "1024", "--max-plan-instances", "1024", "--max-plan-bytes", "4194304"}}).base
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	signUpAnn(t, hc, base)
	apiCall(t, hc, "POST", base+"/api/v1/orgs/acme/tenants", map[string]string{"name": "web"}, 201)
	var key struct{ Secret string }
	if err := json.Unmarshal(apiCall(t, hc, "POST", base+"/api/v1/orgs/acme/api-keys", map[string]any{
		"name": "ci", "tenant": "web", "scopes": []string{"pipelines:read", "pipelines:write"},
	}, 201), &key); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BUILDIT_CONFIG", filepath.Join(t.TempDir(), "credentials.json"))
	t.Setenv("BUILDIT_URL", base)
	t.Setenv("BUILDIT_ORG", "acme")
	t.Setenv("BUILDIT_TENANT", "web")
	t.Setenv("BUILDIT_TOKEN", key.Secret)

	wide := writeFile(t, "wide.kdl", bombtest.Matrix(5, 4)) // 1,024 instances
	code, stdout, stderr := run(t, "pipelines", "push", "--name", "wide", wide)
	if code != 0 || !strings.Contains(stdout, "pushed pipeline wide") || !strings.Contains(stderr, "the limit is 256 per stage") {
		t.Errorf("push of 1,024 instances to a server that allows them: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	bomb := writeFile(t, "bomb.kdl", bombtest.Matrix(20, 5))
	code, stdout, stderr = run(t, "pipelines", "push", "--name", "bomb", bomb)
	if code == 0 || !strings.Contains(stderr, "the limit is 1024 per stage") {
		t.Errorf("push of the 5x20 bomb: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	bad := writeFile(t, "bad.kdl", "pipeline \"bad\"\nstage \"a\" { rnu \"x\"; }\n")
	if code, _, stderr := run(t, "pipelines", "push", bad); code != 2 || !strings.Contains(stderr, "bad.kdl:2:13") {
		t.Errorf("push of an invalid file: %d %s", code, stderr)
	}
}
