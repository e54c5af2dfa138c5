package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/pipeline"
)

// Names of the deploy workflow and its activities.
const (
	DeployWorkflow = "Deploy"
	// DeployBeginActivity picks the deploy's revision and the revision
	// to roll back to (and, in server mode, records the deployment).
	DeployBeginActivity = "DeployBegin"
	// DeployApplyActivity applies a revision to the target.
	DeployApplyActivity = "DeployApply"
	// DeployWaitHealthyActivity waits, heartbeating, until the revision
	// is healthy, has failed, or the health-check timeout passes.
	DeployWaitHealthyActivity = "DeployWaitHealthy"
	// DeployFinishActivity records how the deploy ended (server mode).
	DeployFinishActivity = "DeployFinish"
)

// Error types of deploy activities.
const (
	// ErrTypeDeployConfig: bad settings or refused credentials; not
	// retried, the message says what to fix.
	ErrTypeDeployConfig = "DeployConfig"
	// ErrTypeUnhealthy: the revision did not become healthy.
	ErrTypeUnhealthy = "DeployUnhealthy"
)

// DeployQueuedSignal tells a running Deploy that another deploy of its
// service to its environment waits for it (a DeployWaiter). When it ends it
// tells every waiter but the newest that it is superseded (the signal
// SupersededSignal(stage) to the waiter's run).
const DeployQueuedSignal = "deploy-queued"

// DeployWaiter is a deploy stage waiting for a running Deploy.
type DeployWaiter struct {
	WorkflowID string    `json:"workflow_id"`
	StageID    string    `json:"stage_id"`
	Since      time.Time `json:"since"`
}

// SupersededSignal is the signal a run's deploy stage gets when a newer
// deploy queued behind the same running one supersedes it.
func SupersededSignal(stageID string) string { return "deploy-superseded/" + stageID }

// DefaultHealthTimeout bounds a deploy's wait for health when the stage
// sets none.
const DefaultHealthTimeout = 5 * time.Minute

