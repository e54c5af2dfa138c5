package cli

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"
)

const inputsPipeline = `pipeline "deploy"
inputs {
    environment type="choice" default="staging" { values "staging" "production"; }
    dry-run type="boolean" default=#false
}
stage "show" {
    run "echo env=${inputs.environment} dry=$BUILDIT_INPUT_DRY_RUN event=$BUILDIT_EVENT pr=$BUILDIT_PR base=$BUILDIT_BASE_BRANCH tag=$BUILDIT_TAG branch=$BUILDIT_BRANCH"
}
stage "pr-only" { when event="pull_request"; run "echo in a pull request"; }
`

// buildit run -i gives inputs to a local run as a server does; --pr,
// --base and --tag set the trigger (and the event) for when and the
// BUILDIT_* variables; a wrong input is exit 2 naming it.
func TestRunInputsAndTrigger(t *testing.T) {
	file := writeFile(t, "deploy.kdl", inputsPipeline)
	code, stdout, stderr := run(t, "run", file, "-i", "environment=production", "--input", "dry-run=yes", "--pr", "12", "--base", "main", "--branch", "feat")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"env=production dry=true event=pull_request pr=12 base=main tag= branch=feat", "in a pull request"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, stderr = run(t, "run", file, "--tag", "v1.2", "--branch", "main")
	if code != 0 || !strings.Contains(stdout, "env=staging dry=false event=tag pr= base= tag=v1.2 branch=main") || !strings.Contains(stdout, "pr-only  skipped") {
		t.Errorf("run --tag: exit %d\n%s%s", code, stdout, stderr)
	}

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"not a choice":  {[]string{"-i", "environment=prod"}, `input environment: "prod" is not one of staging, production`},
		"not a boolean": {[]string{"-i", "dry-run=maybe"}, `input dry-run: "maybe" is not a boolean`},
		"undeclared":    {[]string{"-i", "environmen=x"}, `input environmen: pipeline "deploy" declares no such input; did you mean "environment"?`},
		"no value":      {[]string{"-i", "environment"}, `--input "environment": want NAME=VALUE`},
		"twice":         {[]string{"-i", "dry-run=1", "-i", "dry-run=0"}, `--input dry-run is given twice`},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := run(t, append([]string{"run", file}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

// buildit trigger -i sends inputs to the server: a good run uses them, a
// wrong one is refused (exit 2) with the server's message naming it.
func TestTriggerInputs(t *testing.T) {
	base := startStack(t, stackOpts{worker: true}).base
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	signUpAnn(t, hc, base)
	apiCall(t, hc, "POST", base+"/api/v1/orgs/acme/tenants", map[string]string{"name": "web"}, 201)
	var key struct{ Secret string }
	if err := json.Unmarshal(apiCall(t, hc, "POST", base+"/api/v1/orgs/acme/api-keys", map[string]any{
		"name": "ci", "tenant": "web", "scopes": []string{"pipelines:read", "pipelines:write", "runs:read", "runs:write"},
	}, 201), &key); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BUILDIT_CONFIG", filepath.Join(t.TempDir(), "credentials.json"))
	t.Setenv("BUILDIT_URL", base)
	t.Setenv("BUILDIT_ORG", "acme")
	t.Setenv("BUILDIT_TENANT", "web")
	t.Setenv("BUILDIT_TOKEN", key.Secret)

	file := writeFile(t, "deploy.kdl", inputsPipeline)
	if code, stdout, stderr := run(t, "pipelines", "push", file); code != 0 {
		t.Fatalf("push: %d %s%s", code, stdout, stderr)
	}
	code, _, stderr := run(t, "trigger", "deploy", "-i", "environment=prod")
	if code != 2 || !strings.Contains(stderr, `input environment: "prod" is not one of staging, production`) {
		t.Errorf("trigger with a wrong input: %d %s", code, stderr)
	}
	code, stdout, stderr := run(t, "trigger", "deploy", "--json", "-i", "environment=production", "--input", "dry-run=true")
	var v struct{ Inputs map[string]string }
	if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || v.Inputs["environment"] != "production" || v.Inputs["dry-run"] != "true" {
		t.Errorf("trigger with inputs: %d %s%s", code, stdout, stderr)
	}
}

// buildit validate says what starts a pipeline and what inputs it takes.
func TestValidatePrintsTriggers(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, "validate", filepath.Join("..", "examples", "triggers.kdl"))
	want := []string{
		`  on: push (main, release/**), pull-request (main), tag (v*), manual, schedule nightly "0 3 * * *" Europe/Berlin`,
		`  inputs: environment (choice, default "staging"), dry-run (boolean, default "false")`,
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || stderr != "" || len(lines) != 3 || lines[1] != want[0] || lines[2] != want[1] {
		t.Errorf("exit %d\n%s%s\nwant lines %q", code, stdout, stderr, want)
	}
}

// An input's value is data, never shell code: whoever may only trigger a
// run (an API key with runs:write, say) cannot make a stage run commands
// of their own, with the pipeline's secrets, through ${inputs.NAME} in a
// `run` command. The value arrives whole, quotes, semicolons and
// substitutions included, and none of it runs.
func TestSecurityInputsAreNotShellCode(t *testing.T) {
	file := writeFile(t, "inject.kdl", `pipeline "inject"
inputs { message; }
stage "say" { run "echo said: ${inputs.message}" "echo \"quoted: ${inputs.message}\""; }
`)
	payload := `hi"; echo INJECTED-$((6*7)); echo "$(echo SUBST-$((6*7)))` + "`echo TICK-$((6*7))`"
	code, stdout, stderr := run(t, "run", file, "-i", "message="+payload)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "-42") {
		t.Errorf("the input ran as shell code:\n%s", stdout)
	}
	// Unquoted, the shell splits the value into words (as it would a
	// variable's); quoted, it arrives whole.
	if !strings.Contains(stdout, "quoted: "+payload) {
		t.Errorf("stdout lacks the whole value %q:\n%s", payload, stdout)
	}
}
