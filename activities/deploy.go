package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/deploy"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/workflows"
)

// BackendFor makes the deploy backend of a target (deploy/backends.For
// maps a target's kind to Fly.io or Kubernetes). ref names the run in
// server mode, nil locally; credential looks a credential up by name (the
// tenant's secret in server mode; a --secret value or an environment
// variable locally), and what it returns is masked in what the backend
// says.
type BackendFor func(ctx context.Context, target pipeline.Target, ref *buildit.RunRef, credential func(ctx context.Context, name string) (string, error)) (deploy.Backend, error)

// Deploys runs deploy stages through the backend of their target, and
// records their deployments in server mode. Its Shared must be set, as New
// does.
type Deploys struct {
	*Shared
	// Backends makes the backend of a target; nil refuses every deploy.
	Backends BackendFor
	// Recorder keeps deployments in the platform's database (server
	// mode); nil in a local run.
	Recorder DeployRecorder
}

// DeployRecorder keeps deployments in the platform's database (server
// mode): it looks up the tenant's targets, records a deploy stage's
// deployment once (with its revision and the healthy one before it, after
// checking the environment's protection rules) and how it ended.
type DeployRecorder interface {
	Target(ctx context.Context, ref buildit.RunRef, name string) (pipeline.Target, error)
	BeginDeploy(ctx context.Context, in workflows.DeployInput) (workflows.DeployBeginResult, error)
	FinishDeploy(ctx context.Context, out workflows.DeployOutcome) error
}

// DeployPoll is how often, at most, DeployWaitHealthy asks the target.
var DeployPoll = 2 * time.Second

// backend returns the Backend of a deploy's target (a tenant's target by
// name, in server mode, is looked up first) and the masker of the
// credentials it was given: what the backend says (errors, status
// messages) goes through it before it reaches a log or workflow history.
func (a *Deploys) backend(ctx context.Context, target pipeline.Target, ref *buildit.RunRef) (deploy.Backend, *masker, error) {
	if target.Kind == "" && ref != nil && a.Recorder != nil {
		t, err := a.Recorder.Target(ctx, *ref, target.Name)
		if err != nil {
			return nil, nil, err
		}
		target = t
	}
	if a.Backends == nil {
		return nil, nil, deploy.Configf("target %q: this worker has no deploy backends", target.Name)
	}
	given := map[string]string{}
	b, err := a.Backends(ctx, target, ref, func(ctx context.Context, name string) (string, error) {
		v, err := a.credential(ctx, ref, name)
		if err == nil {
			given[name] = v
		}
		return v, err
	})
	return b, newMasker(given), err
}

// credential is the secret named name: the tenant's in server mode; in a
// local run, a --secret value or else the environment variable.
func (a *Deploys) credential(ctx context.Context, ref *buildit.RunRef, name string) (string, error) {
	if a.Secrets != nil {
		values, err := a.Secrets.Secrets(ctx, ref, []string{name})
		if err != nil {
			return "", err
		}
		if v, ok := values[name]; ok {
			return v, nil
		}
	}
	if ref == nil {
		if v := os.Getenv(name); v != "" {
			return v, nil
		}
	}
	return "", deploy.Configf("the credential %s is not set (a tenant secret in server mode; an environment variable or --secret locally)", name)
}

// deployError turns a backend's error into the activity's: configuration
// errors are not retried, transient ones are, after their Retry-After. Its
// text goes through mask (the target's credential), as it enters history.
func deployError(err error, mask *masker) error {
	if err == nil {
		return nil
	}
	msg := mask.mask(err.Error())
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr):
		if msg != err.Error() {
			return temporal.NewApplicationErrorWithOptions(msg, appErr.Type(), temporal.ApplicationErrorOptions{NonRetryable: appErr.NonRetryable()})
		}
		return err
	case deploy.IsConfig(err):
		return temporal.NewNonRetryableApplicationError(msg, workflows.ErrTypeDeployConfig, nil)
	}
	if d, ok := deploy.RetryAfter(err); ok {
		return temporal.NewApplicationErrorWithOptions(msg, "DeployTransient", temporal.ApplicationErrorOptions{NextRetryDelay: d})
	}
	return mask.maskError(err)
}

// deployLog writes a line about a deploy to its stage's log, through mask
// (the target's credential: the line may quote what the target said).
func (a *Deploys) deployLog(ctx context.Context, mask *masker, ref *buildit.RunRef, stageID, format string, args ...any) {
	line := mask.mask("buildit: " + fmt.Sprintf(format, args...))
	if ref != nil && ref.RunID == "" {
		return // a rollback from the API: no run, no log
	}
	if ref != nil && a.Logs != nil {
		log, err := a.Logs.OpenLog(ctx, *ref, stageID, 1)
		if err != nil {
			a.logger().Warn("deploy log not stored", "stage", stageID, "error", err)
			return
		}
		log.WriteLine(stageID, executor.Stdout, line)
		if err := log.Close(ctx); err != nil {
			a.logger().Warn("deploy log not stored", "stage", stageID, "error", err)
		}
		return
	}
	if a.Sink != nil {
		a.Sink.WriteLine(stageID, executor.Stdout, line)
	}
}

