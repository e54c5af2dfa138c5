package executor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Paths a pipeline gives relative to a stage's workspace (its workdir;
// artifacts and caches later) are resolved here, once, for every executor
// that touches the host's file system. A stage writes its workspace, so it
// can plant symbolic links there (`ln -s / rootlink`): a path is checked
// after following them, the way the kernel will, not only as written.

// EscapeError reports a path given for a stage that leaves the stage's
// workspace, as written ("..") or through a symbolic link.
type EscapeError struct {
	// Path is the path as given, relative to the workspace.
	Path string
	// Link is the symbolic link, relative to the workspace, that leads
	// out; "" when the path leaves as written.
	Link string
}

func (e *EscapeError) Error() string {
	if e.Link == "" {
		return fmt.Sprintf("%q leaves the workspace", e.Path)
	}
	return fmt.Sprintf("%q leaves the workspace through the symbolic link %s", e.Path, e.Link)
}

// WorkspacePath returns the real path of rel in workspace: every symbolic
// link followed, and every step still inside the workspace, else an
// *EscapeError. rel is relative to the workspace (a leading "/" is
// ignored, as a workdir always was); it must exist.
func WorkspacePath(workspace, rel string) (string, error) {
	r, err := resolve(workspace, rel)
	if err != nil {
		return "", err
	}
	if len(r.missing) > 0 {
		return "", &fs.PathError{Op: "resolve", Path: rel, Err: fs.ErrNotExist}
	}
	return r.path, nil
}

// MakeWorkspaceDir is WorkspacePath for a directory that is made when
// missing, with its missing parents: through an os.Root on the workspace,
// so that no symbolic link, even one swapped in meanwhile, takes the
// making outside. What it makes gets perm (less the umask) and belongs to
// owner when owner is not nil.
func MakeWorkspaceDir(workspace, rel string, perm fs.FileMode, owner *User) (string, error) {
	for tries := 0; ; tries++ {
		r, err := resolve(workspace, rel)
		if err != nil || len(r.missing) == 0 {
			return r.path, err
		}
		err = r.makeMissing(perm, owner)
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrExist) && tries < 3:
			// Made by someone else meanwhile (another stage of the run):
			// resolve again, through whatever it is now.
		default:
			return "", err
		}
	}
}

// resolved is a path resolved as far as it exists.
type resolved struct {
	workspace string   // the workspace's real path
	path      string   // the real path of the part that exists
	missing   []string // the names that do not exist yet, in order
}

func resolve(workspace, rel string) (resolved, error) {
	ws, err := filepath.EvalSymlinks(workspace)
	if err != nil {
		return resolved{}, fmt.Errorf("workspace: %w", err)
	}
	local, err := filepath.Rel(ws, filepath.Join(ws, rel))
	if err != nil || !filepath.IsLocal(local) {
		return resolved{}, &EscapeError{Path: rel}
	}
	r := resolved{workspace: ws, path: ws}
	if local == "." {
		return r, nil
	}
	parts := strings.Split(local, string(filepath.Separator))
	for i, name := range parts {
		next := filepath.Join(r.path, name)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.missing = parts[i:]
			return r, nil
		case err != nil:
			return resolved{}, err
		case fi.Mode()&fs.ModeSymlink != 0:
			link, _ := filepath.Rel(ws, next)
			target, err := filepath.EvalSymlinks(next)
			if errors.Is(err, fs.ErrNotExist) {
				return resolved{}, fmt.Errorf("%q goes through the symbolic link %s, which points to nothing", rel, link)
			} else if err != nil {
				return resolved{}, err
			}
			if !within(ws, target) {
				return resolved{}, &EscapeError{Path: rel, Link: link}
			}
			next = target
		}
		r.path = next
	}
	return r, nil
}

// makeMissing makes r's missing directories, one by one, each through an
// os.Root (which refuses to follow a link out of the workspace) and handed
// to owner before the next is made in it.
func (r resolved) makeMissing(perm fs.FileMode, owner *User) error {
	root, err := os.OpenRoot(r.workspace)
	if err != nil {
		return err
	}
	defer root.Close()
	dir, err := filepath.Rel(r.workspace, r.path)
	if err != nil {
		return err
	}
	for _, name := range r.missing {
		dir = filepath.Join(dir, name)
		if err := root.Mkdir(dir, perm); err != nil {
			return err
		}
		if owner != nil {
			if err := root.Lchown(dir, int(owner.UID), int(owner.GID)); err != nil {
				return err
			}
		}
	}
	return nil
}

// within reports whether path is dir or below it; both are clean.
func within(dir, path string) bool {
	return dir == string(filepath.Separator) || path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}
