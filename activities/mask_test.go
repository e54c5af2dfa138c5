package activities

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/workflows"
)

// The secrets the masking tests print. token is 31 bytes, with characters
// that URL and JSON escaping change, so that "user:"+token is a whole
// number of base64 groups; pem is a multi-line secret with a line too
// short to be masked alone ("abc") and a blank one.
const (
	token = `p4ss/w0rd+"q"&<t>\back?x=1 ok!!`
	pem   = "-----BEGIN TEST KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ\nabc\n   \n-----END TEST KEY-----\n"
)

// lineSink keeps the lines written to it.
type lineSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *lineSink) WriteLine(_ string, _ executor.Stream, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, line)
}

func (s *lineSink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// forms is what a stage prints of token and pem, and how each line must
// reach the log.
func forms() []struct{ name, line, want string } {
	jsonEscaped := `p4ss/w0rd+\"q\"\u0026\u003ct\u003e\\back?x=1 ok!!`
	echoed := b64(token + "\n") // echo "$TOKEN" | base64
	long := strings.Repeat(token, 3)
	wrapped := b64(long)
	return []struct{ name, line, want string }{
		{"as it is", "token=" + token, "token=***"},
		{"base64", "b64=" + b64(token), "b64=***"},
		{"base64 without padding", "b64=" + base64.RawStdEncoding.EncodeToString([]byte(token)), "b64=***"},
		{"base64url", "b64=" + base64.URLEncoding.EncodeToString([]byte(token)), "b64=***"},
		{"base64url without padding", "b64=" + base64.RawURLEncoding.EncodeToString([]byte(token)), "b64=***"},
		// The first 7 characters encode "user:" (the 7th also holds the
		// top 2 bits of the token's first byte).
		{"base64 of a longer string (basic auth)", "Authorization: Basic " + b64("user:"+token), "Authorization: Basic dXNlcjp***"},
		// Left: the newline's last bits and the padding (the character
		// before, which holds the token's last 2 bits and the newline's
		// first 4, which are zero, is masked by the unpadded form).
		{"base64 of the secret and a newline", "b64=" + echoed, "b64=***" + echoed[len(echoed)-2:]},
		{"base64 wrapped at 76 columns, first line", wrapped[:76], "***"},
		{"base64 wrapped at 76 columns, last line", wrapped[76:], "***"},
		{"URL query escaping", "https://example.com/?t=" + url.QueryEscape(token) + "&x=1", "https://example.com/?t=***&x=1"},
		{"URL path escaping", "https://example.com/" + url.PathEscape(token) + "/x", "https://example.com/***/x"},
		{"hex", "hex " + hex.EncodeToString([]byte(token)), "hex ***"},
		{"HEX", "hex " + strings.ToUpper(hex.EncodeToString([]byte(token))), "hex ***"},
		{"JSON string", `{"token":"` + jsonEscaped + `"}`, `{"token":"***"}`},
		{"JSON string without HTML escaping", `{"token":"` + strings.NewReplacer(`\u0026`, "&", `\u003c`, "<", `\u003e`, ">").Replace(jsonEscaped) + `"}`, `{"token":"***"}`},
		{"twice, and a form beside the secret", token + " " + b64(token) + "|" + token, "*** ***|***"},
		{"a multi-line secret's first line", "-----BEGIN TEST KEY-----", "***"},
		{"a multi-line secret's middle line", "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu", "***"},
		{"a multi-line secret's line, indented", "    KUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ", "    ***"},
		{"a multi-line secret's last line", "-----END TEST KEY-----", "***"},
		{"a multi-line secret in JSON", `"` + strings.ReplaceAll(pem, "\n", `\n`) + `"`, `"***"`},
		// Documented limit: a line shorter than 4 characters is not
		// masked alone (it would hide "abc" everywhere).
		{"a multi-line secret's short line is not masked alone", "abc", "abc"},
		{"no secret", "ok 0.42s", "ok 0.42s"},
	}
}

// Issue 11: masking hid only a secret's exact value; its base64 form and a
// secret printed line by line reached the log. Every form is masked by the
// sink a stage's lines go through.
func TestSecurityMaskedSecretForms(t *testing.T) {
	long := strings.Repeat(token, 3)
	sink := &lineSink{}
	m := newMaskingSink(sink, map[string]string{"TOKEN": token, "PEM": pem, "LONG": long})
	for _, c := range forms() {
		m.WriteLine("s", executor.Stdout, c.line)
	}
	got := sink.all()
	for i, c := range forms() {
		if got[i] != c.want {
			t.Errorf("%s: %q reached the log as %q, want %q", c.name, c.line, got[i], c.want)
		}
	}
}

// runMaskedStage runs one attempt of a host stage through the RunStage activity
// with the given secrets, and returns the stage's log and the activity's
// error.
func runMaskedStage(t *testing.T, a *Stages, step pipeline.Step) ([]string, error) {
	t.Helper()
	sink := &lineSink{}
	a.Sink = sink
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	step.Shell = "sh"
	step.Timeout = time.Minute
	_, err := env.ExecuteActivity(a.RunStage, workflows.StageInput{RunID: "r", Pipeline: "p", Step: step, Attempt: 1, Workspace: t.TempDir()})
	return sink.all(), err
}

// A real stage on the host prints the secrets in every form, computing
// them itself where the shell can (base64, od): each reaches the log only
// as ***.
func TestSecurityMaskedSecretFormsInStageLogs(t *testing.T) {
	long := strings.Repeat(token, 3)
	a := &Stages{Shared: &Shared{Secrets: MapSecrets{"TOKEN": token, "PEM": pem, "LONG": long}}, Host: host.New(host.Options{})}
	env := map[string]string{}
	var run []string
	for i, c := range forms() {
		// The line is handed to the stage in a plain variable, not as a
		// secret: the stage prints it as it would print any output.
		name := fmt.Sprintf("FORM_%d", i)
		env[name] = c.line
		run = append(run, fmt.Sprintf(`printf '%%s\n' "$%s"`, name))
	}
	run = append(run,
		`printf '%s' "$TOKEN" | base64`,
		`printf 'user:%s' "$TOKEN" | base64`,
		`printf '%s' "$TOKEN" | od -An -tx1 | tr -d ' \n'; echo`,
		`printf '%s\n' "$PEM"`,
		`printf '%s' "$LONG" | base64`,
	)
	lines, err := runMaskedStage(t, a, pipeline.Step{ID: "leak", Run: run, Env: env, Secrets: []string{"TOKEN", "PEM", "LONG"}})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range forms() {
		want = append(want, c.want)
	}
	want = append(want, "***", "dXNlcjp***", "***", // base64, basic auth, od
		"***", "***", "***", "abc", "   ", "***", "", // the PEM, line by line; printf adds an empty line
		"***", "***") // base64 wraps LONG at 76 columns
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("the stage's log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// failingExecutor fails to prepare a stage with a message that holds the
// stage's secret in several forms, as an engine's error may quote a
// setting.
type failingExecutor struct{ executor.Executor }

func (failingExecutor) Name() string { return "failing" }
func (failingExecutor) Prepare(_ context.Context, spec *executor.Spec) error {
	v := spec.Secrets["TOKEN"]
	return fmt.Errorf("pull registry.example.com/app: denied for %s (%s, %s)", v, b64(v), url.QueryEscape(v))
}
func (failingExecutor) Destroy(context.Context, *executor.Spec) error { return nil }

// Errors of the machinery, which enter workflow history and the stage's
// log, are masked the same way.
func TestSecurityMaskedSecretFormsInErrors(t *testing.T) {
	a := &Stages{Shared: &Shared{Secrets: MapSecrets{"TOKEN": token}}, Host: failingExecutor{}}
	lines, err := runMaskedStage(t, a, pipeline.Step{ID: "leak", Run: []string{"true"}, Secrets: []string{"TOKEN"}})
	const want = "prepare: pull registry.example.com/app: denied for *** (***, ***)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("the activity's error: %v\nwant it to say %q", err, want)
	}
	if len(lines) != 1 || lines[0] != "buildit: "+want {
		t.Errorf("the stage's log: %q", lines)
	}
}
