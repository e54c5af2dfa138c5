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
	TurnCame(ctx context.Context, ref workflows.RunRef, group string) (bool, error)
}

// LogStore opens the stored log of a stage attempt of a recorded run.
type LogStore interface {
	OpenLog(ctx context.Context, ref workflows.RunRef, stageID string, attempt int) (StageLog, error)
}

// StageLog is one stage attempt's stored log: a LogSink whose Close stores
// what it still holds.
type StageLog interface {
	executor.LogSink
	Close(ctx context.Context) error
}

// Permanent marks err as one that retrying the activity cannot fix.
func Permanent(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrTypeConfig, nil)
}

// RecordRun writes a run record through the Recorder.
func (a *Activities) RecordRun(ctx context.Context, rec workflows.RunRecord) error {
	if a.Recorder == nil {
		return Permanent(errors.New("this worker has no database to record runs in (start it with DATABASE_URL)"))
	}
	return a.Recorder.RecordRun(ctx, rec)
}

// TurnPoll is how often AwaitTurn asks whether the run's turn came.
var TurnPoll = time.Second

// AwaitTurn waits, heartbeating, until no earlier run of the run's
// concurrency group is in progress.
func (a *Activities) AwaitTurn(ctx context.Context, in workflows.AwaitTurnInput) error {
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
func (a *Activities) PrepareWorkspace(ctx context.Context, in workflows.PrepareInput) (workflows.PrepareResult, error) {
	root, err := a.workRoot()
	if err != nil {
		return workflows.PrepareResult{}, err
	}
	dir := filepath.Join(root, workspaceName(in.RunID))
	if err := os.RemoveAll(dir); err != nil {
		return workflows.PrepareResult{}, fmt.Errorf("clear the workspace: %w", err)
	}
	res := workflows.PrepareResult{Workspace: dir, TaskQueue: a.HostQueue}
	if in.Repository == "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return workflows.PrepareResult{}, fmt.Errorf("make the workspace: %w", err)
		}
		return res, nil
	}
	if err := a.checkout(ctx, in, dir); err != nil {
		_ = os.RemoveAll(dir)
		return workflows.PrepareResult{}, err
	}
	return res, nil
}

// CleanupWorkspace removes a workspace that PrepareWorkspace made.
func (a *Activities) CleanupWorkspace(_ context.Context, in workflows.CleanupInput) error {
	root, err := a.workRoot()
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(root, in.Workspace)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return Permanent(fmt.Errorf("%s is not a workspace of this worker", in.Workspace))
	}
	return os.RemoveAll(in.Workspace)
}

func (a *Activities) workRoot() (string, error) {
	root := a.WorkRoot
	if root == "" {
		root = filepath.Join(os.TempDir(), "buildit-workspaces")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("make the work root: %w", err)
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
