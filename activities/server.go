package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/workflows"
)

// RunRecorder writes a run's state to the platform's database. Writes are
// idempotent (keyed by run, stage and attempt), so a retried record is
// harmless. An error that no retry can mend (the run's row is gone) should
// be wrapped with Permanent.
type RunRecorder interface {
	RecordRun(ctx context.Context, rec workflows.RunRecord) error
	// TurnCame reports whether no run of ref's concurrency group that
	// was created before it is still in progress.
	TurnCame(ctx context.Context, ref buildit.RunRef, group string) (bool, error)
}

// LogStore opens the stored log of a stage attempt of a recorded run.
type LogStore interface {
	OpenLog(ctx context.Context, ref buildit.RunRef, stageID string, attempt int) (StageLog, error)
}

// StageLog is one stage attempt's stored log: a LogSink whose Close stores
// what it still holds.
type StageLog interface {
	executor.LogSink
	Close(ctx context.Context) error
}

// ServerMode holds the activities only server-mode runs use: run records,
// concurrency turns and workspaces.
type ServerMode struct {
	// Recorder writes run records and tells whose turn it is; nil on a
	// worker without a database.
	Recorder RunRecorder
	// WorkRoot is where workspaces are made; "" is a folder under the
	// system's temp dir.
	WorkRoot string
	// HostQueue is the task queue of this worker's host, which a run whose
	// workspace it prepared sends its stages to.
	HostQueue string
	// Clone allows and bounds the repositories PrepareWorkspace clones
	// (checkout.go).
	Clone CloneOptions
	// Secrets resolves the forge token of an authenticated clone
	// (PrepareInput.Auth); nil is the Shared's, when New made this.
	Secrets SecretSource

	// present is shared with the stages (artifacts.go): a removed
	// workspace holds nothing any more.
	present *present
	// shared is the other parts' dependencies, when New made this.
	shared *Shared
}

// secrets is Secrets, or the Shared's.
func (a *ServerMode) secrets() SecretSource {
	if a.Secrets != nil {
		return a.Secrets
	}
	if a.shared != nil {
		return a.shared.Secrets
	}
	return nil
}

// Permanent marks err as one that retrying the activity cannot fix.
func Permanent(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeConfig, nil)
}

// RecordRun writes a run record through the Recorder.
func (a *ServerMode) RecordRun(ctx context.Context, rec workflows.RunRecord) error {
	if a.Recorder == nil {
		return Permanent(errors.New("this worker has no database to record runs in (start it with DATABASE_URL)"))
	}
	return a.Recorder.RecordRun(ctx, rec)
}

// TurnPoll is how often AwaitTurn asks whether the run's turn came.
var TurnPoll = time.Second

// AwaitTurn waits, heartbeating, until no earlier run of the run's
// concurrency group is in progress.
func (a *ServerMode) AwaitTurn(ctx context.Context, in workflows.AwaitTurnInput) error {
	if a.Recorder == nil {
		return Permanent(errors.New("this worker has no database to find the run's concurrency group in"))
	}
	for {
		came, err := a.Recorder.TurnCame(ctx, in.Ref, in.Group)
		if err != nil {
			return err
		}
		if came {
			return nil
		}
		activity.RecordHeartbeat(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(TurnPoll):
		}
	}
}

// PrepareWorkspace makes a run's workspace under WorkRoot: a checkout of the
// repository at the commit (or branch) when one is given, else an empty
// folder. It answers with HostQueue, so that the run's stages come to this
// worker's host. A retried prepare starts over.
//
// The workspace is in a folder of the run's own, beside its host stages'
// HOME and TMPDIR, private to the run's user (see isolation.go): a clone,
// made by this process, is handed to that user afterwards.
func (a *ServerMode) PrepareWorkspace(ctx context.Context, in workflows.PrepareInput) (workflows.PrepareResult, error) {
	root, err := a.workRoot()
	if err != nil {
		return workflows.PrepareResult{}, err
	}
	dir := filepath.Join(root, workspaceName(in.RunID))
	if err := os.RemoveAll(dir); err != nil {
		return workflows.PrepareResult{}, fmt.Errorf("clear the workspace: %w", err)
	}
	owner := stageUser(in.RunID)
	ws, err := makeRunDir(dir, owner)
	if err == nil && in.Repository == "" {
		err = mkdirOwned(ws, 0o755, owner)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return workflows.PrepareResult{}, fmt.Errorf("make the workspace: %w", err)
	}
	res := workflows.PrepareResult{Workspace: ws, TaskQueue: a.HostQueue}
	if in.Repository == "" {
		return res, nil
	}
	if err := a.checkout(ctx, in, ws); err != nil {
		_ = os.RemoveAll(dir)
		return workflows.PrepareResult{}, err
	}
	if err := chownTree(ws, owner); err != nil {
		_ = os.RemoveAll(dir)
		return workflows.PrepareResult{}, fmt.Errorf("hand the checkout to the run's user: %w", err)
	}
	return res, nil
}

// CleanupWorkspace removes a workspace that PrepareWorkspace made, with its
// run's folder (or alone, when an older worker made it straight in the
// work root).
func (a *ServerMode) CleanupWorkspace(_ context.Context, in workflows.CleanupInput) error {
	root, err := a.workRoot()
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(root, in.Workspace)
	if err != nil || rel == "." || !filepath.IsLocal(rel) {
		return Permanent(fmt.Errorf("%s %w", in.Workspace, errNotAWorkspace))
	}
	run, rest, nested := strings.Cut(rel, string(filepath.Separator))
	if nested && rest != runWorkspace {
		return Permanent(fmt.Errorf("%s %w", in.Workspace, errNotAWorkspace))
	}
	a.present.forget(in.Workspace)
	return os.RemoveAll(filepath.Join(root, run))
}

// workRoot makes the folder every run's folder goes in, mode 0711: a
// stage's user may pass through it to its own run's folder, but no one
// but this process may list the runs.
func (a *ServerMode) workRoot() (string, error) {
	root := a.WorkRoot
	if root == "" {
		root = filepath.Join(os.TempDir(), "buildit-workspaces")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(root, 0o711); err != nil {
		return "", fmt.Errorf("make the work root: %w", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm() != 0o711 {
		// A work root made by someone else, who may have meant it: only
		// one that lets others list the runs is an error.
		if err := os.Chmod(root, 0o711); err != nil && fi.Mode().Perm()&0o044 != 0 {
			return "", fmt.Errorf("the work root %s lets others list the runs' workspaces (mode %#o) and cannot be made 0711: %w", root, fi.Mode().Perm(), err)
		}
	}
	return root, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// workspaceName turns a run ID (a workflow ID with slashes) into a folder
// name.
func workspaceName(runID string) string {
	name := strings.Trim(unsafeName.ReplaceAllString(runID, "_"), "._")
	if name == "" {
		name = "run"
	}
	return name
}
