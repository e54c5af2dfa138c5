package runclient_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/artifact"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/workflows"
)

const rerunPipeline = `pipeline "rerun"
stage "a" {
    run "mkdir -p out && echo from-a > out/a.txt && echo ran-a"
    artifacts "out" name="a-out"
}
stage "b" needs="a" {
    run "test \"$(cat out/a.txt)\" = from-a" "test -z \"$FAIL\""
}
`

// rerun --failed when the original workspace is gone: run 1's stage a
// keeps an artifact and b fails; the workspace is deleted; run 2 reuses a
// (its artifacts taken from run 1's result), runs only b in a fresh
// workspace, and b finds a's artifact there.
func TestRerunReusesArtifactsWhenTheWorkspaceIsGone(t *testing.T) {
	t.Parallel()
	h := setupWithoutWorker(t)
	store, err := blobstore.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	acts := activities.New(activities.Shared{Sink: h.logs})
	acts.Stages.Host = host.New(host.Options{InheritEnv: true})
	acts.Stages.Artifacts = &artifact.Service{Store: store, Catalog: artifact.NewBlobCatalog(store)}
	h.env.Serve(t, acts, false)

	first := h.run(t, rerunPipeline, func(in *workflows.PipelineRunInput) {
		in.Env = map[string]string{"FAIL": "1"}
	})
	wantStatus(t, first, map[string]buildit.StageStatus{"a": buildit.StageSucceeded, "b": buildit.StageFailed})
	kept := stageOf(first, "a").Artifacts
	if len(kept) != 1 || kept[0].Name != "a-out" {
		t.Fatalf("run 1's artifacts of a: %+v", kept)
	}
	if err := os.RemoveAll(h.workspace); err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir()
	second := h.run(t, rerunPipeline, func(in *workflows.PipelineRunInput) {
		in.Workspace = fresh
		in.Reuse = []string{"a"}
		in.ReusedFrom = kept[0].RunID
		in.ReuseArtifacts = kept
	})
	wantStatus(t, second, map[string]buildit.StageStatus{"a": buildit.StageSucceeded, "b": buildit.StageSucceeded})
	if a := stageOf(second, "a"); a.ReusedFrom != kept[0].RunID {
		t.Errorf("a was not reused: %+v", a)
	}
	logs := h.logs.text()
	if n := strings.Count(logs, "a|stdout|ran-a"); n != 1 {
		t.Errorf("a ran %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs, "b|stderr|buildit: restored artifact a-out (") {
		t.Errorf("b did not restore a-out:\n%s", logs)
	}
}