// DeployInput starts a Deploy.
type DeployInput struct {
	// Target is where to deploy (its kind and settings; the credentials
	// are resolved by the activities from the secret it names).
	Target        pipeline.Target    `json:"target"`
	Spec          buildit.DeploySpec `json:"spec"`
	HealthTimeout time.Duration      `json:"health_timeout,omitempty"`
	// Record names the run in the platform's database (server mode).
	Record  *buildit.RunRef `json:"record,omitempty"`
	StageID string          `json:"stage_id"`
	// Branch is the run's branch and ApprovedBy who approved an approval
	// stage the deploy needs (directly or not): an environment's
	// protection rules check them.
	Branch     string `json:"branch,omitempty"`
	ApprovedBy string `json:"approved_by,omitempty"`
	// HeartbeatTimeout bounds the silence of the apply and health-wait
	// activities before their worker is presumed lost; zero means
	// DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`
	// Timeout is the deploy stage's timeout: it bounds the deploy (begin,
	// apply and the health wait). When it passes, the workflow cancels
	// what runs and the deploy fails and rolls back as for any failure;
	// the rollback gets rollbackTimeout more. Zero (a rollback started
	// from the API, deploys started before this field) leaves only the
	// steps' own bounds.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// DeployBeginResult is the revision to deploy and the one to go back to.
type DeployBeginResult struct {
	Revision int `json:"revision"`
	// Previous is the healthy revision the service runs, if any.
	Previous *buildit.DeploySpec `json:"previous,omitempty"`
	// DeploymentID is the deployment's row (server mode).
	DeploymentID string `json:"deployment_id,omitempty"`
}

// DeployTarget is a revision to apply or watch on a target.
type DeployTarget struct {
	StageID       string             `json:"stage_id"`
	Target        pipeline.Target    `json:"target"`
	Spec          buildit.DeploySpec `json:"spec"`
	Record        *buildit.RunRef    `json:"record,omitempty"`
	HealthTimeout time.Duration      `json:"health_timeout,omitempty"`
}

// DeployOutcome is how a deploy ended.
type DeployOutcome struct {
	StageID      string          `json:"stage_id"`
	Record       *buildit.RunRef `json:"record,omitempty"`
	DeploymentID string          `json:"deployment_id,omitempty"`
	// Status: succeeded, failed, rolled_back or cancelled.
	Status       buildit.DeployStatus `json:"status"`
	Revision     int                  `json:"revision"`
	RolledBackTo int                  `json:"rolled_back_to,omitempty"`
	Message      string               `json:"message,omitempty"`
}

// Deploy ships one revision of a service to a target: begin (pick the
// revision, remember the healthy one) → apply → wait for health → finish.
// When the new revision fails (it does not become healthy, or the target
// refuses it after a change began) or the deploy is cancelled, it applies
// the previous healthy revision again and waits for it, so the service is
// left on a healthy revision. Every step is idempotent (the backends mark
// what they apply with the revision), so a retried step or a worker lost in
// the middle of a rollout resumes it rather than starting again.
func Deploy(ctx workflow.Context, in DeployInput) (*DeployOutcome, error) {
	logger := workflow.GetLogger(ctx)
	if in.HealthTimeout <= 0 {
		in.HealthTimeout = DefaultHealthTimeout
	}
	var timeout time.Duration
	if in.Timeout > 0 && workflow.GetVersion(ctx, versionDeployTimeout, workflow.DefaultVersion, 1) == 1 {
		timeout = in.Timeout
	}
	started := workflow.Now(ctx)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	queued := workflow.GetSignalChannel(ctx, DeployQueuedSignal)
	shortOptions := workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         deployRetry(0),
	}
	short := workflow.WithActivityOptions(dctx, shortOptions)
	beginCtx := short
	if timeout > 0 {
		// Retries of begin (a database that is down) count too.
		shortOptions.ScheduleToCloseTimeout = timeout
		beginCtx = workflow.WithActivityOptions(dctx, shortOptions)
	}
	var begin DeployBeginResult
	if err := workflow.ExecuteActivity(beginCtx, DeployBeginActivity, in).Get(beginCtx, &begin); err != nil {
		var timeoutErr *temporal.TimeoutError
		if timeout > 0 && errors.As(err, &timeoutErr) {
			return nil, temporal.NewNonRetryableApplicationError(timedOutText(timeout), ErrTypeUnhealthy, nil)
		}
		return nil, err
	}
	spec := in.Spec
	spec.Revision = begin.Revision
	out := DeployOutcome{StageID: in.StageID, Record: in.Record, DeploymentID: begin.DeploymentID, Revision: spec.Revision}

	// Applying and waiting stop when the run is cancelled or the timeout
	// passes; the rollback and the record that follow do not.
	var err error
	timedOut := false
	if timeout > 0 {
		timedOut, err = within(ctx, timeout-workflow.Now(ctx).Sub(started), func(c workflow.Context) error { return applyAndWait(c, in, spec) })
	} else {
		err = applyAndWait(ctx, in, spec)
	}
	switch {
	case err == nil && !timedOut:
		out.Status = buildit.DeploySucceeded
		out.Message = fmt.Sprintf("revision %d of %s is healthy", spec.Revision, spec.Service)
	default:
		cancelled := ctx.Err() != nil
		out.Status = buildit.DeployFailed
		switch {
		case cancelled:
			out.Status, out.Message = buildit.DeployCancelled, "the run was cancelled"
		case timedOut:
			out.Message = timedOutText(timeout)
		default:
			out.Message = failureText(err)
		}
		// Going back is applying the previous revision again: where the
		// failure changed nothing, that changes nothing either.
		if begin.Previous != nil {
			prev := spec
			prev.Revision, prev.Image = begin.Previous.Revision, begin.Previous.Image
			logger.Info("deploy failed; rolling back", "revision", spec.Revision, "to", prev.Revision, "error", out.Message)
			var rerr error
			if timeout > 0 {
				bound := rollbackTimeout(timeout, in.HealthTimeout)
				var rtimedOut bool
				if rtimedOut, rerr = within(dctx, bound, func(c workflow.Context) error { return applyAndWait(c, in, prev) }); rtimedOut {
					rerr = errors.New(timedOutText(bound))
				}
			} else {
				rerr = applyAndWait(dctx, in, prev)
			}
			if rerr != nil {
				out.Message += fmt.Sprintf("; rolling back to revision %d failed too: %s", prev.Revision, failureText(rerr))
			} else {
				out.RolledBackTo = prev.Revision
				if !cancelled {
					out.Status = buildit.DeployRolledBack
				}
				out.Message += fmt.Sprintf("; rolled back to revision %d", prev.Revision)
			}
		}
	}
	if ferr := workflow.ExecuteActivity(short, DeployFinishActivity, out).Get(short, nil); ferr != nil {
		logger.Info("recording the deploy's end failed", "error", ferr)
	}
	supersede(dctx, queued)
	switch out.Status {
	case buildit.DeploySucceeded:
		return &out, nil
	case buildit.DeployCancelled:
		return nil, temporal.NewCanceledError(out)
	}
	return nil, temporal.NewNonRetryableApplicationError(out.Message, ErrTypeUnhealthy, nil, out)
}

