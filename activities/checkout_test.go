package activities

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit/internal/gittest"
	"github.com/buildit-ci/buildit/repourl"
	"github.com/buildit-ci/buildit/repourl/repourltest"
	"github.com/buildit-ci/buildit/workflows"
)

// nonRetryable fails the test unless err is a non-retryable activity error
// whose message holds want.
func nonRetryable(t *testing.T, what string, err error, want string) {
	t.Helper()
	var app *temporal.ApplicationError
	switch {
	case err == nil:
		t.Errorf("%s: no error", what)
	case !errors.As(err, &app) || !app.NonRetryable():
		t.Errorf("%s: a retryable error (the run would try again): %v", what, err)
	case !strings.Contains(err.Error(), want):
		t.Errorf("%s: %v, want it to say %q", what, err, want)
	}
}

// The worker checks the policy again (a run triggered before it existed,
// or by a server that allows what this worker does not): a local path,
// file:// and git's fd:: helper (which hung a run for 43 minutes) are
// refused at once, without running git, and never retried.
func TestSecurityPrepareWorkspaceRefusesRepositories(t *testing.T) {
	gittest.Need(t)
	root := t.TempDir()
	gittest.Repo(t, root, "other-tenant", map[string]string{"secret": "theirs\n"})
	a := &ServerMode{WorkRoot: t.TempDir(), HostQueue: "buildit/host/h1"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cases := []string{filepath.Join(root, "other-tenant"), "file://" + filepath.Join(root, "other-tenant"), "fd::0", "ext::sh -c id", "http://127.0.0.1:1/x.git"}
	for _, c := range repourltest.Refusals {
		cases = append(cases, c.Repository)
	}
	for i, repo := range cases {
		in := workflows.PrepareInput{RunID: "t/p/" + string(rune('a'+i%26)), Repository: repo}
		_, err := a.PrepareWorkspace(ctx, in)
		nonRetryable(t, repo, err, "repository: ")
	}
	entries, _ := os.ReadDir(a.WorkRoot)
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(a.WorkRoot, e.Name(), "secret")); err == nil {
			t.Errorf("another tenant's files were cloned into %s", e.Name())
		}
	}
}

