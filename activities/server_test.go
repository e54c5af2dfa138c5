package activities

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/internal/gittest"
	"github.com/buildit-ci/buildit/workflows"
)

// bareRepo makes a bare repository with two commits on main, serves it
// over HTTP, and returns its URL and the two commit IDs.
func bareRepo(t *testing.T) (repo, first, second string) {
	t.Helper()
	dir := t.TempDir()
	work, repo := filepath.Join(dir, "work"), filepath.Join(dir, "repo.git")
	run := func(d string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = d
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(dir, "init", "--quiet", "--initial-branch=main", work)
	if err := os.WriteFile(filepath.Join(work, "version"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(work, "add", "version")
	run(work, "commit", "--quiet", "-m", "one")
	first = run(work, "rev-parse", "HEAD")
	if err := os.WriteFile(filepath.Join(work, "version"), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(work, "commit", "--quiet", "-am", "two")
	second = run(work, "rev-parse", "HEAD")
	run(dir, "clone", "--quiet", "--bare", work, repo)
	return gittest.Serve(t, dir) + "/repo.git", first, second
}

func TestPrepareWorkspaceChecksOutTheCommit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	repo, first, _ := bareRepo(t)
	a := &ServerMode{WorkRoot: t.TempDir(), HostQueue: "buildit/host/h1"}
	a.Clone.Repositories = httpAllowed
	ctx := context.Background()

	cases := []struct {
		in   workflows.PrepareInput
		want string
	}{
		{workflows.PrepareInput{RunID: "t/p/1", Repository: repo, Commit: first}, "1\n"},
		{workflows.PrepareInput{RunID: "t/p/2", Repository: repo, Branch: "main"}, "2\n"},
		{workflows.PrepareInput{RunID: "t/p/3", Repository: repo}, "2\n"},
	}
	for _, c := range cases {
		res, err := a.PrepareWorkspace(ctx, c.in)
		if err != nil {
			t.Fatalf("%+v: %v", c.in, err)
		}
		// The workspace is in a folder of the run's own (isolation.go).
		if res.TaskQueue != "buildit/host/h1" || filepath.Dir(filepath.Dir(res.Workspace)) != a.WorkRoot {
			t.Errorf("%+v: result %+v", c.in, res)
		}
		if got, _ := os.ReadFile(filepath.Join(res.Workspace, "version")); string(got) != c.want {
			t.Errorf("%+v: version %q, want %q", c.in, got, c.want)
		}
	}

	// A retried prepare starts over: nothing of the earlier try is left.
	res, err := a.PrepareWorkspace(ctx, workflows.PrepareInput{RunID: "t/p/1"})
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(res.Workspace); len(entries) != 0 {
		t.Errorf("an empty workspace holds %d entries", len(entries))
	}

	if err := a.CleanupWorkspace(ctx, workflows.CleanupInput{Workspace: res.Workspace}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(res.Workspace); !os.IsNotExist(err) {
		t.Errorf("workspace left after cleanup: %v", err)
	}
	for _, outside := range []string{"/etc", a.WorkRoot, filepath.Join(a.WorkRoot, "..", "x")} {
		if err := a.CleanupWorkspace(ctx, workflows.CleanupInput{Workspace: outside}); err == nil {
			t.Errorf("cleanup of %s was allowed", outside)
		}
	}
}

func TestPrepareWorkspaceErrors(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	repo, _, _ := bareRepo(t)
	a := &ServerMode{WorkRoot: t.TempDir()}
	a.Clone.Repositories = httpAllowed
	ctx := context.Background()

	_, err := a.PrepareWorkspace(ctx, workflows.PrepareInput{RunID: "r", Repository: repo, Commit: "0123456789abcdef0123456789abcdef01234567"})
	if err == nil || !strings.Contains(err.Error(), "check out 0123456789abcdef") {
		t.Errorf("a missing commit: %v", err)
	}
	if entries, _ := os.ReadDir(a.WorkRoot); len(entries) != 0 {
		t.Errorf("a failed prepare left %d entries", len(entries))
	}
	_, err = a.PrepareWorkspace(ctx, workflows.PrepareInput{RunID: "r", Repository: "https://bob:hunter2@127.0.0.1:1/x.git"})
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "clone https://bob:xxxxx@127.0.0.1:1/x.git") {
		t.Errorf("a clone that fails: %v", err)
	}
}