// versionDeployTimeout marks histories of deploys bounded by their stage's
// timeout (a timer that cancels the apply and the health wait); before, only
// the steps' own timeouts bounded a deploy.
const versionDeployTimeout = "deploy-timeout"

// rollbackTimeout bounds the rollback of a deploy that has a timeout: the
// longer of that timeout and the health-check timeout, so that the previous
// revision gets at least the time a health check is given. A deploy with
// timeout T thus ends within T plus this bound (plus recording its end).
func rollbackTimeout(timeout, health time.Duration) time.Duration {
	return max(timeout, health)
}

func timedOutText(d time.Duration) string { return fmt.Sprintf("timed out after %s", d) }

// within runs fn and cancels its context when d passes (at once when d is
// not positive); timedOut says that it did. fn's activities wait for their
// cancellation, so once within returns nothing fn started runs any more.
// A cancel of ctx reaches fn as usual and is not a timeout.
func within(ctx workflow.Context, d time.Duration, fn func(workflow.Context) error) (timedOut bool, err error) {
	if d <= 0 {
		return true, nil
	}
	fctx, cancelFn := workflow.WithCancel(ctx)
	defer cancelFn()
	done, settle := workflow.NewFuture(fctx)
	workflow.Go(fctx, func(c workflow.Context) { settle.Set(nil, fn(c)) })
	tctx, stopTimer := workflow.WithCancel(ctx)
	defer stopTimer()
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(done, func(workflow.Future) {})
	sel.AddFuture(workflow.NewTimer(tctx, d), func(f workflow.Future) {
		if f.Get(tctx, nil) == nil {
			timedOut = true
			cancelFn()
		}
	})
	for !done.IsReady() {
		sel.Select(ctx)
	}
	return timedOut, done.Get(ctx, nil)
}

// supersede tells the deploys that queued behind this one, all but the
// newest, that they are superseded; the newest starts next.
func supersede(ctx workflow.Context, queued workflow.ReceiveChannel) {
	var waiters []DeployWaiter
	for {
		var w DeployWaiter
		if !queued.ReceiveAsync(&w) {
			break
		}
		known := false
		for i := range waiters {
			if waiters[i].WorkflowID == w.WorkflowID && waiters[i].StageID == w.StageID {
				known = true
			}
		}
		if !known {
			waiters = append(waiters, w)
		}
	}
	if len(waiters) < 2 {
		return
	}
	newest := 0
	for i, w := range waiters {
		if w.Since.After(waiters[newest].Since) || w.Since.Equal(waiters[newest].Since) {
			newest = i
		}
	}
	for i, w := range waiters {
		if i == newest {
			continue
		}
		err := workflow.SignalExternalWorkflow(ctx, w.WorkflowID, "", SupersededSignal(w.StageID), waiters[newest].WorkflowID).Get(ctx, nil)
		if err != nil {
			workflow.GetLogger(ctx).Info("telling a superseded deploy failed", "run", w.WorkflowID, "error", err)
		}
	}
}

func failureText(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "the deploy step timed out (" + timeoutErr.TimeoutType().String() + ")"
	}
	return err.Error()
}

// deployRetry retries transient failures with backoff (the activity may
// set the next delay from a Retry-After) and never configuration errors.
func deployRetry(maxAttempts int32) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		MaximumAttempts:        maxAttempts,
		NonRetryableErrorTypes: []string{ErrTypeDeployConfig, ErrTypeUnhealthy},
	}
}

