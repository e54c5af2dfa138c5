// Package localrun runs a pipeline on this machine, as `buildit run` does:
// an embedded Temporal server (or one at an address), an in-process worker
// on a task queue of the run's own, host and Docker executors, approvals
// answered at the terminal, and Ctrl-C cancelling the run. The cobra
// command only reads flags into Options and prints the Result.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/deploy/backends"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/webui"
	"github.com/buildit-ci/buildit/worker"
	"github.com/buildit-ci/buildit/workflows"
)

// LocalFastPath is how long a run lets a host stage run as a local
// activity before handing it to a heartbeating regular activity.
const LocalFastPath = 2 * time.Second

// Options are what `buildit run`'s flags give, with the plan loaded and
// the secrets collected.
type Options struct {
	// Plan is the plan to run (already cut to --only).
	Plan *pipeline.Plan
	// Workspace is the absolute folder shared by every stage.
	Workspace string
	// Trigger is what started the run, for when conditions and BUILDIT_*:
	// Branch and Commit default to the workspace's git branch and HEAD,
	// Event to "manual".
	buildit.Trigger
	// Env is set in every stage's environment.
	Env map[string]string
	// Inputs are the values given for the plan's inputs (-i): Run
	// resolves them as a server does (a wrong one is a UsageError holding
	// the *pipeline.InputError), replaces ${inputs.NAME} in the plan and
	// sets BUILDIT_INPUT_NAME.
	Inputs map[string]string
	// Secrets are the values of the secrets the stages name.
	Secrets map[string]string
	// AutoApprove names the approval stages approved without asking;
	// "*" approves all.
	AutoApprove []string
	// Executor is auto (Docker for stages with an image), local (every
	// stage on the host) or docker; "" is auto.
	Executor string
	// TemporalAddress is a Temporal server to use; "" starts an embedded
	// one in this process.
	TemporalAddress string
	// Namespace is the Temporal namespace; "" is default.
	Namespace string
	// UI serves the Temporal Web UI (on UIPort, 0 for a free port);
	// Result.UI keeps serving after Run returns.
	UI     bool
	UIPort int
	// Actor is who runs it, for the run's record and approvals.
	Actor string

	// Sink receives every stage's log lines.
	Sink executor.LogSink
	// Stderr receives the messages for the person at the terminal:
	// interruption, approval prompts, the UI's address.
	Stderr io.Writer
	// Stdin answers approval prompts when Interactive; without a terminal
	// a waiting approval stage is rejected.
	Stdin       io.Reader
	Interactive bool
	// Logger is the run's log; TemporalLogger, when set, the embedded
	// server's (which is quiet otherwise).
	Logger, TemporalLogger *slog.Logger
	// Interrupt delivers Ctrl-C (or SIGTERM): the first cancels the run
	// and waits for its stages to stop; the second quits at once.
	Interrupt <-chan os.Signal

	// BlobURL is the blob store of artifacts and caches (--blob-url): ""
	// is $BUILDIT_BLOB_URL, then DefaultBlobURL. It is opened only when
	// a stage has artifacts or caches.
	BlobURL string
	// ArtifactsDir is where the run's artifacts are unpacked after it
	// (in <run-id>/<name>/); "" keeps them in the blob store only. The
	// CLI makes it .buildit/artifacts next to the pipeline file.
	ArtifactsDir string
}

// Result is how a run ended.
type Result struct {
	RunID string
	// State is the run's final state (empty when Quit).
	State workflows.RunState
	// Interrupted reports that Options.Interrupt cancelled the run.
	Interrupted bool
	// Quit reports a second interrupt: Run stopped waiting for the run,
	// so State is empty.
	Quit bool
	// UI is the Web UI when Options.UI asked for it: still serving, for
	// the caller to keep up as long as it likes and Stop.
	UI *webui.UI
	// UIURL is the run's page in UI.
	UIURL string
	// Artifacts is the folder the run's artifacts were unpacked into
	// (Options.ArtifactsDir/<run-id>); "" when it kept none.
	Artifacts string
}

// UsageError is a run refused for its options (exit status 2 at the
// CLI): an unknown executor, or Docker needed where none answers.
type UsageError struct{ Err error }

// Error says what is wrong with the options.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the error itself.
func (e *UsageError) Unwrap() error { return e.Err }

