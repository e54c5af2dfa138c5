package runclient_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/deploy/fly/flytest"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/workflows"
)

// Three runs deploy the same service to the same environment at once, to
// flytest (a local stand-in for Fly's Machines API): the first deploys,
// the second queues behind it, the third queues too and supersedes the
// second, which is skipped; the third deploys after the first.
func TestQueuedDeploySupersedesAnOlderQueuedOne(t *testing.T) {
	const token = "fo1_engine-token"
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	// Long enough for both later runs to queue, even on a busy machine.
	srv.StartDelay = 3 * time.Second
	h := setup(t, map[string]string{"FLY_API_TOKEN": token})
	src := fmt.Sprintf(`pipeline "cd"
deploy "api" {
    target "fly"
    environment "supersede-test"
    image "api:${BUILDIT_COMMIT}"
    port 8080
    health-check path="/healthz" timeout="30s"
}
target "fly" kind="fly" { app "acme-api"; api-url %q; }
`, srv.URL)
	start := func(commit string) (string, func() workflows.RunState) {
		id, run := h.start(t, src, func(in *workflows.PipelineRunInput) { in.Commit = commit })
		return id, func() workflows.RunState {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			st, err := runclient.Wait(ctx, run)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
	}
	_, waitA := start("a1")
	for deadline := time.Now().Add(10 * time.Second); len(srv.Requests()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the first deploy never reached Fly")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, waitB := start("b2")
	time.Sleep(300 * time.Millisecond)
	_, waitC := start("c3")

	a, b, c := waitA(), waitB(), waitC()
	if a.Status != buildit.RunSucceeded || c.Status != buildit.RunSucceeded {
		t.Fatalf("runs A %s, C %s: %+v %+v", a.Status, c.Status, a.Stages, c.Stages)
	}
	if st := b.Stages[0]; st.Status != buildit.StageSkipped || !strings.Contains(st.Error, "superseded by a newer deploy") {
		t.Errorf("run B's deploy: %+v", st)
	}
	for id, img := range srv.Images("acme-api") {
		if img != "api:c3" {
			t.Errorf("machine %s runs %s, want the newest deploy's", id, img)
		}
	}
}

// A worker process killed -9 in the middle of a rolling deploy (after the
// first of three machines was updated): another worker takes the deploy
// over and the rollout resumes — machines already on the new revision are
// not updated again, so the revision is released once per machine.
func TestWorkerCrashMidRolloutResumes(t *testing.T) {
	const token = "fo1_crash-token"
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	srv.StartDelay = 800 * time.Millisecond
	h := setupWithoutWorker(t)
	t.Setenv("FLY_API_TOKEN", token)
	src := func(image string) string {
		return fmt.Sprintf(`pipeline "cd"
deploy "api" {
    target "fly"
    environment "crash-test"
    image %q
    replicas 3
    port 8080
    health-check path="/healthz" timeout="60s"
}
target "fly" kind="fly" { app "acme-api"; api-url %q; }
`, image, srv.URL)
	}
	wait := func(run client.WorkflowRun) workflows.RunState {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		st, err := runclient.Wait(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := h.startChildWorker(t)
	fast := func(in *workflows.PipelineRunInput) { in.HeartbeatTimeout = 2 * time.Second }
	if _, run := h.start(t, src("api:v1"), fast); wait(run).Status != buildit.RunSucceeded {
		t.Fatal("revision 1 failed")
	}
	_, run := h.start(t, src("api:v2"), fast)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, updates := srv.Releases(); updates >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rollout never began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = first.Process.Kill()
	_ = first.Wait()
	h.startChildWorker(t)
	if st := wait(run); st.Status != buildit.RunSucceeded {
		t.Fatalf("run after the worker's death: %+v", st.Stages)
	}
	creates, updates := srv.Releases()
	if creates != 3 || updates != 3 {
		t.Errorf("creates %d, updates %d: want 3 and 3 (the rollout resumed, nothing released twice)", creates, updates)
	}
	for id, img := range srv.Images("acme-api") {
		if img != "api:v2" {
			t.Errorf("machine %s runs %s", id, img)
		}
	}
}

// A deploy stage with a timeout, on the embedded server against flytest,
// deploys a revision whose machine starts but never passes its health
// check: the deploy ends at the stage's timeout (not at the 10-minute
// health-check timeout), failed and rolled back to the healthy revision,
// with the timeout as the reason in the stage and in its log.
func TestSecurityDeployTimeoutEndsTheDeploy(t *testing.T) {
	const token = "fo1_timeout-token"
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	h := setup(t, map[string]string{"FLY_API_TOKEN": token})
	src := func(image string) string {
		return fmt.Sprintf(`pipeline "cd"
deploy "api" {
    target "fly"
    environment "timeout-test"
    image %q
    port 8080
    health-check path="/healthz" timeout="10m"
    timeout "3s"
}
target "fly" kind="fly" { app "acme-api"; api-url %q; }
`, image, srv.URL)
	}
	if st := h.run(t, src("api:v1"), nil); st.Status != buildit.RunSucceeded {
		t.Fatalf("revision 1: %+v", st.Stages)
	}
	// Far less than the health-check timeout, far more than the stage's.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, run := h.start(t, src("api:unhealthy"), nil)
	st, err := runclient.Wait(ctx, run)
	if err != nil {
		t.Fatalf("the deploy did not end at its timeout: %v", err)
	}
	const want = "timed out after 3s; rolled back to revision 1"
	if a := stageOf(st, "api"); st.Status != buildit.RunFailed || a.Status != buildit.StageFailed || a.Error != want {
		t.Errorf("run %s, deploy stage %s: %q, want failed: %q", st.Status, a.Status, a.Error, want)
	}
	for id, img := range srv.Images("acme-api") {
		if img != "api:v1" {
			t.Errorf("machine %s runs %s after the rollback, want api:v1", id, img)
		}
	}
	if logs := h.logs.text(); !strings.Contains(logs, "api|stdout|buildit: deploy rolled_back: "+want) {
		t.Errorf("the stage's log does not say why:\n%s", logs)
	}
}

// BenchmarkDeployStage times a run of one deploy stage (begin, apply,
// health wait, finish: a child workflow and four activities) to flytest
// with machines that start and pass their checks at once, so what is
// measured is BuildIt's and Temporal's part: 1 machine, and 3 rolled one
// at a time.
func BenchmarkDeployStage(b *testing.B) {
	const token = "fo1_bench-token"
	srv := flytest.New(token, "app-1", "app-3")
	defer srv.Close()
	srv.StartDelay, srv.CheckDelay = 0, 0
	h := setup(b, map[string]string{"FLY_API_TOKEN": token})
	for _, replicas := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas-%d", replicas), func(b *testing.B) {
			n := 0
			for b.Loop() {
				n++
				src := fmt.Sprintf(`pipeline "cd"
deploy "api" {
    target "fly"
    environment "bench-%d"
    image "api:%d"
    replicas %d
    port 8080
    health-check path="/healthz"
}
target "fly" kind="fly" { app "app-%d"; api-url %q; }
`, replicas, n, replicas, replicas, srv.URL)
				if st := h.run(b, src, nil); st.Status != buildit.RunSucceeded {
					b.Fatalf("run %s: %+v", st.Status, st.Stages)
				}
			}
		})
	}
}