// applyAndWait applies spec and waits until it is healthy.
func applyAndWait(ctx workflow.Context, in DeployInput, spec buildit.DeploySpec) error {
	t := DeployTarget{StageID: in.StageID, Target: in.Target, Spec: spec, Record: in.Record, HealthTimeout: in.HealthTimeout}
	hb := in.HeartbeatTimeout
	if hb <= 0 {
		hb = DefaultHeartbeatTimeout
	}
	// A rolling apply waits for each instance in turn: give it the health
	// timeout per instance, bounded overall, with heartbeats.
	apply := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    in.HealthTimeout*time.Duration(max(spec.Replicas, 1)) + time.Minute,
		ScheduleToCloseTimeout: in.HealthTimeout*time.Duration(max(spec.Replicas, 1))*2 + 10*time.Minute,
		HeartbeatTimeout:       hb,
		WaitForCancellation:    true,
		RetryPolicy:            deployRetry(0),
	})
	if err := workflow.ExecuteActivity(apply, DeployApplyActivity, t).Get(apply, nil); err != nil {
		return err
	}
	wait := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// The activity ends the wait itself at the health timeout, counted
		// from its first attempt; this catches a lost activity.
		StartToCloseTimeout: in.HealthTimeout + time.Minute,
		HeartbeatTimeout:    hb,
		WaitForCancellation: true,
		RetryPolicy:         deployRetry(0),
	})
	return workflow.ExecuteActivity(wait, DeployWaitHealthyActivity, t).Get(wait, nil)
}

// deployRetryWait is how long a deploy stage waits before trying again to
// start its Deploy while another holds the ID.
const deployRetryWait = 2 * time.Second

// versionDeployStages marks histories of runs whose deploy stages start a
// Deploy child workflow (before, a deploy stage failed at once).
const versionDeployStages = "deploy-stages"

// DeployWorkflowID is the ID of the deploys of a service to an environment:
// one at a time per tenant, environment and service.
func DeployWorkflowID(tenant, environment, service string) string {
	if environment == "" {
		environment = "default"
	}
	return "deploy/" + tenant + "/" + environment + "/" + service
}

// NoSecretsDeployError is why a deploy stage of a run without the tenant's
// secrets (a pull request from a fork) fails without deploying.
const NoSecretsDeployError = "deploys are not run for a pull request from a fork: they use the tenant's credentials, which it does not get"

