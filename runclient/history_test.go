package runclient_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/deploy/fly/flytest"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/worker"
	"github.com/buildit-ci/buildit/workflows"
)

var record = flag.Bool("record-history", false, "run the history pipelines and deploys and write workflows/testdata/*_history.json for the replay test")

// historyPipeline exercises most of PipelineRun's paths in one run:
// parallel stages, a matrix, a retry, an allowed failure, a skip by `when`,
// an approval decided by an update, and a failure-only stage.
const historyPipeline = `pipeline "history"
stage "build" { run "echo build"; }
stage "test" needs="build" { matrix { v "1" "2"; }; run "echo test ${matrix.v}"; }
stage "flaky" needs="build" { run "test -f flaky.ok || { touch flaky.ok; exit 1; }"; retry 1; }
stage "lint" needs="build" allow-failure=#true { run "exit 3"; }
stage "release-only" needs="build" { when branch="release/*"; run "echo release"; }
stage "gate" { needs "test" "flaky" "lint"; approval { message "ship?"; timeout "1h"; }; }
stage "ship" needs="gate" { run "echo ship; sleep 0.5"; }
stage "on-failure" needs="ship" { when status="failure"; run "echo failed"; }
`

// TestRecordHistory writes the histories the replay test in workflows/
// replays: one with regular activities, one with the local fast path (whose
// "ship" stage outlives the budget and is handed over), one in server mode,
// and Deploys. Run it with -record-history after a deliberate change to
// PipelineRun or Deploy (guarded by workflow.GetVersion where old runs must
// replay), one subtest alone to write only the file of a new path:
// -run 'TestRecordHistory/deploy_timeout_history.json'.
func TestRecordHistory(t *testing.T) {
	if !*record {
		t.Skip("run with -record-history to rewrite workflows/testdata/pipeline_run_history.json")
	}
	for name, fastPath := range map[string]time.Duration{"pipeline_run_history.json": 0, "pipeline_run_local_history.json": 200 * time.Millisecond} {
		t.Run(name, func(t *testing.T) { recordHistory(t, name, setup(t, nil), fastPath, nil) })
	}
	// Server mode: the run records itself, waits for its concurrency
	// group and prepares its workspace on a host queue.
	t.Run("pipeline_run_server_history.json", func(t *testing.T) {
		h := setupWithoutWorker(t)
		// Host stages allowed, in a work root their own user (as root)
		// can reach: t.TempDir's folders are private.
		root := t.TempDir()
		for _, d := range []string{root, filepath.Dir(root)} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		acts := activities.New(activities.Shared{Sink: h.logs})
		acts.Stages.Host, acts.Stages.AllowHostStages = host.New(host.Options{}), true
		acts.Server.Recorder, acts.Server.WorkRoot = memRecorder{}, root
		acts.Server.HostQueue = worker.HostQueue(h.taskQueue, "recorder")
		h.env.Serve(t, acts, true)
		recordHistory(t, "pipeline_run_server_history.json", h, 0, func(in *workflows.PipelineRunInput) {
			in.Workspace = ""
			in.Record = &buildit.RunRef{TenantID: "tenant", RunID: "run"}
			in.Prepare = &workflows.PrepareInput{}
			in.ConcurrencyGroup = "history"
		})
	})
	// Commit statuses: pending (retried once) and success.
	t.Run("pipeline_run_report_history.json", recordReportHistory)
	// Deploy: a revision that never becomes healthy and is rolled back
	// after its health-check timeout (recorded before deploy stages had a
	// timeout of their own: deploys in flight then must still replay).
	t.Run("deploy_history.json", func(t *testing.T) {
		recordDeployHistory(t, "deploy_history.json", `health-check path="/healthz" timeout="2s"`)
	})
	// Deploy with a timeout: the workflow's timer ends the health wait
	// and the deploy rolls back.
	t.Run("deploy_timeout_history.json", func(t *testing.T) {
		recordDeployHistory(t, "deploy_timeout_history.json", `health-check path="/healthz" timeout="10m"; timeout "2s"`)
	})
	// Deploys queued behind a running one: the running Deploy supersedes
	// the older waiter, whose run skips its deploy stage, and the newer
	// waiter deploys next. Writes deploy_supersede_history.json,
	// pipeline_run_superseded_history.json and
	// pipeline_run_queued_deploy_history.json.
	t.Run("deploy_supersede_history.json", recordSupersedeHistories)
}

