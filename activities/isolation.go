package activities

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/workflows"
)

// Host stages of server-mode runs (on a worker started with
// --allow-host-stages) are kept apart from the worker and from each other:
//
//   - the work root is the worker's, mode 0711: a stage can reach its own
//     run's folder by name but cannot list the others;
//   - each run has a folder of its own, mode 0700, holding its workspace
//     and the HOME and TMPDIR of its host stages;
//   - when the worker runs as root, that folder and everything in it
//     belong to a user of the run's own (stageUser), as whom its host
//     stages run: not root, and not the user of another run;
//   - a stage's environment is its own (the host executor's InheritEnv is
//     off on workers).
//
// Docker stages see only their workspace, mounted at /workspace.

// The names in a run's folder.
const (
	runWorkspace = "workspace"
	runHome      = "home"
	runTmp       = "tmp"
)

// The users of runs' host stages: uid and gid from stageUIDFirst up, one
// of stageUIDCount, picked by a hash of the run's ID. No /etc/passwd entry
// is needed. Two runs in flight share one with a chance of about one in a
// million per pair.
const (
	stageUIDFirst = 2_000_000
	stageUIDCount = 1_000_000
)

// stageUser is the user of runID's host stages, or nil when this process
// is not root (stages then run as the worker's own user, which cannot
// change).
func stageUser(runID string) *executor.User {
	if os.Geteuid() != 0 {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(runID))
	id := uint32(stageUIDFirst + h.Sum64()%stageUIDCount)
	return &executor.User{UID: id, GID: id}
}

// makeRunDir makes a run's folder with its HOME and TMPDIR, private to
// owner (to this process when owner is nil), and returns where its
// workspace goes.
func makeRunDir(dir string, owner *executor.User) (workspace string, err error) {
	for _, d := range []string{dir, filepath.Join(dir, runHome), filepath.Join(dir, runTmp)} {
		if err := mkdirOwned(d, 0o700, owner); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, runWorkspace), nil
}

// mkdirOwned makes dir with exactly perm, handed to owner when not nil.
func mkdirOwned(dir string, perm fs.FileMode, owner *executor.User) error {
	if err := os.Mkdir(dir, perm); err != nil {
		return err
	}
	if err := os.Chmod(dir, perm); err != nil { // past the umask
		return err
	}
	if owner != nil {
		return os.Lchown(dir, int(owner.UID), int(owner.GID))
	}
	return nil
}

// chownTree hands dir and everything in it to owner, without following a
// symbolic link anywhere (a checkout holds whatever links its repository
// has): through an os.Root, with Lchown.
func chownTree(dir string, owner *executor.User) error {
	if owner == nil {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return root.Lchown(path, int(owner.UID), int(owner.GID))
	})
}

// runDirOf is the run folder of a workspace that PrepareWorkspace made, or
// "" for one of an older worker (made straight in the work root).
func runDirOf(workspace string) string {
	if filepath.Base(workspace) != runWorkspace {
		return ""
	}
	dir := filepath.Dir(workspace)
	if fi, err := os.Stat(filepath.Join(dir, runHome)); err != nil || !fi.IsDir() {
		return ""
	}
	return dir
}

// isolate gives a host stage of a server-mode run its run's HOME and
// TMPDIR and, when this worker is root, the run's own user, who must be
// able to reach the workspace.
func isolate(in workflows.StageInput, spec *executor.Spec) error {
	dir := runDirOf(in.Workspace)
	if dir == "" {
		return fmt.Errorf("the workspace %s was made by an older BuildIt worker, without a folder for the run's HOME and TMPDIR: run the pipeline again", in.Workspace)
	}
	spec.Home, spec.TempDir = filepath.Join(dir, runHome), filepath.Join(dir, runTmp)
	spec.User = stageUser(in.RunID)
	if spec.User != nil {
		return reachable(filepath.Dir(dir), spec.User)
	}
	return nil
}

// reachable checks that a user who is not the owner can pass through dir
// and every folder above it, as a stage's user must to reach its
// workspace. A folder that cannot be passed is named, with what to do.
func reachable(dir string, u *executor.User) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("host stages run as uid %d, who cannot reach the workspace: %s is not searchable by other users (mode %#o); give the worker a --work-dir whose parent folders all are (chmod o+x)", u.UID, d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// errNotAWorkspace is CleanupWorkspace's answer to a path that is not a
// workspace of this worker.
var errNotAWorkspace = errors.New("is not a workspace of this worker")
