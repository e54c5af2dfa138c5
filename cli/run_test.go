package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildit-ci/buildit/internal/temporaltest"
)

// The `buildit run` tests are not parallel: each boots an embedded Temporal
// server, and the Ctrl-C test signals the whole test process.

func TestRunHello(t *testing.T) {
	code, stdout, stderr := run(t, "run", filepath.Join("..", "examples", "hello.kdl"))
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"greet | Hello from BuildIt on", "count | tick 3", "greet  succeeded", "run succeeded in"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}

func TestRunFailureExitsOne(t *testing.T) {
	file := writeFile(t, "fail.kdl", `pipeline "f"
stage "ok" { run "echo fine"; }
stage "bad" needs="ok" { run "echo going down >&2; exit 4"; }
stage "never" needs="bad" { run "echo unreachable"; }
`)
	code, stdout, _ := run(t, "run", file)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stdout)
	}
	for _, want := range []string{"bad   | going down", "bad    failed", "exit status 4", "never  skipped", "run failed in"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "unreachable") {
		t.Error("a skipped stage ran")
	}
}

func TestRunUsageErrorsExitTwo(t *testing.T) {
	good := writeFile(t, "good.kdl", "pipeline \"p\"\nstage \"a\" { run \"true\"; }\n")
	secret := writeFile(t, "secret.kdl", "pipeline \"p\"\nstage \"a\" { secrets \"BUILDIT_TEST_NOT_SET\"; run \"true\"; }\n")
	bad := writeFile(t, "bad.kdl", "pipeline \"p\"\nstage \"a\" { rnu \"true\"; }\n")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"invalid file":     {[]string{"run", bad}, `unknown node "rnu" in stage "a"; did you mean "run"?`},
		"missing file":     {[]string{"run", filepath.Join(t.TempDir(), "none.kdl")}, "no such file or directory"},
		"unknown executor": {[]string{"run", "--executor", "k8s", good}, `unknown --executor "k8s"`},
		"bad env":          {[]string{"run", "--env", "NOEQUALS", good}, `--env "NOEQUALS": want K=V`},
		"unknown --only":   {[]string{"run", "--only", "zz", good}, `no stage named "zz"`},
		"missing secret":   {[]string{"run", secret}, "stages need secrets that are not set: BUILDIT_TEST_NOT_SET"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestRunJSONAndOnly(t *testing.T) {
	file := writeFile(t, "p.kdl", `pipeline "j"
stage "a" { run "echo a"; }
stage "b" needs="a" { run "echo b=$X"; }
stage "c" { run "echo c"; }
`)
	code, stdout, stderr := run(t, "run", "--json", "--only", "b", "--env", "X=42", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		RunID  string `json:"run_id"`
		Status string `json:"status"`
		Stages []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"stages"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if res.Status != "succeeded" || len(res.Stages) != 2 || res.Stages[1].ID != "b" || !strings.HasPrefix(res.RunID, "j-") {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(stderr, "b | b=42") {
		t.Errorf("logs (on stderr with --json) lack b=42:\n%s", stderr)
	}
}

func TestRunApprovalWithoutTerminal(t *testing.T) {
	file := writeFile(t, "gate.kdl", `pipeline "g"
stage "gate" { approval { message "ok?"; }; }
stage "ship" needs="gate" { run "echo shipped"; }
`)
	code, stdout, stderr := run(t, "run", file)
	if code != 1 || !strings.Contains(stderr, `stage "gate" needs approval`) || !strings.Contains(stdout, "ship   skipped") {
		t.Errorf("unapproved: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "run", "--approve", "gate", file)
	if code != 0 || !strings.Contains(stdout, "ship | shipped") || !strings.Contains(stdout, "approved by auto-approve") {
		t.Errorf("--approve: exit %d\n%s", code, stdout)
	}
}

func TestRunCtrlCStopsStagesAndExits130(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "long.kdl")
	if err := os.WriteFile(file, []byte(`pipeline "long"
stage "sleepy" { run "echo $$ > sleepy.pid; sleep 60"; }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "sleepy.pid")
	go func() {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if data, err := os.ReadFile(pidFile); err == nil && len(data) > 0 {
				_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	began := time.Now()
	code, stdout, stderr := run(t, "run", file)
	if code != ExitSignal {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, ExitSignal, stdout, stderr)
	}
	if !strings.Contains(stdout, "sleepy  cancelled") || !strings.Contains(stderr, "interrupted") {
		t.Errorf("stdout: %s\nstderr: %s", stdout, stderr)
	}
	data, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid == 0 {
		t.Fatal("no pid")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if !strings.Contains(string(stat), ") Z ") {
			t.Errorf("stage process %d still runs after Ctrl-C", pid)
		}
	}
	t.Logf("Ctrl-C to exit: %s after start", time.Since(began))
}

// --temporal-address runs on an existing server (here another embedded one,
// standing in for `temporal server start-dev` or a cluster): the run is
// there afterwards, findable by BuildIt's search attributes as the Temporal
// UI would find it.
func TestRunOnAnExistingServer(t *testing.T) {
	srv := temporaltest.OwnServer(t)
	// A namespace without BuildIt's search attributes: buildit run adds
	// them.
	nsc, err := client.NewNamespaceClient(client.Options{HostPort: srv.HostPort(), Logger: temporaltest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer nsc.Close()
	if err := nsc.Register(context.Background(), &workflowservice.RegisterNamespaceRequest{Namespace: "elsewhere", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, "p.kdl", "pipeline \"remote\"\nstage \"a\" { run \"echo hi\"; }\n")
	code, stdout, stderr := run(t, "run", "--json", "--temporal-address", srv.HostPort(), "--namespace", "elsewhere", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	c, err := client.Dial(client.Options{HostPort: srv.HostPort(), Namespace: "elsewhere", Logger: temporaltest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Visibility is eventually consistent.
	query := "BuilditPipeline = 'remote' AND BuilditStatus = 'succeeded' AND BuilditTrigger = 'local'"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetExecutions()); n == 1 && resp.GetExecutions()[0].GetExecution().GetWorkflowId() == res.RunID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no workflow %s matches %q: %v", res.RunID, query, resp.GetExecutions())
		}
	}
}