// Run runs the plan and waits for it to end (or for Options.Interrupt). A
// run that ends, failed or not, is a Result; an error is for what kept it
// from running or from being waited for.
func Run(ctx context.Context, o Options) (res Result, err error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	acts := activities.New(activities.Shared{Sink: o.Sink, Secrets: activities.MapSecrets(o.Secrets), Logger: o.Logger})
	acts.Stages.Host = host.New(host.Options{InheritEnv: true})
	acts.Deploys.Backends = backends.For
	if planKeepsAnything(o.Plan) {
		svc, err := OpenArtifacts(ctx, o.BlobURL)
		if err != nil {
			return Result{}, &UsageError{err}
		}
		defer svc.Store.Close()
		acts.Stages.Artifacts = svc
	}
	cleanup, err := setUpExecutors(ctx, acts, o)
	if err != nil {
		return Result{}, err
	}
	conn, err := connect(ctx, o)
	if err != nil {
		return Result{}, err
	}
	defer conn.close()

	res.RunID = newRunID(o.Plan.Pipeline)
	if o.UI {
		ui, uiErr := webui.Start(ctx, webui.Options{TemporalAddress: conn.hostPort, Namespace: o.Namespace, Port: o.UIPort})
		if uiErr != nil {
			return Result{}, uiErr
		}
		defer func() {
			if err != nil { // the caller stops it only after a run
				ui.Stop()
			}
		}()
		res.UI, res.UIURL = ui, ui.WorkflowURL(o.Namespace, res.RunID)
		fmt.Fprintf(o.Stderr, "buildit: Temporal UI: %s\n", res.UIURL)
	}
	// A task queue of its own, so that only this process's worker takes the
	// run's tasks even on a shared Temporal server.
	taskQueue := "buildit-local-" + res.RunID
	w := worker.New(conn.client, acts, worker.Options{TaskQueue: taskQueue})
	if err := w.Start(); err != nil {
		return Result{}, fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()

	run, err := runclient.StartRun(ctx, conn.client, o.input(res.RunID, acts.Stages.ForceHost), runclient.RunOptions{
		ID: res.RunID, TaskQueue: taskQueue, SearchAttributes: conn.searchable, Trigger: "local", Actor: o.Actor,
	})
	if err != nil {
		return Result{}, err
	}
	conn.started = true
	o.Logger.Debug("run started", "workflow_id", res.RunID, "temporal", conn.hostPort)
	res, err = wait(conn.client, run, o, cleanup, res)
	if rerr := activities.RemoveRunHome(res.RunID); rerr != nil {
		o.Logger.Warn("remove the run's home folder", "error", rerr)
	}
	if err == nil && acts.Stages.Artifacts != nil && o.ArtifactsDir != "" {
		var xerr error
		res.Artifacts, xerr = extractArtifacts(ctx, acts.Stages.Artifacts, res.State, res.RunID, o.ArtifactsDir)
		if xerr != nil {
			fmt.Fprintf(o.Stderr, "buildit: %v\n", xerr)
		}
	}
	return res, err
}

// CheckExecutor refuses an Options.Executor other than auto, local and
// docker, with a UsageError.
func CheckExecutor(mode string) error {
	if !slices.Contains([]string{"auto", "local", "docker"}, mode) {
		return &UsageError{fmt.Errorf("unknown --executor %q: want auto, local or docker", mode)}
	}
	return nil
}

// defaults fills in the defaults and checks the executor.
func (o *Options) defaults() error {
	if o.Executor == "" {
		o.Executor = "auto"
	}
	if err := CheckExecutor(o.Executor); err != nil {
		return err
	}
	if o.Plan == nil {
		return &UsageError{errors.New("no plan to run")}
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Event == "" {
		o.Event = "manual"
	}
	plan := *o.Plan
	_, env, err := runclient.ResolveRunInputs(&plan, o.Event, o.Inputs, o.Env)
	if err != nil {
		return &UsageError{err}
	}
	o.Plan, o.Env = &plan, env
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Branch == "" {
		o.Branch = gitOutput(o.Workspace, "rev-parse", "--abbrev-ref", "HEAD")
	}
	if o.Commit == "" {
		o.Commit = gitOutput(o.Workspace, "rev-parse", "HEAD")
	}
	return nil
}

// input is the workflow's input for the run runID.
func (o *Options) input(runID string, forceHost bool) workflows.PipelineRunInput {
	return workflows.PipelineRunInput{
		RunInput: workflows.RunInput{
			RunID:       runID,
			Plan:        *o.Plan,
			Workspace:   o.Workspace,
			Trigger:     o.Trigger,
			Env:         o.Env,
			AutoApprove: o.AutoApprove,
		},
		// One worker in this process: host stages can take the local
		// fast path (see LocalInput.LocalFastPath).
		LocalInput: workflows.LocalInput{LocalFastPath: LocalFastPath, ForceHost: forceHost},
	}
}
