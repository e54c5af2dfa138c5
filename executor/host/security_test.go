package host_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/host"
)

// A workdir through a symbolic link that an earlier stage made (`ln -s /
// rootlink`) would put the stage in the host's /etc: it is refused before
// anything runs, and a missing workdir under the link is not made outside
// the workspace either.
func TestSecuritySymlinkedWorkdirIsRefused(t *testing.T) {
	ws := t.TempDir()
	first := &executor.Spec{RunID: "r", StageID: "link", Attempt: 1, Commands: []string{"ln -s / rootlink"}, Workspace: ws}
	if _, err := executor.Run(context.Background(), host.New(host.Options{}), first, &sink{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	outside, err := os.MkdirTemp("", "buildit-escape-")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(outside) // only its unique name is wanted
	t.Cleanup(func() { os.RemoveAll(outside) })
	for _, workdir := range []string{"rootlink/etc", "rootlink", "rootlink/" + strings.TrimPrefix(outside, "/") + "/made"} {
		t.Run(workdir, func(t *testing.T) {
			var s sink
			sp := &executor.Spec{RunID: "r", StageID: "escape", Attempt: 1, Workspace: ws, Workdir: workdir,
				Commands: []string{"echo escaped; pwd"}}
			_, err := executor.Run(context.Background(), host.New(host.Options{}), sp, &s, nil, nil)
			if err == nil || !strings.Contains(err.Error(), "leaves the workspace") || !strings.Contains(err.Error(), "rootlink") {
				t.Errorf("err = %v, want the workdir refused as leaving the workspace through rootlink", err)
			}
			if lines := s.all(); len(lines) != 0 {
				t.Errorf("the stage ran: %q", lines)
			}
		})
	}
	if _, err := os.Lstat(outside); !os.IsNotExist(err) {
		t.Errorf("a workdir was made outside the workspace, at %s (%v)", outside, err)
	}
}

// A symbolic link that stays inside the workspace is a fine workdir.
func TestWorkdirThroughALinkInsideTheWorkspace(t *testing.T) {
	ws := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ws, "real", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(ws, "alias")); err != nil {
		t.Fatal(err)
	}
	var s sink
	sp := &executor.Spec{RunID: "r", StageID: "in", Attempt: 1, Workspace: ws, Workdir: "alias/dir/new", Commands: []string{"pwd"}}
	if _, err := executor.Run(context.Background(), host.New(host.Options{}), sp, &s, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := s.all(), []string{"stdout:" + filepath.Join(ws, "real", "dir", "new")}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("lines %q, want %q", got, want)
	}
}

// A host stage of a worker (not a local run) sees its own variables and a
// minimal base, none of the worker's environment: a worker's
// DATABASE_URL and BUILDIT_SECRET_KEY would let a pipeline read every
// tenant's secrets.
func TestSecurityHostStageGetsOnlyItsEnvironment(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://platform:pw@db/buildit")
	t.Setenv("BUILDIT_SECRET_KEY", "worker-secret-key-canary")
	t.Setenv("BUILDIT_TEST_CANARY", "worker-canary")
	ws := t.TempDir()
	home, tmp := t.TempDir(), t.TempDir()
	sp := &executor.Spec{RunID: "r", StageID: "env", Attempt: 1, Workspace: ws, Home: home, TempDir: tmp,
		Commands: []string{"env"}, Env: map[string]string{"MINE": "stage-value"}, Secrets: map[string]string{"TOKEN": "s3cret"}}
	var s sink
	if _, err := executor.Run(context.Background(), host.New(host.Options{}), sp, &s, nil, nil); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range s.all() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(l, "stdout:"), "="); ok {
			got[k] = v
		}
		if strings.Contains(l, "canary") || strings.Contains(l, "platform:pw") {
			t.Errorf("the worker's environment leaked: %q", l)
		}
	}
	want := map[string]string{"MINE": "stage-value", "TOKEN": "s3cret", "HOME": home, "TMPDIR": tmp,
		"PATH": host.DefaultPath, "LANG": "C.UTF-8"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["DATABASE_URL"]; ok {
		t.Error("DATABASE_URL reached the stage")
	}
}

// A local run (buildit run, a person's own machine) keeps the user's
// environment, as make does.
func TestLocalRunInheritsTheEnvironment(t *testing.T) {
	t.Setenv("BUILDIT_TEST_CANARY", "mine")
	var s sink
	sp := spec(t, `echo "$BUILDIT_TEST_CANARY"`)
	if _, err := executor.Run(context.Background(), host.New(host.Options{InheritEnv: true}), sp, &s, nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := s.all(); len(got) != 1 || got[0] != "stdout:mine" {
		t.Errorf("lines %q", got)
	}
}

// A stage given a user runs as that user (the worker is root): its
// commands, and the workdir made for it, belong to it.
func TestSecurityHostStageRunsAsItsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the worker drops to the stage's user only when it runs as root")
	}
	ws := t.TempDir()
	user := &executor.User{UID: 2345678, GID: 2345678}
	if err := os.Chown(ws, int(user.UID), int(user.GID)); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's parent is private to root; the stage's user must pass.
	if err := os.Chmod(filepath.Dir(ws), 0o711); err != nil {
		t.Fatal(err)
	}
	sp := &executor.Spec{RunID: "r", StageID: "who", Attempt: 1, Workspace: ws, Workdir: "made/here", User: user,
		Commands: []string{"id -u", "id -g", "id -G", "touch mine", "cat /proc/self/status | grep -i '^CapEff'"}}
	var s sink
	if _, err := executor.Run(context.Background(), host.New(host.Options{}), sp, &s, nil, nil); err != nil {
		t.Fatalf("%v: %q", err, s.all())
	}
	want := []string{"stdout:2345678", "stdout:2345678", "stdout:2345678", "stdout:CapEff:\t0000000000000000"}
	if got := s.all(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines %q, want %q", got, want)
	}
	for _, p := range []string{"made", "made/here", "made/here/mine"} {
		fi, err := os.Lstat(filepath.Join(ws, p))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != user.UID || st.Gid != user.GID {
			t.Errorf("%s is owned by %d:%d, want the stage's user", p, st.Uid, st.Gid)
		}
	}
}
