package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/pipeline"
)

// ErrTypePipelineFailed is the application error type of a run that ended
// with a failed stage; its details hold the final RunState.
const ErrTypePipelineFailed = "PipelineFailed"

// ErrTypeConfig marks activity errors that retrying cannot fix (a missing
// image, no executor for the stage); Temporal does not retry them.
const ErrTypeConfig = "StageConfigError"

// stageDone reports that the coroutine of step index has finished.
type stageDone struct{ index int }

// run is the state of one PipelineRun execution: its input and plan, the
// stages' states, and, by concern, the progress of the stages, the
// workspace's host and what the database was told (the last two in server
// mode only; see server_mode.go).
type run struct {
	in    PipelineRunInput
	steps []pipeline.Step
	index map[string]int
	state []StageState
	progress
	workspaceHost
	recording
	logger interface {
		Info(string, ...interface{})
	}
}

// progress is where the run's stages stand: how many run, how each is
// cancelled, decided and reported done, and how the run stands.
type progress struct {
	// failing is set once a stage fails without allow-failure.
	failing   bool
	cancelled bool
	running   int
	cancels   map[int]workflow.CancelFunc
	done      workflow.Channel
	decisions map[int]workflow.Channel
	status    buildit.RunStatus
	// errText says why the run failed or was cancelled.
	errText string
}

// workspaceHost is, in server mode, the workspace's host queue ("" is the
// workflow's own), with queueGen bumped each time the workspace is
// prepared again.
type workspaceHost struct {
	queue      string
	queueGen   int
	preparing  bool
	prepares   int
	prepareErr string
}

// recording is the recorder's state in server mode: attempts that ended
// before a retry, and what the database was last told.
type recording struct {
	retired    []StageState
	recSent    []StageState
	recStatus  buildit.RunStatus
	recErr     string
	recRetired int
}

// versionServerMode marks histories of runs that may record their state
// and prepare their workspace (PipelineRunInput.Record and Prepare).
const versionServerMode = "server-mode"

// approvalDecision is what an update sends to a waiting gate.
type approvalDecision struct {
	approve bool
	by      string
	reason  string
}

// PipelineRun executes a pipeline's plan. It returns the final RunState
// when every stage succeeded (or failed with allow-failure); a failed run
// ends with an ErrTypePipelineFailed application error and a cancelled run
// with a CanceledError, both carrying the RunState as details.
func PipelineRun(ctx workflow.Context, in PipelineRunInput) (*RunState, error) {
	if in.RunID == "" {
		in.RunID = workflow.GetInfo(ctx).WorkflowExecution.ID
	}
	r := &run{
		in:    in,
		steps: in.Plan.Steps,
		index: make(map[string]int, len(in.Plan.Steps)),
		state: make([]StageState, len(in.Plan.Steps)),
		progress: progress{
			cancels:   map[int]workflow.CancelFunc{},
			decisions: map[int]workflow.Channel{},
			done:      workflow.NewBufferedChannel(ctx, len(in.Plan.Steps)+1),
			status:    buildit.RunQueued,
		},
		logger: workflow.GetLogger(ctx),
	}
	for i, st := range r.steps {
		r.index[st.ID] = i
		r.state[i] = StageState{ID: st.ID, Stage: st.Stage, Kind: string(st.Kind), Status: buildit.StagePending, AllowFailure: st.AllowFailure}
		if st.Kind == pipeline.KindApproval {
			r.decisions[i] = workflow.NewBufferedChannel(ctx, 1)
		}
	}
	if err := r.registerHandlers(ctx); err != nil {
		return nil, err
	}
	if in.Record != nil || in.Prepare != nil {
		if workflow.GetVersion(ctx, versionServerMode, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			r.in.Record, r.in.Prepare = nil, nil
		}
	}
	return r.execute(ctx)
}

func (r *run) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, StateQuery, func() (RunState, error) {
		return r.snapshot(), nil
	}); err != nil {
		return err
	}
	for _, name := range []string{ApproveUpdate, RejectUpdate} {
		approve := name == ApproveUpdate
		err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, in ApprovalInput) (StageState, error) {
				i, _ := r.waitingGate(in.Stage)
				r.decisions[i].Send(ctx, approvalDecision{approve: approve, by: in.By, reason: in.Reason})
				if err := workflow.Await(ctx, func() bool { return r.state[i].Status.Terminal() }); err != nil {
					return StageState{}, err
				}
				return r.state[i], nil
			},
			workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, in ApprovalInput) error {
				_, err := r.waitingGate(in.Stage)
				return err
			}},
		)
		if err != nil {
			return err
		}
	}
	return nil
}

