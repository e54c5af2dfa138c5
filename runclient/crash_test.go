package runclient_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/deploy/backends"
	"github.com/buildit-ci/buildit/executor/docker"
	"github.com/buildit-ci/buildit/executor/docker/dockertest"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/internal/temporaltest"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/worker"
	"github.com/buildit-ci/buildit/workflows"
)

// childWorkerEnv makes the test binary a worker process (see TestMain):
// HOSTPORT NAMESPACE TASKQUEUE, space-separated.
const childWorkerEnv = "BUILDIT_TEST_CHILD_WORKER"

// runChildWorker serves the task queue until it is killed.
func runChildWorker(spec string) {
	f := strings.Fields(spec)
	c, err := client.Dial(client.Options{HostPort: f[0], Namespace: f[1], Logger: temporaltest.QuietLogger()})
	if err != nil {
		panic(err)
	}
	d, err := docker.NewFromEnv(docker.Options{})
	if err != nil {
		panic(err)
	}
	acts := activities.New(activities.Shared{Sink: &recorder{}})
	acts.Stages.Host, acts.Stages.Docker = host.New(host.Options{InheritEnv: true}), d
	acts.Deploys.Backends = backends.For
	if err := worker.New(c, acts, worker.Options{TaskQueue: f[2]}).Run(sdkworker.InterruptCh()); err != nil {
		panic(err)
	}
}

// startChildWorker starts the test binary as a worker process serving h's
// task queue (runChildWorker), killed when t ends if it still runs.
func (h *harness) startChildWorker(t *testing.T) *exec.Cmd {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childWorkerEnv+"="+h.env.Server.HostPort()+" "+h.env.Server.Namespace()+" "+h.taskQueue)
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	return child
}

// A worker killed with SIGKILL while its stage's container runs: the stage
// activity's heartbeats stop, Temporal retries it on another worker, and
// that worker attaches to the running container instead of starting the
// stage again. The run succeeds and the stage's commands ran once.
func TestWorkerCrashReattachesToTheContainer(t *testing.T) {
	img := dockertest.Image(t)
	h := setupWithoutWorker(t)
	child := h.startChildWorker(t)

	src := `pipeline "crash"
stage "long" {
    image "` + img + `"
    run "date >> /workspace/starts.txt" "echo started" "sleep 4" "echo finished > /workspace/finished.txt"
}
`
	id, run := h.start(t, src, func(in *workflows.PipelineRunInput) { in.HeartbeatTimeout = 2 * time.Second })

	// Wait until the stage's container runs and its activity has sent a
	// heartbeat with the container's handle.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		d, err := h.c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		pa := d.GetPendingActivities()
		if len(pa) == 1 && pa[0].GetHeartbeatDetails() != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the stage never heartbeated")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	// Another worker takes over.
	d, err := docker.NewFromEnv(docker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	acts := activities.New(activities.Shared{Sink: h.logs})
	acts.Stages.Host, acts.Stages.Docker = host.New(host.Options{InheritEnv: true}), d
	h.env.Serve(t, acts, false)
	t.Cleanup(func() { _ = d.CleanupRun(context.Background(), id) })

	st, err := runclient.Wait(ctx, run)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	wantStatus(t, st, map[string]buildit.StageStatus{"long": buildit.StageSucceeded})
	starts, _ := os.ReadFile(filepath.Join(h.workspace, "starts.txt"))
	if n := strings.Count(string(starts), "\n"); n != 1 {
		t.Errorf("the stage's commands started %d times, want once:\n%s", n, starts)
	}
	if _, err := os.Stat(filepath.Join(h.workspace, "finished.txt")); err != nil {
		t.Errorf("the stage did not finish: %v", err)
	}
	if s := stageOf(st, "long"); s.Attempt != 1 {
		t.Errorf("stage attempt %d, want 1 (the activity's retry is not a new stage attempt)", s.Attempt)
	}
}
