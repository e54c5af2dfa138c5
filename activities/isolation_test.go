package activities

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/executortest"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/internal/gittest"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/workflows"
)

// lines records stage output.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) WriteLine(_ string, _ executor.Stream, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, line)
}

func (l *lines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// runStage runs one attempt through the RunStage activity, as a worker
// would.
func runStage(t testing.TB, a *Stages, in workflows.StageInput) (workflows.StageResult, error) {
	t.Helper()
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(a.RunStage, activity.RegisterOptions{Name: workflows.RunStageActivity})
	v, err := env.ExecuteActivity(workflows.RunStageActivity, in)
	if err != nil {
		return workflows.StageResult{}, err
	}
	var res workflows.StageResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

func hostStep(id string, commands ...string) pipeline.Step {
	return pipeline.Step{ID: id, Stage: id, Kind: pipeline.KindRun, Run: commands, Shell: "sh", Timeout: time.Minute}
}

// A worker started without --allow-host-stages refuses a stage without an
// image of a server-mode run, whatever the API let through: for good (not
// retried), saying why in the stage's log, and without running it.
func TestSecurityWorkerRefusesHostStagesOfServerRuns(t *testing.T) {
	var log lines
	a := &Stages{Shared: &Shared{Sink: &log}, Host: host.New(host.Options{})}
	srv := &ServerMode{WorkRoot: filepath.Join(executortest.ReachableDir(t), "work")}
	ws, err := srv.PrepareWorkspace(context.Background(), workflows.PrepareInput{RunID: "run/t/p/1"})
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(ws.Workspace, "ran")
	in := workflows.StageInput{RunID: "run/t/p/1", Pipeline: "p", Step: hostStep("build", "touch ran"), Attempt: 1,
		Workspace: ws.Workspace, Record: &buildit.RunRef{TenantID: "t", RunID: "r"}}
	_, err = runStage(t, a, in)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != workflows.ErrTypeConfig {
		t.Fatalf("err = %v, want a non-retryable configuration error", err)
	}
	if !strings.Contains(err.Error(), "--allow-host-stages") || !strings.Contains(log.text(), `stage "build" has no image`) {
		t.Errorf("error %q, log %q: want both to say why", err, log.text())
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Error("the refused stage ran")
	}

	// Allowed (a single-tenant worker), the same stage runs; a local run
	// (no Record) never needed the flag.
	a.AllowHostStages = true
	if res, err := runStage(t, a, in); err != nil || res.ExitCode != 0 {
		t.Fatalf("allowed: %+v %v (%s)", res, err, log.text())
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the allowed stage did not run: %v", err)
	}
	local := &Stages{Shared: &Shared{Sink: &log}, Host: host.New(host.Options{InheritEnv: true})}
	in.Record, in.Workspace = nil, t.TempDir()
	if res, err := runStage(t, local, in); err != nil || res.ExitCode != 0 {
		t.Fatalf("local run: %+v %v", res, err)
	}
}

// When the worker is root, each run's host stages run under a user of
// their own, in a folder of their own: a stage of run A is not root,
// cannot list the work root (where every run's workspace is), cannot read
// run B's workspace, and has HOME and TMPDIR of its own.
func TestSecurityHostStagesOfOneRunCannotReachAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: host stages change user only when the worker runs as root (CI runs this as root)")
	}
	var log lines
	a := &Stages{Shared: &Shared{Sink: &log}, Host: host.New(host.Options{}), AllowHostStages: true}
	srv := &ServerMode{WorkRoot: filepath.Join(executortest.ReachableDir(t), "work")}
	ref := &buildit.RunRef{TenantID: "t", RunID: "r"}
	prepare := func(run string) string {
		res, err := srv.PrepareWorkspace(context.Background(), workflows.PrepareInput{RunID: run})
		if err != nil {
			t.Fatal(err)
		}
		return res.Workspace
	}
	wsA, wsB := prepare("run/tenant-a/p/1"), prepare("run/tenant-b/p/1")
	b := workflows.StageInput{RunID: "run/tenant-b/p/1", Pipeline: "p", Attempt: 1, Workspace: wsB, Record: ref,
		Step: hostStep("write", "echo top-secret > loot", "mkdir -p $HOME/.ssh && echo key > $HOME/.ssh/id", "echo tmp > $TMPDIR/t")}
	if res, err := runStage(t, a, b); err != nil || res.ExitCode != 0 {
		t.Fatalf("run B: %+v %v\n%s", res, err, log.text())
	}
	homeB := filepath.Join(filepath.Dir(wsB), "home")
	log = lines{}
	attack := []string{
		"id -u",
		`echo "home=$HOME tmp=$TMPDIR"`,
		"ls " + srv.WorkRoot + " && echo LISTED-THE-WORK-ROOT || true",
		"cat " + filepath.Join(wsB, "loot") + " && echo READ-RUN-B || true",
		"ls " + homeB + " && echo LISTED-B-HOME || true",
		"ls " + filepath.Dir(wsB) + " && echo LISTED-B-RUN-DIR || true",
		"echo x > " + filepath.Join(wsB, "planted") + " && echo WROTE-RUN-B || true",
		"echo mine > mine",
	}
	in := workflows.StageInput{RunID: "run/tenant-a/p/1", Pipeline: "p", Attempt: 1, Workspace: wsA, Record: ref,
		Step: hostStep("attack", attack...)}
	if res, err := runStage(t, a, in); err != nil || res.ExitCode != 0 {
		t.Fatalf("run A: %+v %v\n%s", res, err, log.text())
	}
	out := log.text()
	if first, _, _ := strings.Cut(out, "\n"); first == "0" || first == "" {
		t.Errorf("the stage ran as uid %q, want an unprivileged one", first)
	}
	for _, leak := range []string{"LISTED-THE-WORK-ROOT", "READ-RUN-B", "top-secret", "LISTED-B-HOME", "LISTED-B-RUN-DIR", "WROTE-RUN-B"} {
		if strings.Contains(out, leak) {
			t.Errorf("run A's stage got through: %s\n%s", leak, out)
		}
	}
	runA := filepath.Dir(wsA)
	if want := "home=" + filepath.Join(runA, "home") + " tmp=" + filepath.Join(runA, "tmp"); !strings.Contains(out, want) {
		t.Errorf("want %q in\n%s", want, out)
	}
	if b, err := os.ReadFile(filepath.Join(wsA, "mine")); err != nil || string(b) != "mine\n" {
		t.Errorf("the stage could not write its own workspace: %q %v", b, err)
	}
}