// waitingGate finds the approval gate an update names: a step ID, or a
// stage name with exactly one waiting instance.
func (r *run) waitingGate(name string) (int, error) {
	if name == "" {
		return -1, errors.New("name the approval stage")
	}
	candidates := []int{}
	if i, ok := r.index[name]; ok {
		candidates = append(candidates, i)
	} else {
		for i, st := range r.steps {
			if st.Stage == name {
				candidates = append(candidates, i)
			}
		}
	}
	if len(candidates) == 0 {
		return -1, fmt.Errorf("no stage %q in this run", name)
	}
	var waiting []int
	for _, i := range candidates {
		if r.steps[i].Kind != pipeline.KindApproval {
			return -1, fmt.Errorf("stage %q is not an approval stage", r.steps[i].ID)
		}
		if r.state[i].Status == buildit.StageWaiting {
			waiting = append(waiting, i)
		}
	}
	switch len(waiting) {
	case 0:
		return -1, fmt.Errorf("stage %q is %s, not waiting for approval", name, r.state[candidates[0]].Status)
	case 1:
		return waiting[0], nil
	}
	return -1, fmt.Errorf("stage %q has %d waiting instances: name one by its ID", name, len(waiting))
}

func (r *run) snapshot() RunState {
	stages := make([]StageState, len(r.state))
	copy(stages, r.state)
	return RunState{Pipeline: r.in.Plan.Pipeline, Status: r.status, Stages: stages}
}

func (r *run) execute(ctx workflow.Context) (*RunState, error) {
	// Bookkeeping must go on after a cancel request, to wait for the
	// stages to stop; it uses a context that cancellation does not reach.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if r.in.Record != nil {
		r.startRecorder(dctx)
	}
	if r.in.Record != nil && r.in.ConcurrencyGroup != "" {
		if err := r.awaitTurn(ctx); err != nil && ctx.Err() != nil {
			r.cancelled = true
		}
	}
	if r.in.Prepare != nil && r.in.Workspace == "" && !r.cancelled {
		if err := r.prepare(ctx); err != nil {
			if ctx.Err() != nil {
				r.cancelled = true
			} else {
				r.failing = true
				r.prepareErr = err.Error()
			}
		}
	}
	r.setStatus(dctx, buildit.RunRunning)
	for {
		r.schedule(ctx)
		r.refreshStatus(dctx)
		if r.running == 0 {
			break
		}
		sel := workflow.NewSelector(dctx)
		sel.AddReceive(r.done, func(c workflow.ReceiveChannel, _ bool) {
			var d stageDone
			c.Receive(dctx, &d)
			r.running--
			delete(r.cancels, d.index)
			r.afterStage(d.index)
		})
		if !r.cancelled {
			sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {
				r.cancelled = true
				r.logger.Info("run cancelled")
				r.cancelRunning(false)
			})
		}
		sel.Select(dctx)
	}

	final := r.snapshot()
	var err error
	switch {
	case r.cancelled:
		r.errText = "run cancelled"
		final.Status = buildit.RunCancelled
		err = temporal.NewCanceledError(final)
	case r.failing:
		r.errText = "pipeline failed: " + strings.Join(r.failedStages(), ", ")
		if r.prepareErr != "" {
			r.errText = "pipeline failed: preparing the workspace: " + r.prepareErr
		}
		final.Status = buildit.RunFailed
		err = temporal.NewNonRetryableApplicationError(r.errText, ErrTypePipelineFailed, nil, final)
	default:
		final.Status = buildit.RunSucceeded
	}
	r.setStatus(dctx, final.Status)
	r.cleanup(dctx)
	if r.in.Record != nil {
		// The run ends once the database has its final state.
		_ = workflow.Await(dctx, func() bool { return !r.recordPending() })
	}
	if err != nil {
		return nil, err
	}
	return &final, nil
}

