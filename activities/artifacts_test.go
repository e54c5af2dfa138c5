package activities

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/artifact"
	"github.com/buildit-ci/buildit/blobstore"
	"github.com/buildit-ci/buildit/executor/executortest"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/workflows"
)

// artifactStages are host-stage activities with a blob store in a folder.
func artifactStages(t testing.TB) (*Stages, *streamLines, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := blobstore.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sink := &streamLines{}
	acts := New(Shared{Sink: sink})
	acts.Stages.Host = host.New(host.Options{})
	acts.Stages.Artifacts = &artifact.Service{Store: store, Catalog: artifact.NewBlobCatalog(store)}
	return acts.Stages, sink, dir
}

func hasLine(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func wantArtifactError(t *testing.T, err error, text string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != ErrTypeArtifacts || !strings.Contains(err.Error(), text) {
		t.Fatalf("err = %v, want a non-retryable %s saying %q", err, ErrTypeArtifacts, text)
	}
}

// A stage's artifact reaches a stage in a fresh workspace (as on another
// host); a workspace that has it already is not restored again; a corrupt
// blob fails the restore naming the artifact, before the commands run.
func TestRunStageRestoresArtifactsOfTheStagesBefore(t *testing.T) {
	t.Parallel()
	a, sink, blobs := artifactStages(t)
	build := hostStep("build", "mkdir -p dist && echo v1 > dist/app")
	build.Artifacts = []pipeline.ArtifactSpec{{Name: "app", Paths: []string{"dist"}}}
	ws1 := t.TempDir()
	res, err := runStage(t, a, workflows.StageInput{RunID: "r1", Pipeline: "p", Step: build, Attempt: 1, Workspace: ws1})
	if err != nil || len(res.Artifacts) != 1 || res.Artifacts[0].Name != "app" || res.Artifacts[0].Files != 2 {
		t.Fatalf("build: %+v %v", res, err)
	}
	if !hasLine(sink.lines(), "stderr|buildit: saved artifact app (2 files, 3 B) in ") {
		t.Fatalf("log %q", sink.lines())
	}

	test := hostStep("test", `test "$(cat dist/app)" = v1`)
	ws2 := t.TempDir()
	in := workflows.StageInput{RunID: "r1", Pipeline: "p", Step: test, Attempt: 1, Workspace: ws2, Restore: res.Artifacts}
	if res, err := runStage(t, a, in); err != nil || res.ExitCode != 0 {
		t.Fatalf("test in a fresh workspace: %+v %v", res, err)
	}
	if !hasLine(sink.lines(), "stderr|buildit: restored artifact app (2 files, 3 B) in ") {
		t.Fatalf("log %q", sink.lines())
	}

	// Known present in ws1 (made there) and ws2 (restored there).
	before := len(sink.lines())
	for _, ws := range []string{ws1, ws2} {
		in.Workspace = ws
		if res, err := runStage(t, a, in); err != nil || res.ExitCode != 0 {
			t.Fatalf("test again: %+v %v", res, err)
		}
	}
	if hasLine(sink.lines()[before:], "stderr|buildit: restored") {
		t.Fatalf("restored again: %q", sink.lines()[before:])
	}

	corruptFile(t, filepath.Join(blobs, res.Artifacts[0].Key))
	in.Workspace = t.TempDir()
	in.Step = hostStep("test", "touch ran")
	_, err = runStage(t, a, in)
	wantArtifactError(t, err, "restore artifact app (from stage build)")
	if !strings.Contains(err.Error(), blobstore.ErrCorrupt.Error()) {
		t.Fatalf("err = %v, want it to say the blob is corrupt", err)
	}
	if _, serr := os.Stat(filepath.Join(in.Workspace, "ran")); serr == nil {
		t.Fatal("the stage ran on a corrupt artifact")
	}
}

func corruptFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A path a successful attempt promised and did not make fails it for
// good, naming it; after a failed attempt, when="always" artifacts are
// kept and the others are not asked for.
func TestRunStageArtifactsByOutcome(t *testing.T) {
	t.Parallel()
	a, sink, _ := artifactStages(t)
	st := hostStep("test", "mkdir -p reports && echo '<x/>' > reports/t.xml")
	st.Artifacts = []pipeline.ArtifactSpec{
		{Name: "reports", Paths: []string{"reports/*.xml"}, When: pipeline.ArtifactsAlways},
		{Name: "app", Paths: []string{"dist/app"}},
	}
	_, err := runStage(t, a, workflows.StageInput{RunID: "r1", Pipeline: "p", Step: st, Attempt: 1, Workspace: t.TempDir()})
	wantArtifactError(t, err, "artifact app: no such file or folder in the workspace: dist/app")
	if !hasLine(sink.lines(), "stderr|buildit: artifact app: no such file or folder in the workspace: dist/app") {
		t.Fatalf("log %q", sink.lines())
	}

	st.Run = append(st.Run, "exit 3")
	res, err := runStage(t, a, workflows.StageInput{RunID: "r2", Pipeline: "p", Step: st, Attempt: 1, Workspace: t.TempDir()})
	if err != nil || res.ExitCode != 3 || len(res.Artifacts) != 1 || res.Artifacts[0].Name != "reports" {
		t.Fatalf("failed attempt: %+v %v", res, err)
	}
}

// A stage with artifacts on a worker without a blob store fails for good.
func TestRunStageArtifactsNeedABlobStore(t *testing.T) {
	t.Parallel()
	sink := &streamLines{}
	acts := New(Shared{Sink: sink})
	acts.Stages.Host = host.New(host.Options{})
	st := hostStep("build", "true")
	st.Cache = []pipeline.Cache{{Paths: []string{"out"}}}
	_, err := runStage(t, acts.Stages, workflows.StageInput{RunID: "r1", Pipeline: "p", Step: st, Attempt: 1, Workspace: t.TempDir()})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != workflows.ErrTypeConfig || !strings.Contains(err.Error(), "no blob store") {
		t.Fatalf("err = %v", err)
	}
}

// A server-mode host stage that runs as its run's own user (the worker is
// root) finds the restored artifact and the cache in its home owned by
// that user, and can change them.
func TestSecurityRestoredFilesBelongToTheRunsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: host stages change user only when the worker runs as root (CI runs this as root)")
	}
	a, sink, _ := artifactStages(t)
	a.AllowHostStages = true
	srv := &ServerMode{WorkRoot: filepath.Join(executortest.ReachableDir(t), "work"), present: a.present}
	ref := &buildit.RunRef{TenantID: "t1", RunID: "r"}
	prepare := func(run string) string {
		res, err := srv.PrepareWorkspace(context.Background(), workflows.PrepareInput{RunID: run})
		if err != nil {
			t.Fatal(err)
		}
		return res.Workspace
	}
	const run = "run/t1/p/1"
	build := hostStep("build", "mkdir -p dist ~/.tool && echo v1 > dist/app && echo warm > ~/.tool/c")
	build.Artifacts = []pipeline.ArtifactSpec{{Name: "app", Paths: []string{"dist"}}}
	build.Cache = []pipeline.Cache{{Key: "tool", Paths: []string{"~/.tool"}}}
	res, err := runStage(t, a, workflows.StageInput{RunID: run, Pipeline: "p", Step: build, Attempt: 1, Workspace: prepare(run), Record: ref})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("build: %+v %v\n%q", res, err, sink.lines())
	}
	// The same run's workspace made again (as on another host).
	const rerun = "run/t1/p/2"
	ws := prepare(rerun)
	use := hostStep("use", "echo v2 > dist/app", "echo hot > ~/.tool/c")
	use.Cache = build.Cache
	in := workflows.StageInput{RunID: rerun, Pipeline: "p", Step: use, Attempt: 1, Workspace: ws, Record: ref, Restore: res.Artifacts}
	if res, err := runStage(t, a, in); err != nil || res.ExitCode != 0 {
		t.Fatalf("use: %+v %v\n%q", res, err, sink.lines())
	}
	want := stageUser(rerun)
	for _, p := range []string{filepath.Join(ws, "dist", "app"), filepath.Join(filepath.Dir(ws), "home", ".tool", "c")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != want.UID || st.Gid != want.GID {
			t.Errorf("%s belongs to %d:%d, want %d:%d", p, st.Uid, st.Gid, want.UID, want.GID)
		}
	}
}