// DeployBegin picks the deploy's revision (one past what the target runs)
// and remembers the running revision to roll back to.
func (a *Deploys) DeployBegin(ctx context.Context, in workflows.DeployInput) (workflows.DeployBeginResult, error) {
	if in.Record != nil && a.Recorder != nil {
		res, err := a.Recorder.BeginDeploy(ctx, in)
		if err != nil {
			return res, deployError(err, nil)
		}
		if res.Previous != nil {
			a.deployLog(ctx, nil, in.Record, in.StageID, "deploying %s as revision %d to %s (revision %d, %s, is live)", in.Spec.Image, res.Revision, in.Target.Name, res.Previous.Revision, res.Previous.Image)
		} else {
			a.deployLog(ctx, nil, in.Record, in.StageID, "deploying %s as revision %d to %s", in.Spec.Image, res.Revision, in.Target.Name)
		}
		return res, nil
	}
	b, mask, err := a.backend(ctx, in.Target, in.Record)
	if err != nil {
		return workflows.DeployBeginResult{}, deployError(err, mask)
	}
	cur, err := b.Current(ctx, in.Spec.Service)
	if err != nil {
		return workflows.DeployBeginResult{}, deployError(err, mask)
	}
	res := workflows.DeployBeginResult{Revision: 1}
	if cur != nil {
		res.Revision = cur.Revision + 1
		res.Previous = &buildit.DeploySpec{Service: cur.Service, Revision: cur.Revision, Image: cur.Image}
		a.deployLog(ctx, mask, in.Record, in.StageID, "deploying %s as revision %d to %s (revision %d, %s, is live)", in.Spec.Image, res.Revision, in.Target.Name, cur.Revision, cur.Image)
	} else {
		a.deployLog(ctx, mask, in.Record, in.StageID, "deploying %s as revision %d to %s", in.Spec.Image, res.Revision, in.Target.Name)
	}
	return res, nil
}

// DeployApply applies a revision, heartbeating while the backend rolls it
// out (a rolling update waits for each instance).
func (a *Deploys) DeployApply(ctx context.Context, t workflows.DeployTarget) error {
	b, mask, err := a.backend(ctx, t.Target, t.Record)
	if err != nil {
		return deployError(err, mask)
	}
	stop := a.heartbeatLoop(ctx, func() heartbeat { return heartbeat{} })
	defer stop()
	if err := b.Apply(ctx, t.Spec); err != nil {
		return deployError(err, mask)
	}
	a.deployLog(ctx, mask, t.Record, t.StageID, "revision %d (%s) applied", t.Spec.Revision, t.Spec.Image)
	return nil
}

// waitState is DeployWaitHealthy's heartbeat: when the wait began, so that
// a retried attempt keeps the same deadline.
type waitState struct {
	Since time.Time `json:"since"`
}

// DeployWaitHealthy waits until the revision is healthy; it fails, not to
// be retried, when the target says the rollout failed or when the
// health-check timeout (counted from the first attempt) passes.
func (a *Deploys) DeployWaitHealthy(ctx context.Context, t workflows.DeployTarget) error {
	b, mask, err := a.backend(ctx, t.Target, t.Record)
	if err != nil {
		return deployError(err, mask)
	}
	st := waitState{Since: time.Now()}
	if activity.HasHeartbeatDetails(ctx) {
		var prev waitState
		if activity.GetHeartbeatDetails(ctx, &prev) == nil && !prev.Since.IsZero() {
			st = prev
		}
	}
	timeout := t.HealthTimeout
	if timeout <= 0 {
		timeout = workflows.DefaultHealthTimeout
	}
	spec := t.Spec
	var last string
	// Ask soon at first (a small service is healthy in a second or two),
	// then every DeployPoll.
	delay := 200 * time.Millisecond
	for {
		activity.RecordHeartbeat(ctx, st)
		s, err := b.Status(ctx, spec)
		switch {
		case err != nil && deploy.IsConfig(err):
			return deployError(err, mask)
		case err != nil:
			last = mask.mask(err.Error())
		case s.State == buildit.RolloutHealthy:
			a.deployLog(ctx, mask, t.Record, t.StageID, "revision %d is healthy: %s", t.Spec.Revision, s.Message)
			return nil
		case s.State == buildit.RolloutFailed:
			return temporal.NewNonRetryableApplicationError(mask.mask(fmt.Sprintf("revision %d failed: %s", t.Spec.Revision, s.Message)), workflows.ErrTypeUnhealthy, nil)
		default:
			last = mask.mask(s.Message)
		}
		if time.Since(st.Since) > timeout {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("revision %d was not healthy within %s: %s", t.Spec.Revision, timeout, last), workflows.ErrTypeUnhealthy, nil)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, DeployPoll)
	}
}

// DeployFinish records how a deploy ended: in its stage's log (and, in
// server mode, in the deployments table — not yet).
func (a *Deploys) DeployFinish(ctx context.Context, out workflows.DeployOutcome) error {
	// The message is made of the steps' errors, masked already.
	a.deployLog(ctx, nil, out.Record, out.StageID, "deploy %s: %s", out.Status, out.Message)
	if out.Record != nil && a.Recorder != nil {
		return deployError(a.Recorder.FinishDeploy(ctx, out), nil)
	}
	return nil
}