func (r *run) failedStages() []string {
	var ids []string
	for i, s := range r.state {
		if s.Status == buildit.StageFailed && !r.steps[i].AllowFailure {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// afterStage applies fail-fast once a stage has ended.
func (r *run) afterStage(i int) {
	s := r.state[i]
	if s.Status == buildit.StageFailed && !r.steps[i].AllowFailure && !r.failing {
		r.failing = true
		r.cancelRunning(true)
	}
}

// cancelRunning cancels running stages. On fail-fast, stages that run
// whatever happens (when status="always") are left to finish.
func (r *run) cancelRunning(failFast bool) {
	for i := range r.steps {
		cancel, ok := r.cancels[i]
		if !ok {
			continue
		}
		if failFast && whenStatus(r.steps[i]) == pipeline.StatusAlways {
			continue
		}
		cancel()
	}
}

// schedule starts or skips every pending stage whose needs have all ended,
// until nothing more changes.
func (r *run) schedule(ctx workflow.Context) {
	for changed := true; changed; {
		changed = false
		for i := range r.steps {
			if r.state[i].Status != buildit.StagePending || !r.needsEnded(i) {
				continue
			}
			changed = true
			if r.cancelled {
				r.state[i].Status = buildit.StageCancelled
				r.state[i].Error = "run cancelled"
				continue
			}
			if r.reused(i) {
				r.state[i].Status = buildit.StageSucceeded
				r.state[i].ReusedFrom = r.in.ReusedFrom
				r.state[i].Attempt = 1
				r.state[i].Artifacts = r.reusedArtifacts(i)
				continue
			}
			if reason := r.skipReason(i); reason != "" {
				r.state[i].Status = buildit.StageSkipped
				r.state[i].Error = reason
				continue
			}
			r.start(ctx, i)
		}
	}
}

func (r *run) needsEnded(i int) bool {
	for _, need := range r.steps[i].Needs {
		if !r.state[r.index[need]].Status.Terminal() {
			return false
		}
	}
	return true
}

func whenStatus(st pipeline.Step) string {
	if st.When == nil || st.When.Status == "" {
		return pipeline.StatusSuccess
	}
	return st.When.Status
}

// skipReason decides from `when` and the upstream stages whether stage i
// runs; it returns why not, or "" to run it.
func (r *run) skipReason(i int) string {
	st := r.steps[i]
	if r.prepareErr != "" {
		return "the workspace could not be prepared"
	}
	if w := st.When; w != nil {
		if len(w.Branch) > 0 && !pipeline.MatchAny(w.Branch, r.in.Branch) {
			return fmt.Sprintf("branch %q does not match when branch %s", r.in.Branch, strings.Join(w.Branch, ", "))
		}
		if len(w.Event) > 0 && !pipeline.MatchAny(w.Event, r.in.Event) {
			return fmt.Sprintf("event %q does not match when event %s", r.in.Event, strings.Join(w.Event, ", "))
		}
	}
	switch whenStatus(st) {
	case pipeline.StatusAlways:
		return ""
	case pipeline.StatusFailure:
		if !r.failing {
			return "nothing failed (when status=\"failure\")"
		}
		return ""
	}
	if r.failing {
		return "an earlier stage failed"
	}
	for _, need := range st.Needs {
		ns := r.state[r.index[need]]
		ok := ns.Status == buildit.StageSucceeded || ns.Status == buildit.StageFailed && r.steps[r.index[need]].AllowFailure
		if !ok {
			return fmt.Sprintf("needs %q, which %s", need, ns.Status)
		}
	}
	return ""
}

// start launches the coroutine that runs stage i.
func (r *run) start(ctx workflow.Context, i int) {
	sctx, cancel := workflow.WithCancel(ctx)
	r.cancels[i] = cancel
	r.running++
	r.state[i].StartedAt = workflow.Now(ctx)
	if r.steps[i].Kind == pipeline.KindApproval {
		r.state[i].Status = buildit.StageWaiting
	} else {
		r.state[i].Status = buildit.StageRunning
	}
	workflow.Go(sctx, func(gctx workflow.Context) {
		switch r.steps[i].Kind {
		case pipeline.KindApproval:
			r.runApproval(gctx, i)
		case pipeline.KindDeploy:
			if workflow.GetVersion(gctx, versionDeployStages, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				r.finishStage(gctx, i, buildit.StageFailed, "deploy stages are not supported by this version of the engine")
				break
			}
			r.runDeploy(gctx, i)
		default:
			r.runCommands(gctx, i)
		}
		dctx, _ := workflow.NewDisconnectedContext(gctx)
		r.done.Send(dctx, stageDone{index: i})
	})
}

func (r *run) finishStage(ctx workflow.Context, i int, status buildit.StageStatus, reason string) {
	r.state[i].Status = status
	r.state[i].Error = reason
	r.state[i].FinishedAt = workflow.Now(ctx)
}

// runCommands runs a command stage, with its retries.
func (r *run) runCommands(ctx workflow.Context, i int) {
	st := r.steps[i]
	hb := r.in.HeartbeatTimeout
	if hb == 0 {
		hb = DefaultHeartbeatTimeout
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// The activity enforces the stage's timeout itself and reports it
		// as a result; this bound only catches a lost activity.
		StartToCloseTimeout: st.Timeout + time.Minute,
		HeartbeatTimeout:    hb,
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: []string{ErrTypeConfig},
		},
	})
	local := r.in.LocalFastPath > 0 && (st.Image == "" || r.in.ForceHost)
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: r.in.LocalFastPath + 10*time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	for attempt := 1; ; attempt++ {
		r.state[i].Attempt = attempt
		r.state[i].Status = buildit.StageRunning
		r.state[i].ExitCode = nil
		r.state[i].Error = ""
		in := StageInput{
			RunID:     r.in.RunID,
			Pipeline:  r.in.Plan.Pipeline,
			Step:      st,
			Attempt:   attempt,
			Workspace: r.in.Workspace,
			Trigger:   r.in.Trigger,
			Env:       r.in.Env,
			Record:    r.in.Record,
			NoSecrets: r.in.NoSecrets,
			Restore:   r.restoreFor(i),
		}
		gen := r.queueGen
		qctx := actx
		if r.queue != "" {
			qctx = workflow.WithTaskQueue(actx, r.queue)
			qctx = workflow.WithScheduleToStartTimeout(qctx, r.hostQueueTimeout())
		}
		var res StageResult
		var err error
		if local {
			in.LocalBudget = r.in.LocalFastPath
			err = workflow.ExecuteLocalActivity(lctx, RunStageLocalActivity, in).Get(lctx, &res)
			in.LocalBudget = 0
			in.Resume = err == nil && res.Pending
		}
		if !local || in.Resume {
			res = StageResult{}
			err = workflow.ExecuteActivity(qctx, RunStageActivity, in).Get(qctx, &res)
		}
		if err != nil && ctx.Err() == nil && r.queue != "" && hostLost(err) {
			// The workspace's host is gone: prepare the workspace again
			// elsewhere and run this attempt there.
			r.logger.Info("workspace host lost; preparing the workspace again", "stage", st.ID, "queue", r.queue)
			perr := r.reprepare(ctx, gen)
			if perr == nil {
				attempt--
				continue
			}
			if ctx.Err() == nil {
				err = fmt.Errorf("the workspace's host was lost and preparing it again failed: %w", perr)
			}
		}
		if err == nil {
			r.state[i].Artifacts = res.Artifacts
		}
		if ctx.Err() != nil {
			reason := "cancelled: an earlier stage failed"
			if r.cancelled {
				reason = "run cancelled"
			}
			r.finishStage(ctx, i, buildit.StageCancelled, reason)
			return
		}
		var reason string
		switch {
		case err != nil:
			reason = activityErrorText(err)
		case res.TimedOut:
			reason = fmt.Sprintf("timed out after %s", st.Timeout)
			code := res.ExitCode
			r.state[i].ExitCode = &code
		case res.ExitCode != 0:
			reason = fmt.Sprintf("exit status %d", res.ExitCode)
			code := res.ExitCode
			r.state[i].ExitCode = &code
		default:
			code := 0
			r.state[i].ExitCode = &code
			r.finishStage(ctx, i, buildit.StageSucceeded, "")
			return
		}
		if attempt > st.Retry || (r.failing && whenStatus(st) != pipeline.StatusAlways) {
			r.finishStage(ctx, i, buildit.StageFailed, reason)
			return
		}
		if r.in.Record != nil {
			ended := r.state[i]
			ended.Status, ended.Error, ended.FinishedAt = buildit.StageFailed, reason, workflow.Now(ctx)
			r.retired = append(r.retired, ended)
			r.state[i].StartedAt = workflow.Now(ctx)
		}
		r.logger.Info("stage failed; retrying", "stage", st.ID, "attempt", attempt, "reason", reason)
	}
}

// restoreFor lists the artifacts stage i restores: those of every stage
// it needs, directly or not, in plan order (so that a stage's files
// overwrite those of the stages before it); a reused stage's are those of
// the run this one reruns (ServerInput.ReuseArtifacts).
func (r *run) restoreFor(i int) []buildit.Artifact {
	ancestor := make([]bool, len(r.steps))
	var visit func(j int)
	visit = func(j int) {
		for _, need := range r.steps[j].Needs {
			k := r.index[need]
			if !ancestor[k] {
				ancestor[k] = true
				visit(k)
			}
		}
	}
	visit(i)
	var out []buildit.Artifact
	for j := range r.steps {
		if !ancestor[j] {
			continue
		}
		out = append(out, r.state[j].Artifacts...)
	}
	return out
}

// reusedArtifacts are the artifacts that reused stage i kept in the run
// this one reruns.
func (r *run) reusedArtifacts(i int) []buildit.Artifact {
	var out []buildit.Artifact
	for _, a := range r.in.ReuseArtifacts {
		if a.Stage == r.steps[i].ID {
			out = append(out, a)
		}
	}
	return out
}

// activityErrorText extracts the cause of an activity failure for people.
func activityErrorText(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "stage activity timed out (" + timeoutErr.TimeoutType().String() + ")"
	}
	return err.Error()
}