// runDeploy runs deploy stage i as a Deploy child workflow. Another deploy
// of the same service to the same environment holds the workflow ID while
// it runs: this one waits its turn.
func (r *run) runDeploy(ctx workflow.Context, i int) {
	st := r.steps[i]
	d := st.Deploy
	if d == nil {
		r.finishStage(ctx, i, buildit.StageFailed, "deploy stage without its settings")
		return
	}
	if r.in.NoSecrets {
		// A deploy uses the tenant's target credentials: a pull request
		// from a fork gets none (ServerInput.NoSecrets). Only runs that
		// have NoSecrets take this branch, and none did before it was.
		r.finishStage(ctx, i, buildit.StageFailed, NoSecretsDeployError)
		return
	}
	target, ok := r.in.Plan.Targets[d.Target]
	if !ok {
		if r.in.Record == nil {
			r.finishStage(ctx, i, buildit.StageFailed, fmt.Sprintf("no target %q in the pipeline", d.Target))
			return
		}
		// Server mode: the tenant's targets are looked up by name.
		target = pipeline.Target{Name: d.Target}
	}
	vars := StageInput{
		RunID: r.in.RunID, Pipeline: r.in.Plan.Pipeline, Step: st, Attempt: 1,
		Trigger: r.in.Trigger, Env: r.in.Env,
	}.Vars()
	spec := buildit.DeploySpec{
		Service: st.Stage, Environment: d.Environment, Image: expandVars(d.Image, vars), Replicas: d.Replicas, Port: d.Port,
		Strategy: d.Strategy, Labels: map[string]string{"pipeline": r.in.Plan.Pipeline, "run": r.in.RunID, "stage": st.ID},
	}
	if len(d.Env) > 0 {
		spec.Env = make(map[string]string, len(d.Env))
		for k, v := range d.Env {
			spec.Env[k] = expandVars(v, vars)
		}
	}
	// The stage's timeout (its own, the pipeline's default or 1h) bounds
	// the deploy as it bounds a command stage's attempt.
	in := DeployInput{Target: target, Record: r.in.Record, StageID: st.ID, Branch: r.in.Branch, ApprovedBy: r.approvedBefore(i),
		HeartbeatTimeout: r.in.HeartbeatTimeout, Timeout: st.Timeout}
	if hc := d.HealthCheck; hc != nil {
		spec.HealthPath, in.HealthTimeout = hc.Path, hc.Timeout
	}
	if res := st.Resources; res != nil {
		spec.CPU, spec.Memory = res.CPU, res.Memory
	}
	in.Spec = spec
	tenant := "local"
	if r.in.Record != nil {
		tenant = r.in.Record.TenantID
	}
	r.state[i].Attempt = 1
	childID := DeployWorkflowID(tenant, d.Environment, st.Stage)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:          childID,
		WaitForCancellation: true,
		// A run that ends without waiting (terminated, timed out) still
		// asks its deploy to stop, which rolls back.
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
	})
	var queuedSince time.Time
	superseded := workflow.GetSignalChannel(ctx, SupersededSignal(st.ID))
	for {
		var out DeployOutcome
		err := workflow.ExecuteChildWorkflow(cctx, DeployWorkflow, in).Get(cctx, &out)
		var busy *temporal.ChildWorkflowExecutionAlreadyStartedError
		if errors.As(err, &busy) && ctx.Err() == nil {
			// Another deploy of this service holds the ID: say that this
			// one waits (a newer one queued later supersedes it), and try
			// again in a while.
			if queuedSince.IsZero() {
				queuedSince = workflow.Now(ctx)
				r.logger.Info("deploy waits for another deploy of the service", "stage", st.ID, "deploy", childID)
			}
			w := DeployWaiter{WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, StageID: st.ID, Since: queuedSince}
			_ = workflow.SignalExternalWorkflow(ctx, childID, "", DeployQueuedSignal, w).Get(ctx, nil)
			var by string
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(superseded, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &by) })
			sel.AddFuture(workflow.NewTimer(ctx, deployRetryWait), func(workflow.Future) {})
			sel.Select(ctx)
			if by == "" {
				superseded.ReceiveAsync(&by) // it came with the timer
			}
			if by != "" {
				r.finishStage(ctx, i, buildit.StageSkipped, "superseded by a newer deploy of "+st.Stage+" (run "+by+")")
				return
			}
			if ctx.Err() == nil {
				continue
			}
		}
		switch {
		case ctx.Err() != nil:
			reason := "cancelled: an earlier stage failed"
			if r.cancelled {
				reason = "run cancelled"
			}
			r.finishStage(ctx, i, buildit.StageCancelled, reason)
		case err != nil:
			r.finishStage(ctx, i, buildit.StageFailed, failureText(err))
		default:
			r.finishStage(ctx, i, buildit.StageSucceeded, "")
		}
		return
	}
}

// approvedBy names who approved an approval stage that stage i needs,
// directly or through others ("" when none did).
func (r *run) approvedBefore(i int) string {
	seen := map[int]bool{}
	queue := []int{i}
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		for _, need := range r.steps[j].Needs {
			k := r.index[need]
			if seen[k] {
				continue
			}
			seen[k] = true
			if r.steps[k].Kind == pipeline.KindApproval && r.state[k].Status == buildit.StageSucceeded && r.state[k].DecidedBy != "" {
				return r.state[k].DecidedBy
			}
			queue = append(queue, k)
		}
	}
	return ""
}

// expandVars replaces ${NAME} and $NAME with vars' values ("" when unset).
func expandVars(s string, vars map[string]string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b = append(b, s[i])
			continue
		}
		var name string
		var next int
		if s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				b = append(b, s[i])
				continue
			}
			name, next = s[i+2:i+2+end], i+3+end
		} else {
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || j > i+1 && s[j] >= '0' && s[j] <= '9') {
				j++
			}
			if j == i+1 {
				b = append(b, s[i])
				continue
			}
			name, next = s[i+1:j], j
		}
		b = append(b, vars[name]...)
		i = next - 1
	}
	return string(b)
}
