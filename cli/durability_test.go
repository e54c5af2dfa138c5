package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/db/dbtest"
	"github.com/buildit-ci/buildit/executor/executortest"
)

// childArgsEnv carries a child buildit's arguments (see TestMain).
const childArgsEnv = "BUILDIT_TEST_CHILD_ARGS"

// proc is a buildit command running as a process of its own: this test
// binary, re-executed.
type proc struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	argv, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), childArgsEnv+"="+string(argv)), env...)
	p := &proc{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// Its own process group, so that kill9 takes its stages' shells too,
	// as a machine that dies would.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill9()
		if t.Failed() {
			t.Logf("buildit %s (pid %d) output:\n%s", args[0], cmd.Process.Pid, p.out.String())
		}
	})
	return p
}

// kill9 kills the process and its process group at once, and waits.
func (p *proc) kill9() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// owner is someone signed up on a server, with a tenant "web".
type owner struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func signUp(t *testing.T, base string) *owner {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	o := &owner{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	signUpAnn(t, o.hc, base)
	apiCall(t, o.hc, "POST", base+"/api/v1/orgs/acme/tenants", map[string]string{"name": "web"}, 201)
	return o
}

func (o *owner) pipeline(name, src string) {
	o.t.Helper()
	apiCall(o.t, o.hc, "PUT", o.base+"/api/v1/orgs/acme/tenants/web/pipelines/"+name, map[string]string{"source": src}, 201)
}

func (o *owner) trigger(name string) {
	o.t.Helper()
	apiCall(o.t, o.hc, "POST", o.base+"/api/v1/orgs/acme/tenants/web/pipelines/"+name+"/runs", nil, 201)
}

type runState struct {
	Status string
	Error  string
	Stages []struct {
		ID, Status, Error string
		Attempt           int
	}
}

// get reads a JSON answer; it returns the status and, on 200, decodes.
func (o *owner) get(path string, v any) int {
	res, err := o.hc.Get(o.base + "/api/v1/orgs/acme/tenants/web/pipelines/" + path)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	if res.StatusCode == 200 {
		_ = json.NewDecoder(res.Body).Decode(v)
	}
	return res.StatusCode
}

// waitRun polls run path until cond holds, tolerating a server that is
// away for a while.
func (o *owner) waitRun(path string, timeout time.Duration, cond func(runState) bool) runState {
	o.t.Helper()
	var st runState
	for deadline := time.Now().Add(timeout); ; {
		st = runState{}
		if o.get(path, &st) == 200 && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			o.t.Fatalf("run %s: %+v", path, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (o *owner) logLines(path string) []string {
	o.t.Helper()
	var logs struct {
		Lines []struct {
			Seq  int64
			Line string
		}
	}
	if code := o.get(path, &logs); code != 200 {
		o.t.Fatalf("GET %s: %d", path, code)
	}
	var out []string
	var last int64
	for _, l := range logs.Lines {
		if l.Seq <= last {
			o.t.Errorf("log %s: seq %d after %d", path, l.Seq, last)
		}
		last = l.Seq
		out = append(out, l.Line)
	}
	return out
}

func stageStatus(st runState, id string) string {
	for _, s := range st.Stages {
		if s.ID == id {
			return s.Status
		}
	}
	return ""
}

// countingKDL prints "line 1" … "line n", one every 100 ms, then "done".
func countingKDL(n int) string {
	return fmt.Sprintf(`pipeline "count"
stage "count" { run "for i in $(seq 1 %d); do echo line $i; sleep 0.1; done; echo done"; }
stage "after" needs="count" { run "echo after"; }
`, n)
}

// A worker killed -9 in the middle of a stage: another worker takes the
// run over. The host executor's stage cannot be re-attached (its shell died
// with the worker's process group), so the run prepares its workspace on
// the new worker and runs the stage again there, as the same attempt; its
// log keeps what the first worker flushed and goes on after it.
func TestWorkerKilledMidStage(t *testing.T) {
	st := startStack(t, stackOpts{hostQueueTimeout: "3s"})
	o := signUp(t, st.base)
	o.pipeline("count", countingKDL(30))
	first := startProc(t, nil, st.workerArgs(t, "host-a")...)
	o.trigger("count")
	o.waitRun("count/runs/1", 30*time.Second, func(r runState) bool { return stageStatus(r, "count") == "running" })
	// Let some lines reach the database, then kill the worker.
	for deadline := time.Now().Add(20 * time.Second); len(o.logLines("count/runs/1/logs?stage=count")) < 5; {
		if time.Now().After(deadline) {
			t.Fatal("no log lines stored")
		}
		time.Sleep(100 * time.Millisecond)
	}
	first.kill9()
	flushed := o.logLines("count/runs/1/logs?stage=count")
	startProc(t, nil, st.workerArgs(t, "host-b")...)

	done := o.waitRun("count/runs/1", 90*time.Second, func(r runState) bool {
		return r.Status == "succeeded" || r.Status == "failed" || r.Status == "cancelled"
	})
	if done.Status != "succeeded" || stageStatus(done, "after") != "succeeded" {
		t.Fatalf("run after the worker's death: %+v", done)
	}
	for _, s := range done.Stages {
		if s.ID == "count" && s.Attempt != 1 {
			t.Errorf("the lost worker cost stage count an attempt: %+v", s)
		}
	}
	lines := o.logLines("count/runs/1/logs?stage=count")
	if len(lines) < len(flushed) || strings.Join(lines[:len(flushed)], "\n") != strings.Join(flushed, "\n") {
		t.Errorf("the lines flushed before the kill changed:\nbefore %q\nafter  %q", flushed, lines)
	}
	rest := strings.Join(lines[len(flushed):], "\n")
	var want []string
	for i := 1; i <= 30; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	if !strings.HasSuffix(rest, strings.Join(append(want, "done"), "\n")) {
		t.Errorf("the stage's second run did not log in full after the first's lines:\n%s", rest)
	}
}

// buildit dev killed -9 in the middle of a run and started again on the
// same data dir: the run resumes from Temporal's file and finishes.
func TestDevKilledMidRun(t *testing.T) {
	url := dbtest.URL(dbtest.Pool(t))
	dir, addr := executortest.ReachableDir(t), freeAddr(t)
	args := []string{"dev", "--data-dir", dir, "--addr", addr, "--database-url", url, "--temporal-port", "0", "--no-ui", "--executor", "host", "--allow-host-stages"}
	dev := startProc(t, nil, args...)
	base := "http://" + addr
	waitReady(t, base)
	o := signUp(t, base)
	o.pipeline("count", countingKDL(20))
	o.trigger("count")
	o.waitRun("count/runs/1", 30*time.Second, func(r runState) bool { return stageStatus(r, "count") == "running" })
	time.Sleep(500 * time.Millisecond)
	dev.kill9()

	startProc(t, nil, args...)
	waitReady(t, base)
	done := o.waitRun("count/runs/1", 90*time.Second, func(r runState) bool {
		return r.Status == "succeeded" || r.Status == "failed" || r.Status == "cancelled"
	})
	if done.Status != "succeeded" || stageStatus(done, "after") != "succeeded" {
		t.Fatalf("run after buildit dev's restart: %+v", done)
	}
	if lines := o.logLines("count/runs/1/logs?stage=after"); len(lines) != 1 || lines[0] != "after" {
		t.Errorf("log of the stage after: %q", lines)
	}
}

// Postgres stopped for a few seconds in the middle of a run: the API says
// 503 while it is away, the workflow's records and the stage's log lines
// wait and are written when it is back, and nothing is lost.
func TestPostgresAwayDuringARun(t *testing.T) {
	pg := dbtest.NewCluster(t)
	st := startStack(t, stackOpts{dbURL: pg.URL(), worker: true})
	o := signUp(t, st.base)
	o.pipeline("count", countingKDL(40))
	o.trigger("count")
	o.waitRun("count/runs/1", 30*time.Second, func(r runState) bool { return stageStatus(r, "count") == "running" })

	pg.Stop()
	var out runState
	if code := o.get("count/runs/1", &out); code != 503 {
		t.Errorf("GET run while Postgres is down: %d, want 503", code)
	}
	if res, err := http.Get(st.base + "/readyz"); err != nil || res.StatusCode != 503 {
		t.Errorf("readyz while Postgres is down: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	time.Sleep(3 * time.Second)
	pg.Start()

	done := o.waitRun("count/runs/1", 90*time.Second, func(r runState) bool {
		return r.Status == "succeeded" || r.Status == "failed" || r.Status == "cancelled"
	})
	if done.Status != "succeeded" || stageStatus(done, "after") != "succeeded" {
		t.Fatalf("run after Postgres came back: %+v", done)
	}
	lines := o.logLines("count/runs/1/logs?stage=count")
	var want []string
	for i := 1; i <= 40; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	if got := strings.Join(lines, "\n"); got != strings.Join(append(want, "done"), "\n") {
		t.Errorf("log after the outage:\n%s", got)
	}
}
