// Package gittest makes git repositories for tests and serves them over
// HTTP with git's own http-backend, so that tests clone the way workers do
// (a worker refuses local paths).
package gittest

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Need skips the test when git is not installed.
func Need(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
}

// Git runs git in dir with a fixed identity and none of the user's or the
// system's configuration, and returns its trimmed output.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Repo makes a repository named name under root (root/name, a work tree
// on branch main) and commits files to it (path: content; a path ending in
// "*" is made executable, without the star). It returns the commit.
func Repo(t testing.TB, root, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		Git(t, root, "init", "--quiet", "--initial-branch=main", dir)
	}
	return Commit(t, dir, files)
}

// Commit writes files (as for Repo) in the repository dir and commits
// them; it returns the commit.
func Commit(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	for path, content := range files {
		mode := os.FileMode(0o644)
		if p, ok := strings.CutSuffix(path, "*"); ok {
			path, mode = p, 0o755
		}
		full := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	Git(t, dir, "add", "--all")
	Git(t, dir, "commit", "--quiet", "--allow-empty", "-m", "commit")
	return Git(t, dir, "rev-parse", "HEAD")
}

// Serve serves the repositories under root over smart HTTP with `git
// http-backend` until the test ends, and returns the base URL: root/name
// is cloned from base+"/name".
func Serve(t testing.TB, root string) string {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	h := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Stall serves HTTP that never answers: every request waits until its
// client goes away or the test ends. It returns the base URL and a channel
// that receives once per request whose client went away.
func Stall(t testing.TB) (url string, gone <-chan struct{}) {
	t.Helper()
	done := make(chan struct{})
	left := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			left <- struct{}{}
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	return srv.URL, left
}
