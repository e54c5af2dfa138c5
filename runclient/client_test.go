package runclient_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/deploy/backends"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/internal/temporaltest"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/workflows"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(childWorkerEnv); spec != "" {
		runChildWorker(spec)
		return
	}
	temporaltest.Main(m)
}

// recorder is a LogSink that keeps every line.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) WriteLine(stage string, stream executor.Stream, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, stage+"|"+stream.String()+"|"+line)
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// harness is an engine on the shared embedded server with its own task
// queue and worker.
type harness struct {
	env       *temporaltest.Env
	c         client.Client
	taskQueue string
	logs      *recorder
	workspace string
	// fastPath is PipelineRunInput.LocalFastPath for the harness's runs.
	fastPath time.Duration
}

func setup(t testing.TB, secrets map[string]string) *harness {
	t.Helper()
	h := setupWithoutWorker(t)
	acts := activities.New(activities.Shared{Sink: h.logs, Secrets: activities.MapSecrets(secrets)})
	acts.Stages.Host = host.New(host.Options{InheritEnv: true})
	acts.Deploys.Backends = backends.For
	h.env.Serve(t, acts, false)
	return h
}

// setupWithoutWorker returns a harness whose task queue no worker serves
// yet.
func setupWithoutWorker(t testing.TB) *harness {
	t.Helper()
	env := temporaltest.Start(t, temporaltest.Options{})
	return &harness{env: env, c: env.Client, taskQueue: env.TaskQueue, logs: &recorder{}, workspace: t.TempDir()}
}

func sanitize(s string) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(s)
}

func planOf(t testing.TB, src string) pipeline.Plan {
	t.Helper()
	p, diags := pipeline.Load("test.kdl", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	return *pipeline.NewPlan(p)
}

// start starts a run of src and returns its workflow ID and handle.
func (h *harness) start(t testing.TB, src string, mod func(*workflows.PipelineRunInput)) (string, client.WorkflowRun) {
	t.Helper()
	id := fmt.Sprintf("%s-%d", sanitize(t.Name()), time.Now().UnixNano())
	in := workflows.PipelineRunInput{RunInput: workflows.RunInput{Plan: planOf(t, src), Workspace: h.workspace, Trigger: buildit.Trigger{Branch: "main", Event: "push"}}, LocalInput: workflows.LocalInput{LocalFastPath: h.fastPath}}
	if mod != nil {
		mod(&in)
	}
	run, err := runclient.StartRun(context.Background(), h.c, in, runclient.RunOptions{ID: id, TaskQueue: h.taskQueue, SearchAttributes: true, Trigger: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return id, run
}

func (h *harness) run(t testing.TB, src string, mod func(*workflows.PipelineRunInput)) workflows.RunState {
	t.Helper()
	_, run := h.start(t, src, mod)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := runclient.Wait(ctx, run)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return st
}

func stageOf(st workflows.RunState, id string) workflows.StageState {
	for _, s := range st.Stages {
		if s.ID == id {
			return s
		}
	}
	return workflows.StageState{}
}

func wantStatus(t *testing.T, st workflows.RunState, want map[string]buildit.StageStatus) {
	t.Helper()
	for id, w := range want {
		if got := stageOf(st, id); got.Status != w {
			t.Errorf("stage %q is %s (%s), want %s", id, got.Status, got.Error, w)
		}
	}
}

// processGone reports whether the process whose PID a stage wrote to file
// has ended.
func processGone(t *testing.T, file string) bool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	// A zombie still answers signal 0; look at its state too.
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || strings.Contains(string(stat), ") Z ")
}

func TestDiamondRunsTheMiddleInParallel(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	var b strings.Builder
	b.WriteString("pipeline \"d\"\nstage \"start\" { run \"echo start\"; }\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "stage \"w%d\" needs=\"start\" { run \"sleep 1\"; }\n", i)
	}
	b.WriteString("stage \"end\" { needs \"w1\" \"w2\" \"w3\" \"w4\" \"w5\" \"w6\" \"w7\" \"w8\"; run \"echo end\"; }\n")
	st := h.run(t, b.String(), nil)
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s: %+v", st.Status, st.Stages)
	}
	// Every middle stage started before any of them finished: they ran
	// together, not one after another.
	var lastStart, firstEnd time.Time
	for i := 1; i <= 8; i++ {
		s := stageOf(st, fmt.Sprintf("w%d", i))
		if s.StartedAt.After(lastStart) {
			lastStart = s.StartedAt
		}
		if firstEnd.IsZero() || s.FinishedAt.Before(firstEnd) {
			firstEnd = s.FinishedAt
		}
	}
	if !lastStart.Before(firstEnd) {
		t.Errorf("middle stages did not overlap: last start %v, first end %v", lastStart, firstEnd)
	}
	if end := stageOf(st, "end"); end.StartedAt.Before(firstEnd) {
		t.Errorf("end started at %v, before the middle finished", end.StartedAt)
	}
}