// A run's folder: the work root lets no one list it, the run's folder is
// private to the run's user, who owns the workspace, HOME and TMPDIR; a
// checkout made by the worker is handed to that user without following
// the links it holds (one to /etc/passwd must not give the stage the
// host's password file). Cleanup removes the whole folder.
func TestSecurityRunFolderBelongsToTheRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs get users of their own only when the worker runs as root (CI runs this as root)")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "--quiet", "--initial-branch=main")
	if err := os.WriteFile(filepath.Join(repo, "file"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(repo, "passwd")); err != nil {
		t.Fatal(err)
	}
	git("add", "file", "passwd")
	git("commit", "--quiet", "-m", "one")
	before, err := os.Lstat("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}

	a := &ServerMode{WorkRoot: filepath.Join(executortest.ReachableDir(t), "work"), Clone: CloneOptions{Repositories: httpAllowed}}
	const run = "run/t/p/7"
	url := gittest.Serve(t, filepath.Dir(repo)) + "/" + filepath.Base(repo) + "/.git"
	res, err := a.PrepareWorkspace(context.Background(), workflows.PrepareInput{RunID: run, Repository: url})
	if err != nil {
		t.Fatal(err)
	}
	user := stageUser(run)
	if user.UID < 2_000_000 || user.UID > 2_999_999 || user.GID != user.UID {
		t.Errorf("the run's user %+v is outside 2,000,000-2,999,999", user)
	}
	if other := stageUser("run/t/p/8"); other.UID == user.UID {
		t.Errorf("runs 7 and 8 share uid %d", user.UID)
	}
	dir := filepath.Dir(res.Workspace)
	owned := func(path string, mode os.FileMode) {
		t.Helper()
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if mode != 0 && fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %#o, want %#o", path, fi.Mode().Perm(), mode)
		}
		if st.Uid != user.UID || st.Gid != user.GID {
			t.Errorf("%s: owned by %d:%d, want the run's user %d", path, st.Uid, st.Gid, user.UID)
		}
	}
	if fi, err := os.Stat(a.WorkRoot); err != nil || fi.Mode().Perm() != 0o711 {
		t.Errorf("work root: %v %v, want mode 0711", fi.Mode(), err)
	}
	owned(dir, 0o700)
	owned(filepath.Join(dir, "home"), 0o700)
	owned(filepath.Join(dir, "tmp"), 0o700)
	owned(res.Workspace, 0)
	owned(filepath.Join(res.Workspace, "file"), 0)
	owned(filepath.Join(res.Workspace, "passwd"), 0)
	owned(filepath.Join(res.Workspace, ".git", "HEAD"), 0)
	after, err := os.Lstat("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := after.Sys().(*syscall.Stat_t), before.Sys().(*syscall.Stat_t); a.Uid != b.Uid || a.Gid != b.Gid {
		t.Fatalf("the chown followed the checkout's link: /etc/passwd is now %d:%d", a.Uid, a.Gid)
	}

	if err := a.CleanupWorkspace(context.Background(), workflows.CleanupInput{Workspace: res.Workspace}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("the run's folder is left after cleanup: %v", err)
	}
	for _, bad := range []string{filepath.Join(dir, "home"), filepath.Join(dir, "workspace", "sub")} {
		if err := a.CleanupWorkspace(context.Background(), workflows.CleanupInput{Workspace: bad}); err == nil {
			t.Errorf("cleanup of %s was allowed", bad)
		}
	}
}

// A work root that a stage's user cannot reach (under a private folder)
// fails the stage with the folder named and what to do, not with a bare
// "permission denied" from the shell.
func TestHostStageWorkRootOutOfReach(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: stages change user only when the worker runs as root")
	}
	private := t.TempDir()
	if err := os.Chmod(filepath.Dir(private), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	var log lines
	a := &Stages{Shared: &Shared{Sink: &log}, Host: host.New(host.Options{}), AllowHostStages: true}
	srv := &ServerMode{WorkRoot: filepath.Join(private, "work")}
	ws, err := srv.PrepareWorkspace(context.Background(), workflows.PrepareInput{RunID: "run/t/p/1"})
	if err != nil {
		t.Fatal(err)
	}
	in := workflows.StageInput{RunID: "run/t/p/1", Pipeline: "p", Step: hostStep("build", "true"), Attempt: 1,
		Workspace: ws.Workspace, Record: &buildit.RunRef{TenantID: "t", RunID: "r"}}
	_, err = runStage(t, a, in)
	if err == nil || !strings.Contains(err.Error(), private+" is not searchable by other users") || !strings.Contains(err.Error(), "--work-dir") {
		t.Errorf("err = %v", err)
	}
}