// recordSupersedeHistories starts three runs that deploy the same service
// to the same environment on flytest, as TestQueuedDeploySupersedesAnOlderQueuedOne
// does, and writes the first run's Deploy and the later runs' histories.
func recordSupersedeHistories(t *testing.T) {
	const token = "fo1_history-token"
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	srv.StartDelay = 3 * time.Second
	h := setup(t, map[string]string{"FLY_API_TOKEN": token})
	src := fmt.Sprintf(`pipeline "history"
deploy "api" {
    target "fly"
    environment "supersede-history"
    image "api:${BUILDIT_COMMIT}"
    port 8080
    health-check path="/healthz" timeout="30s"
}
target "fly" kind="fly" { app "acme-api"; api-url %q; }
`, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := func(commit string) (string, client.WorkflowRun) {
		return h.start(t, src, func(in *workflows.PipelineRunInput) { in.Commit = commit })
	}
	_, runA := start("a1")
	for len(srv.Requests()) == 0 {
		if ctx.Err() != nil {
			t.Fatal("the first deploy never reached Fly")
		}
		time.Sleep(20 * time.Millisecond)
	}
	deployID := workflows.DeployWorkflowID("local", "supersede-history", "api")
	d, err := h.c.DescribeWorkflowExecution(ctx, deployID, "")
	if err != nil {
		t.Fatal(err)
	}
	deployA := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	idB, runB := start("b2")
	time.Sleep(300 * time.Millisecond)
	idC, runC := start("c3")
	for _, run := range []client.WorkflowRun{runA, runB, runC} {
		if _, err := runclient.Wait(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	stB, err := runclient.State(ctx, h.c, idB)
	if err != nil || stB.Stages[0].Status != buildit.StageSkipped {
		t.Fatalf("run B: %+v, %v; want its deploy superseded", stB.Stages, err)
	}
	writeRunHistory(t, "deploy_supersede_history.json", h, deployID, deployA)
	writeHistory(t, "pipeline_run_superseded_history.json", h, idB)
	writeHistory(t, "pipeline_run_queued_deploy_history.json", h, idC)
}

// recordDeployHistory deploys a healthy revision 1 to flytest, then an
// unhealthy revision 2 with the given deploy settings, and writes the
// history of the second Deploy (which rolls back).
func recordDeployHistory(t *testing.T, file, settings string) {
	const token = "fo1_history-token"
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	h := setup(t, map[string]string{"FLY_API_TOKEN": token})
	src := func(image string) string {
		return fmt.Sprintf(`pipeline "history"
deploy "api" {
    target "fly"
    environment "history"
    image %q
    port 8080
    %s
}
target "fly" kind="fly" { app "acme-api"; api-url %q; }
`, image, settings, srv.URL)
	}
	if st := h.run(t, src("api:v1"), nil); st.Status != buildit.RunSucceeded {
		t.Fatalf("revision 1: %+v", st.Stages)
	}
	if st := h.run(t, src("api:unhealthy"), nil); st.Status != buildit.RunFailed || !strings.Contains(stageOf(st, "api").Error, "rolled back to revision 1") {
		t.Fatalf("revision 2: %+v", st.Stages)
	}
	writeHistory(t, file, h, workflows.DeployWorkflowID("local", "history", "api"))
}

// memRecorder takes every record and says every turn has come: the history
// of a server-mode run without a database.
type memRecorder struct{}

func (memRecorder) RecordRun(context.Context, workflows.RunRecord) error { return nil }
func (memRecorder) TurnCame(context.Context, buildit.RunRef, string) (bool, error) {
	return true, nil
}

func recordHistory(t *testing.T, file string, h *harness, fastPath time.Duration, mod func(*workflows.PipelineRunInput)) {
	h.fastPath = fastPath
	id, run := h.start(t, historyPipeline, mod)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		st, err := runclient.State(ctx, h.c, id)
		if err == nil && stageOf(st, "gate").Status == buildit.StageWaiting {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("gate never waited")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := runclient.Decide(ctx, h.c, id, true, workflows.ApprovalInput{Stage: "gate", By: "recorder"}); err != nil {
		t.Fatal(err)
	}
	st, err := runclient.Wait(ctx, run)
	if err != nil || st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s: %v", st.Status, err)
	}
	writeHistory(t, file, h, id)
}

// writeHistory writes the history of the workflow id's latest run to
// workflows/testdata/file.
func writeHistory(t *testing.T, file string, h *harness, id string) {
	writeRunHistory(t, file, h, id, "")
}

// writeRunHistory writes the history of run runID of the workflow id (""
// for its latest) to workflows/testdata/file.
func writeRunHistory(t *testing.T, file string, h *harness, id, runID string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hist := &historypb.History{}
	iter := h.c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("..", "workflows", "testdata", file)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d events", out, len(hist.Events))
}