// quotaCatalog refuses every artifact as over the plan's quota, as the
// Postgres catalog does for a tenant at its limit.
type quotaCatalog struct{ artifact.Catalog }

func (quotaCatalog) AddArtifact(context.Context, artifact.Scope, buildit.Artifact) error {
	return &artifact.QuotaError{Plan: "free", Limit: 1 << 30, Used: 1 << 30}
}

// An artifact over the tenant's quota fails the attempt for good with the
// plan_limit message, and its blob is not kept.
func TestRunStageArtifactOverQuota(t *testing.T) {
	t.Parallel()
	a, sink, blobs := artifactStages(t)
	a.Artifacts.Catalog = quotaCatalog{a.Artifacts.Catalog}
	st := hostStep("build", "mkdir -p dist && echo v1 > dist/app")
	st.Artifacts = []pipeline.ArtifactSpec{{Name: "app", Paths: []string{"dist"}}}
	_, err := runStage(t, a, workflows.StageInput{RunID: "r1", Pipeline: "p", Step: st, Attempt: 1, Workspace: t.TempDir()})
	wantArtifactError(t, err, "plan_limit: artifact storage of plan free is 1 GiB")
	if !hasLine(sink.lines(), "stderr|buildit: plan_limit: artifact storage of plan free is 1 GiB (used 1 GiB)") {
		t.Fatalf("log %q", sink.lines())
	}
	var left []string
	_ = filepath.WalkDir(blobs, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".tar.zst") {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("blobs kept over the quota: %q", left)
	}
}
