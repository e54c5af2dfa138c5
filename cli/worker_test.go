package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/executor/docker/dockertest"
	"github.com/buildit-ci/buildit/internal/temporaltest"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/workflows"
)

// lockedBuffer is a bytes.Buffer safe for the worker's logger and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// buildit worker serves a Temporal server's task queue: a run started by
// someone else (as the API will) runs its host and container stages on it,
// and the worker stops cleanly when told to.
func TestWorkerRunsStages(t *testing.T) {
	img := dockertest.Image(t)
	te := temporaltest.Start(t, temporaltest.Options{OwnServer: true, TaskQueue: "tq-worker-test"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := NewRootCommand("test")
	logs := &lockedBuffer{}
	root.SetOut(logs)
	root.SetErr(logs)
	root.SetArgs([]string{"worker", "--temporal-address", te.Server.HostPort(), "--namespace", te.Server.Namespace(), "--task-queue", te.TaskQueue})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	p, diags := pipeline.Load("w.kdl", []byte(`pipeline "w"
stage "host" { run "echo from-the-host"; }
stage "box" needs="host" { image "`+img+`"; run "echo from-a-container"; }
`))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	run, err := runclient.StartRun(ctx, te.Client, workflows.PipelineRunInput{RunInput: workflows.RunInput{Plan: *pipeline.NewPlan(p), Workspace: t.TempDir()}},
		runclient.RunOptions{ID: "worker-test-" + time.Now().Format("150405.000000"), TaskQueue: te.TaskQueue})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	st, err := runclient.Wait(wctx, run)
	if err != nil || st.Status != buildit.RunSucceeded {
		t.Fatalf("run: %v %+v\n%s", err, st, logs.String())
	}
	for _, want := range []string{`"line":"from-the-host"`, `"line":"from-a-container"`, `"msg":"worker started"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("worker log lacks %s:\n%s", want, logs.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("worker ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not stop")
	}
	if !strings.Contains(logs.String(), `"msg":"worker stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", logs.String())
	}
}