// runApproval waits for a decision on gate i, its timeout, or cancellation.
func (r *run) runApproval(ctx workflow.Context, i int) {
	st := r.steps[i]
	if r.autoApproved(st) {
		r.state[i].DecidedBy = "auto-approve"
		r.finishStage(ctx, i, buildit.StageSucceeded, "")
		return
	}
	r.logger.Info("waiting for approval", "stage", st.ID)
	tctx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	sel := workflow.NewSelector(ctx)
	decided := false
	var d approvalDecision
	sel.AddReceive(r.decisions[i], func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, &d)
		decided = true
	})
	timedOut := false
	if st.Approval != nil && st.Approval.Timeout > 0 {
		sel.AddFuture(workflow.NewTimer(tctx, st.Approval.Timeout), func(f workflow.Future) {
			timedOut = f.Get(tctx, nil) == nil
		})
	}
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	sel.Select(ctx)
	switch {
	case decided:
		r.state[i].DecidedBy = d.by
		r.state[i].Reason = d.reason
		if d.approve {
			r.finishStage(ctx, i, buildit.StageSucceeded, "")
		} else {
			msg := "rejected"
			if d.by != "" {
				msg += " by " + d.by
			}
			if d.reason != "" {
				msg += ": " + d.reason
			}
			r.finishStage(ctx, i, buildit.StageFailed, msg)
		}
	case timedOut:
		r.finishStage(ctx, i, buildit.StageFailed, fmt.Sprintf("no decision within %s", st.Approval.Timeout))
	default:
		r.finishStage(ctx, i, buildit.StageCancelled, "run cancelled")
	}
}

func (r *run) autoApproved(st pipeline.Step) bool {
	for _, a := range r.in.AutoApprove {
		if a == "*" || a == st.ID || a == st.Stage {
			return true
		}
	}
	return false
}

// refreshStatus derives the run's status while it goes: waiting when every
// stage that is in progress is an approval gate.
func (r *run) refreshStatus(ctx workflow.Context) {
	if r.running == 0 {
		return
	}
	status := buildit.RunWaiting
	for _, s := range r.state {
		if s.Status == buildit.StageRunning {
			status = buildit.RunRunning
			break
		}
	}
	r.setStatus(ctx, status)
}

func (r *run) setStatus(ctx workflow.Context, status buildit.RunStatus) {
	if r.status == status {
		return
	}
	r.status = status
	if r.in.SearchAttributes {
		if err := workflow.UpsertTypedSearchAttributes(ctx, SearchStatus.ValueSet(string(status))); err != nil {
			r.logger.Info("upsert status search attribute failed", "error", err)
		}
	}
}