func TestLogsAndEnvironmentReachTheStage(t *testing.T) {
	t.Parallel()
	h := setup(t, map[string]string{"TOKEN": "s3cr3t-value"})
	st := h.run(t, `pipeline "logs"
env GREETING="hi"
stage "one" {
    env WHO="world"
    secrets "TOKEN"
    run "echo \"$GREETING $WHO\""
    run "echo oops >&2"
    run "echo token=$TOKEN"
    run "echo stage=$BUILDIT_STAGE branch=$BUILDIT_BRANCH event=$BUILDIT_EVENT ci=$CI"
    run "pwd > where.txt"
}
`, nil)
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s: %+v", st.Status, st.Stages)
	}
	logs := h.logs.text()
	for _, want := range []string{
		"one|stdout|hi world", "one|stderr|oops", "one|stdout|token=***",
		"one|stdout|stage=one branch=main event=push ci=true",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "s3cr3t-value") {
		t.Error("a secret value reached the logs")
	}
	where, _ := os.ReadFile(filepath.Join(h.workspace, "where.txt"))
	if strings.TrimSpace(string(where)) != h.workspace {
		t.Errorf("stage ran in %q, want the workspace %q", where, h.workspace)
	}
}

// Issue 11: a secret's base64 form and a multi-line secret printed line by
// line reached the log. End to end on the embedded server, a host stage
// prints its secrets encoded by the shell's own tools and a multi-line
// secret: every one reaches the log as ***.
func TestSecurityMaskedSecretFormsEndToEnd(t *testing.T) {
	t.Parallel()
	const token = "tok-9f8e7d6c5b4a"
	const key = "-----BEGIN TEST KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX\n-----END TEST KEY-----"
	h := setup(t, map[string]string{"TOKEN": token, "KEY": key})
	st := h.run(t, `pipeline "mask"
stage "leak" {
    secrets "TOKEN" "KEY"
    run #"printf '%s' "$TOKEN" | base64"#
    run #"echo "$TOKEN" | base64"#
    run #"printf 'user:%s' "$TOKEN" | base64"#
    run #"printf '%s' "$TOKEN" | od -An -tx1 | tr -d ' \n'; echo"#
    run #"printf '%s\n' "$KEY""#
}
`, nil)
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s: %+v", st.Status, st.Stages)
	}
	var got []string
	for _, l := range strings.Split(h.logs.text(), "\n") {
		if strings.HasPrefix(l, "leak|stdout|") {
			got = append(got, strings.TrimPrefix(l, "leak|stdout|"))
		}
	}
	// "echo" adds a newline, whose last bits and the padding are left;
	// the first 7 characters of "user:…" encode "user:".
	want := []string{"***", "***o=", "dXNlcjp***", "***", "***", "***", "***"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the stage's log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFailFastKillsTheRunningStage(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	st := h.run(t, `pipeline "ff"
stage "slow" { run "echo $$ > slow.pid; sleep 60"; }
stage "bad" { run "sleep 0.5; exit 7"; }
stage "after" needs="slow" { run "true"; }
`, nil)
	if st.Status != buildit.RunFailed {
		t.Fatalf("run %s", st.Status)
	}
	wantStatus(t, st, map[string]buildit.StageStatus{"bad": buildit.StageFailed, "slow": buildit.StageCancelled, "after": buildit.StageSkipped})
	if bad := stageOf(st, "bad"); bad.ExitCode == nil || *bad.ExitCode != 7 {
		t.Errorf("bad = %+v", bad)
	}
	if !processGone(t, filepath.Join(h.workspace, "slow.pid")) {
		t.Error("the cancelled stage's process still runs")
	}
}

func TestTimeoutAndRetry(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	st := h.run(t, `pipeline "tr"
stage "flaky" {
    run "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; test $n -ge 3"
    retry 2
}
stage "hang" needs="flaky" { run "echo $$ > hang.pid; sleep 60"; timeout "1s"; }
`, nil)
	if f := stageOf(st, "flaky"); f.Status != buildit.StageSucceeded || f.Attempt != 3 {
		t.Errorf("flaky = %+v", f)
	}
	if h := stageOf(st, "hang"); h.Status != buildit.StageFailed || h.Error != "timed out after 1s" {
		t.Errorf("hang = %+v", h)
	}
	if !processGone(t, filepath.Join(h.workspace, "hang.pid")) {
		t.Error("the timed-out stage's process still runs")
	}
}

func TestCancelStopsTheRun(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	id, run := h.start(t, `pipeline "c"
stage "long" { run "echo $$ > long.pid; sleep 60"; }
stage "next" needs="long" { run "true"; }
`, nil)
	pidFile := filepath.Join(h.workspace, "long.pid")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(pidFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stage never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := h.c.CancelWorkflow(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := runclient.Wait(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != buildit.RunCancelled {
		t.Fatalf("run %s", st.Status)
	}
	wantStatus(t, st, map[string]buildit.StageStatus{"long": buildit.StageCancelled, "next": buildit.StageCancelled})
	if !processGone(t, pidFile) {
		t.Error("the cancelled stage's process still runs")
	}
}

func TestApprovalThroughAnUpdate(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	id, run := h.start(t, `pipeline "a"
stage "gate" { approval { message "ok?"; }; }
stage "ship" needs="gate" { run "echo shipped"; }
`, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		st, err := runclient.State(ctx, h.c, id)
		if err == nil && stageOf(st, "gate").Status == buildit.StageWaiting {
			if st.Status != buildit.RunWaiting {
				t.Errorf("run status %s while the gate waits", st.Status)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("gate never waited")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := runclient.Decide(ctx, h.c, id, true, workflows.ApprovalInput{Stage: "ship", By: "ann"}); err == nil {
		t.Error("approving a command stage was accepted")
	}
	gate, err := runclient.Decide(ctx, h.c, id, true, workflows.ApprovalInput{Stage: "gate", By: "ann", Reason: "go"})
	if err != nil || gate.Status != buildit.StageSucceeded || gate.DecidedBy != "ann" {
		t.Fatalf("approve: %v, %+v", err, gate)
	}
	st, err := runclient.Wait(ctx, run)
	if err != nil || st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s, %v", st.Status, err)
	}
}

func TestMatrixAndWhen(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	st := h.run(t, `pipeline "mw"
stage "test" { matrix { v "1" "2"; }; run "echo v=${matrix.v} env=$MATRIX_V"; }
stage "release" needs="test" { when branch="release/*"; run "echo release"; }
stage "notify" needs="release" { when status="failure"; run "echo failed"; }
`, nil)
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s", st.Status)
	}
	wantStatus(t, st, map[string]buildit.StageStatus{
		"test [v=1]": buildit.StageSucceeded, "test [v=2]": buildit.StageSucceeded,
		"release": buildit.StageSkipped, "notify": buildit.StageSkipped,
	})
	logs := h.logs.text()
	if !strings.Contains(logs, "test [v=2]|stdout|v=2 env=2") {
		t.Errorf("matrix values missing from logs:\n%s", logs)
	}
}

func TestSearchAttributesAreSet(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	id, run := h.start(t, "pipeline \"sa\"\nstage \"a\" { run \"true\"; }\n", nil)
	if _, err := runclient.Wait(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	desc, err := h.c.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	fields := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	for name, want := range map[string]string{"BuilditPipeline": "sa", "BuilditStatus": "succeeded", "BuilditTrigger": "test"} {
		p, ok := fields[name]
		if !ok || !strings.Contains(string(p.GetData()), want) {
			t.Errorf("search attribute %s = %v, want %q", name, p, want)
		}
	}
}

// The local fast path: short host stages end inside the local activity;
// longer ones are handed to a heartbeating activity that follows the same
// process (not a second one), can be cancelled, and times out.
func TestLocalFastPath(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	h.fastPath = 300 * time.Millisecond
	st := h.run(t, `pipeline "fast"
stage "quick" { run "echo quick >> quick.log"; }
stage "handed-over" needs="quick" { run "echo start >> long.log; sleep 1; echo end >> long.log"; }
stage "flaky" needs="quick" { run "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; test $n -ge 2"; retry 1; }
stage "slow-timeout" needs="quick" { run "echo $$ > slow.pid; sleep 30"; timeout "1s"; allow-failure; }
`, nil)
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s: %+v", st.Status, st.Stages)
	}
	wantStatus(t, st, map[string]buildit.StageStatus{
		"quick": buildit.StageSucceeded, "handed-over": buildit.StageSucceeded,
		"flaky": buildit.StageSucceeded, "slow-timeout": buildit.StageFailed,
	})
	long, _ := os.ReadFile(filepath.Join(h.workspace, "long.log"))
	if string(long) != "start\nend\n" {
		t.Errorf("the handed-over stage ran %q, want once", long)
	}
	if s := stageOf(st, "slow-timeout"); s.Error != "timed out after 1s" {
		t.Errorf("slow-timeout = %+v", s)
	}
	if !processGone(t, filepath.Join(h.workspace, "slow.pid")) {
		t.Error("the timed-out stage still runs")
	}

	// Cancelling a handed-over stage stops its process.
	id, run := h.start(t, "pipeline \"c\"\nstage \"long\" { run \"echo $$ > long.pid; sleep 60\"; }\n", nil)
	time.Sleep(time.Second)
	if err := h.c.CancelWorkflow(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	st, err := runclient.Wait(context.Background(), run)
	if err != nil || st.Status != buildit.RunCancelled {
		t.Fatalf("run %s: %v", st.Status, err)
	}
	if !processGone(t, filepath.Join(h.workspace, "long.pid")) {
		t.Error("the cancelled stage still runs")
	}
}