// A repository bigger than the size cap fails, saying so, and leaves
// nothing behind. Random bytes do not compress, so the pack is as big as
// the files.
func TestSecurityCloneSizeCap(t *testing.T) {
	gittest.Need(t)
	root := t.TempDir()
	blob := make([]byte, 4<<20)
	rand.Read(blob)
	gittest.Repo(t, root, "big", map[string]string{"blob": string(blob)})
	// Zeros compress to almost nothing: a small pack whose checkout is
	// big.
	gittest.Repo(t, root, "bomb", map[string]string{"zeros": string(make([]byte, 16<<20))})
	base := gittest.Serve(t, root)
	a := &ServerMode{WorkRoot: t.TempDir(), Clone: CloneOptions{Repositories: httpAllowed, MaxSize: 1 << 20}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, name := range []string{"big", "bomb"} {
		_, err := a.PrepareWorkspace(ctx, workflows.PrepareInput{RunID: "t/p/" + name, Repository: base + "/" + name})
		nonRetryable(t, name, err, "larger than the clone size cap of 1.0 MiB (--clone-max-size)")
	}
	if entries, _ := os.ReadDir(a.WorkRoot); len(entries) != 0 {
		t.Errorf("a refused clone left %d entries", len(entries))
	}
}

// A server that never answers cannot hold a worker (and the run's place
// among the organization's runs in progress): the clone times out, saying
// so, and every process of it is killed (git's HTTP helper, a child of
// git, drops its connection).
func TestSecurityCloneTimeout(t *testing.T) {
	gittest.Need(t)
	base, gone := gittest.Stall(t)
	a := &ServerMode{WorkRoot: t.TempDir(), Clone: CloneOptions{Repositories: httpAllowed, Timeout: 2 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := a.PrepareWorkspace(ctx, workflows.PrepareInput{RunID: "t/p/1", Repository: base + "/app.git"})
	nonRetryable(t, "a stalled server", err, "the clone took longer than 2s (--clone-timeout)")
	select {
	case <-gone:
	case <-time.After(30 * time.Second):
		t.Error("the stalled request's client is still connected: a process of the clone lives on")
	}
}

// A hook script in the repository's history never runs on the worker, even
// when the worker's own git configuration (its global config, or config
// passed in its environment) points core.hooksPath at the work tree: the
// clone runs with no configuration but its own.
func TestSecurityCloneRunsNoHooks(t *testing.T) {
	gittest.Need(t)
	root := t.TempDir()
	pwned := filepath.Join(t.TempDir(), "pwned")
	hook := "#!/bin/sh\necho ran >> " + pwned + "\n"
	gittest.Repo(t, root, "app", map[string]string{
		".githooks/post-checkout*": hook, ".githooks/post-merge*": hook, ".githooks/reference-transaction*": hook,
	})
	base := gittest.Serve(t, root)
	global := filepath.Join(t.TempDir(), "gitconfig")
	if err := os.WriteFile(global, []byte("[core]\n\thooksPath = .githooks\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	a := &ServerMode{WorkRoot: t.TempDir(), Clone: CloneOptions{Repositories: httpAllowed}}
	ctx := context.Background()
	if _, err := a.PrepareWorkspace(ctx, workflows.PrepareInput{RunID: "t/p/1", Repository: base + "/app"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIT_CONFIG_GLOBAL", "/dev/null")
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "core.hooksPath")
	t.Setenv("GIT_CONFIG_VALUE_0", ".githooks")
	if _, err := a.PrepareWorkspace(ctx, workflows.PrepareInput{RunID: "t/p/2", Repository: base + "/app"}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(pwned); err == nil {
		t.Errorf("a hook from the repository ran on the worker: %q", b)
	}
}

var httpAllowed = repourl.Policy{AllowHTTP: true}

// git gets nothing of the worker's environment: not its database URL or
// secret key, not its SSH agent, not its git configuration.
func TestCloneEnvironment(t *testing.T) {
	for _, name := range []string{"DATABASE_URL", "BUILDIT_SECRET_KEY", "SSH_AUTH_SOCK", "GIT_DIR", "GIT_SSL_NO_VERIFY", "GIT_CONFIG_PARAMETERS"} {
		t.Setenv(name, "from-the-worker")
	}
	t.Setenv("https_proxy", "http://proxy.example.test:3128")
	env := repourl.Policy{}.GitEnv("/tmp/home")
	joined := strings.Join(env, "\n")
	if strings.Contains(joined, "from-the-worker") {
		t.Errorf("the worker's environment reaches git:\n%s", joined)
	}
	for _, want := range []string{"HOME=/tmp/home", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_PROTOCOL_FROM_USER=0", "GIT_ALLOW_PROTOCOL=https:ssh", "https_proxy=http://proxy.example.test:3128"} {
		if !strings.Contains("\n"+joined+"\n", "\n"+want+"\n") {
			t.Errorf("git's environment lacks %s:\n%s", want, joined)
		}
	}
}

// BenchmarkPrepareWorkspaceOverHTTP is a hardened checkout of a small
// repository from git's http-backend on loopback, beside a plain git clone
// and checkout of it, for the hardening's cost.
func BenchmarkPrepareWorkspaceOverHTTP(b *testing.B) {
	gittest.Need(b)
	root := b.TempDir()
	gittest.Repo(b, root, "app", map[string]string{"version": "1\n", "src/main.go": "package main\n"})
	base := gittest.Serve(b, root)
	b.Run("hardened", func(b *testing.B) {
		a := &ServerMode{WorkRoot: b.TempDir(), Clone: CloneOptions{Repositories: httpAllowed}}
		for b.Loop() {
			if _, err := a.PrepareWorkspace(context.Background(), workflows.PrepareInput{RunID: "t/p/1", Repository: base + "/app"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "w")
		for b.Loop() {
			os.RemoveAll(dir)
			gittest.Git(b, "", "clone", "--quiet", "--no-checkout", base+"/app", dir)
			gittest.Git(b, dir, "checkout", "--quiet", "--detach", "HEAD")
		}
	})
}
