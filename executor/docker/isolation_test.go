package docker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/executor"
)

// A container stage gets its own variables and the image's, nothing of the
// worker's environment (DATABASE_URL, BUILDIT_SECRET_KEY…). Not parallel:
// it sets the worker's environment.
func TestSecurityContainerStageGetsNoWorkerEnvironment(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://platform:db-password-canary@db/buildit")
	t.Setenv("BUILDIT_SECRET_KEY", "secret-key-canary")
	t.Setenv("BUILDIT_TEST_CANARY", "worker-env-canary")
	f := setup(t)
	spec := f.spec("env", "env")
	spec.Env = map[string]string{"MINE": "stage-value"}
	s, err := f.run(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join(s.texts(executor.Stdout), "\n")
	for _, leak := range []string{"canary", "DATABASE_URL", "BUILDIT_SECRET_KEY"} {
		if strings.Contains(out, leak) {
			t.Errorf("the worker's environment reached the container (%s):\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "MINE=stage-value") {
		t.Errorf("the stage's own variable is missing:\n%s", out)
	}
}

// In a container, a workdir through a link to / that a stage planted in
// the workspace is resolved by the engine in the container's own file
// system: it reaches the container's /tmp, never the host's, and a
// missing folder under it is made in the container, not on the host.
func TestSecurityContainerWorkdirSymlinkStaysInContainer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if _, err := f.run(t, f.spec("link", "ln -s / rootlink")); err != nil {
		t.Fatal(err)
	}
	// A file only the host's /tmp has, and a folder name no one has.
	marker, err := os.CreateTemp("", "buildit-host-only-")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	t.Cleanup(func() { os.Remove(marker.Name()) })
	made := marker.Name() + "-made"
	t.Cleanup(func() { os.RemoveAll(made) })

	spec := f.spec("look", "pwd", "ls", "test -e "+filepath.Base(marker.Name())+" && echo HOST-TMP || echo container-tmp")
	spec.Workdir = "rootlink/tmp"
	s, err := f.run(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if out := strings.Join(s.texts(executor.Stdout), "\n"); strings.Contains(out, "HOST-TMP") || !strings.Contains(out, "container-tmp") {
		t.Errorf("the workdir reached the host's /tmp:\n%s", out)
	}

	spec = f.spec("make", "pwd")
	spec.Workdir = "rootlink" + made
	if _, err := f.run(t, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(made); !os.IsNotExist(err) {
		t.Errorf("the engine made the workdir on the host, at %s (%v)", made, err)
	}
}
