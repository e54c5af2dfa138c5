package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/executor/executortest"
	"github.com/buildit-ci/buildit/internal/temporaltest"
)

// stack is server mode started for a test: buildit server (and, when
// asked, buildit worker with the host executor) as commands in this
// process, on an embedded Temporal server and a Postgres database.
type stack struct {
	base     string // the API's base URL
	dbURL    string
	temporal string // Temporal's HOST:PORT
	queue    string
	key      string // BUILDIT_SECRET_KEY
	blobURL  string // the blob store the server and workers share
}

type stackOpts struct {
	dbURL            string // default: a database of the test's own
	worker           bool
	hostQueueTimeout string
	serverArgs       []string // more flags of buildit server
	blobURL          string   // default: a folder of the test's own
}

func startStack(t *testing.T, o stackOpts) *stack {
	t.Helper()
	te := temporaltest.Start(t, temporaltest.Options{OwnServer: true, Postgres: o.dbURL == ""})
	st := &stack{dbURL: o.dbURL, key: strings.Repeat("cd", 32), queue: te.TaskQueue, temporal: te.Server.HostPort(),
		blobURL: o.blobURL}
	if st.blobURL == "" {
		st.blobURL = "file://" + t.TempDir()
	}
	if st.dbURL == "" {
		st.dbURL = te.DBURL
	}
	addr := freeAddr(t)
	server := []string{"server", "--database-url", st.dbURL, "--addr", addr, "--secret-key", st.key, "--temporal-address", st.temporal,
		"--task-queue", st.queue, "--temporal-ui-url", "http://ui.test", "--allow-host-stages", "--blob-url", st.blobURL}
	if o.hostQueueTimeout != "" {
		server = append(server, "--host-queue-timeout", o.hostQueueTimeout)
	}
	server = append(server, o.serverArgs...)
	commands := [][]string{server}
	if o.worker {
		commands = append(commands, st.workerArgs(t, "test-host"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var dones []chan error
	for _, args := range commands {
		root := NewRootCommand("test")
		logs := &lockedBuffer{}
		root.SetOut(logs)
		root.SetErr(logs)
		root.SetArgs(args)
		done := make(chan error, 1)
		go func() { done <- root.ExecuteContext(ctx) }()
		dones = append(dones, done)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("buildit %s log:\n%s", args[0], logs.String())
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		for _, d := range dones {
			select {
			case err := <-d:
				if err != nil {
					t.Errorf("stop: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("a process did not stop")
			}
		}
	})
	st.base = "http://" + addr
	waitReady(t, st.base)
	return st
}

// workerArgs are the arguments of a buildit worker for the stack, which
// runs host stages (a single-tenant setup).
func (st *stack) workerArgs(t *testing.T, hostID string) []string {
	return []string{"worker", "--database-url", st.dbURL, "--secret-key", st.key, "--temporal-address", st.temporal,
		"--task-queue", st.queue, "--executor", "host", "--work-dir", executortest.ReachableDir(t), "--host-id", hostID, "--allow-host-stages", "--blob-url", st.blobURL}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiCall sends a JSON request with a browser's cookie jar.
func apiCall(t *testing.T, hc *http.Client, method, url string, body any, want int) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
	return b
}

// signUpAnn makes Ann's account and organization Acme and signs hc in:
// signup answers 202 and signs nobody in.
func signUpAnn(t *testing.T, hc *http.Client, base string) {
	t.Helper()
	apiCall(t, hc, "POST", base+"/api/v1/auth/signup", map[string]string{"email": "ann@acme.test", "password": "correct-horse-1", "name": "Ann", "organization": "Acme"}, 202)
	apiCall(t, hc, "POST", base+"/api/v1/auth/login", map[string]string{"email": "ann@acme.test", "password": "correct-horse-1"}, 200)
}

// The remote CLI against buildit server and buildit worker: login with an
// API key, push pipelines, trigger and follow runs, list, show, read logs,
// approve, cancel and rerun, with tables for people and JSON for scripts.
func TestRemoteCLI(t *testing.T) {
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

	dir := t.TempDir()
	t.Setenv("BUILDIT_CONFIG", filepath.Join(dir, "credentials.json"))
	t.Setenv("BUILDIT_URL", "")
	t.Setenv("BUILDIT_ORG", "")
	t.Setenv("BUILDIT_TENANT", "")

	// Not logged in yet.
	t.Setenv("BUILDIT_TOKEN", "")
	if code, _, stderr := run(t, "pipelines", "list"); code != 2 || !strings.Contains(stderr, "not logged in") {
		t.Errorf("list before login: %d %s", code, stderr)
	}
	// A wrong key is refused and nothing is saved.
	t.Setenv("BUILDIT_TOKEN", "bik_aaaaaaaa_"+strings.Repeat("x", 43))
	if code, _, stderr := run(t, "login", "--url", base); code == 0 || !strings.Contains(stderr, "refused the key") {
		t.Errorf("login with a bad key: %d %s", code, stderr)
	}
	// The key's org and tenant are found from the key.
	t.Setenv("BUILDIT_TOKEN", key.Secret)
	code, stdout, stderr := run(t, "login", "--url", base)
	if code != 0 || !strings.Contains(stdout, `org "acme", tenant "web"`) {
		t.Fatalf("login: %d %s%s", code, stdout, stderr)
	}
	t.Setenv("BUILDIT_TOKEN", "") // from here on, the saved login

	app := writeFile(t, "app.kdl", `pipeline "app"
stage "build" { run "echo building for $GREETING"; }
stage "test" needs="build" { run "echo testing"; }
`)
	code, stdout, stderr = run(t, "pipelines", "push", app)
	if code != 0 || !strings.Contains(stdout, "pushed pipeline app (version 1) to acme/web") {
		t.Fatalf("push: %d %s%s", code, stdout, stderr)
	}
	bad := writeFile(t, "bad.kdl", "pipeline \"bad\"\nstage \"a\" { rnu \"x\"; }\n")
	if code, _, stderr := run(t, "pipelines", "push", bad); code != 2 || !strings.Contains(stderr, "bad.kdl:2:13") {
		t.Errorf("push of an invalid file: %d %s", code, stderr)
	}
	if code, stdout, _ := run(t, "pipelines", "list"); code != 0 || !strings.Contains(stdout, "app") || !strings.Contains(stdout, "NAME") {
		t.Errorf("list: %d %s", code, stdout)
	}

	code, stdout, stderr = run(t, "trigger", "app", "--follow", "--env", "GREETING=hi", "--branch", "main")
	if code != 0 || !strings.Contains(stdout, "build | building for hi") || !strings.Contains(stdout, "test  | testing") || !strings.Contains(stdout, "run 1 succeeded") {
		t.Fatalf("trigger --follow: %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "run 1 of app started: http://ui.test/") {
		t.Errorf("trigger did not print the Temporal UI link: %s", stderr)
	}
	code, stdout, _ = run(t, "runs", "list", "app")
	if code != 0 || !strings.Contains(stdout, "1    succeeded  main") {
		t.Errorf("runs list: %d\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "runs", "list", "app", "--json", "--status", "failed")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("runs list --status failed --json: %d %q", code, stdout)
	}
	code, stdout, _ = run(t, "runs", "show", "app", "1", "--json")
	var shown struct {
		Status string
		Stages []struct{ ID, Status string }
	}
	if err := json.Unmarshal([]byte(stdout), &shown); err != nil || code != 0 || shown.Status != "succeeded" || len(shown.Stages) != 2 {
		t.Errorf("runs show --json: %d %v %s", code, err, stdout)
	}
	code, stdout, _ = run(t, "runs", "logs", "app", "1", "--stage", "build")
	if code != 0 || strings.TrimSpace(stdout) != "build | building for hi" {
		t.Errorf("runs logs --stage: %d %q", code, stdout)
	}

	// A failing pipeline: exit 1, then a rerun of what failed.
	fail := writeFile(t, "flaky.kdl", fmt.Sprintf("pipeline \"flaky\"\nstage \"lint\" { run \"echo ok\"; }\nstage \"test\" { run \"test -f %s\"; }\n", filepath.Join(dir, "fixed")))
	run(t, "pipelines", "push", fail)
	if code, stdout, _ := run(t, "trigger", "flaky", "-f"); code != 1 || !strings.Contains(stdout, "run 1 failed: pipeline failed: test") {
		t.Errorf("trigger of a failing pipeline: %d\n%s", code, stdout)
	}
	if err := os.WriteFile(filepath.Join(dir, "fixed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = run(t, "runs", "rerun", "flaky", "1", "--failed", "--follow")
	if code != 0 || !strings.Contains(stdout, "run 2 succeeded") || !strings.Contains(stdout, "lint") {
		t.Errorf("rerun --failed --follow: %d\n%s", code, stdout)
	}

	// An approval gate, decided from the CLI.
	gated := writeFile(t, "gated.kdl", "pipeline \"gated\"\nstage \"gate\" { approval; }\nstage \"ship\" needs=\"gate\" { run \"echo shipped\"; }\n")
	run(t, "pipelines", "push", gated)
	if code, stdout, _ := run(t, "trigger", "gated"); code != 0 || !strings.Contains(stdout, "run 1 of gated started") {
		t.Fatalf("trigger gated: %d %s", code, stdout)
	}
	waitFor(t, func() bool {
		_, stdout, _ := run(t, "runs", "show", "gated", "1", "--json")
		return strings.Contains(stdout, `"status": "waiting"`)
	})
	if code, stdout, stderr := run(t, "runs", "approve", "gated", "1", "gate", "--reason", "ok"); code != 0 || !strings.Contains(stdout, "stage gate approved") {
		t.Errorf("approve: %d %s%s", code, stdout, stderr)
	}
	if code, stdout, _ := run(t, "runs", "logs", "gated", "1", "-f"); code != 0 || !strings.Contains(stdout, "ship | shipped") {
		t.Errorf("logs -f: %d\n%s", code, stdout)
	}

	// Cancel, and the errors people make.
	slow := writeFile(t, "slow.kdl", "pipeline \"slow\"\nstage \"wait\" { run \"sleep 30\"; }\n")
	run(t, "pipelines", "push", slow)
	run(t, "trigger", "slow")
	if code, stdout, _ := run(t, "runs", "cancel", "slow", "1"); code != 0 || !strings.Contains(stdout, "cancel requested") {
		t.Errorf("cancel: %d %s", code, stdout)
	}
	waitFor(t, func() bool {
		_, stdout, _ := run(t, "runs", "show", "slow", "1", "--json")
		return strings.Contains(stdout, `"status": "cancelled"`)
	})
	if code, _, stderr := run(t, "runs", "cancel", "slow", "1"); code != 1 || !strings.Contains(stderr, "ended") {
		t.Errorf("cancel of an ended run: %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "trigger", "nope"); code != 2 || !strings.Contains(stderr, "pipeline not found") {
		t.Errorf("trigger of no pipeline: %d %s", code, stderr)
	}
	if code, _, stderr := run(t, "runs", "show", "app", "zero"); code != 2 || !strings.Contains(stderr, "run number") {
		t.Errorf("a bad run number: %d %s", code, stderr)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
