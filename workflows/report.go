package workflows

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit"
)

// Commit statuses: a run with ServerInput.Report tells its repository's
// forge that it is pending once it runs, and how it ended once its record
// holds the result.

// versionCommitStatus marks histories of runs that may report commit
// statuses (ServerInput.Report).
const versionCommitStatus = "commit-status"

// The states of a commit status (forge.State*, which workflows does not
// import).
const (
	statusPending = "pending"
	statusSuccess = "success"
	statusFailure = "failure"
	statusError   = "error"
)

// Bounds of the status reports' retries: a forge that is down for less
// than ReportTimeout delays the report, a longer outage loses it (with a
// warning in the workflow's log); the run's result is not touched.
const (
	ReportTimeout     = time.Hour
	reportInterval    = 2 * time.Second
	reportMaxInterval = 5 * time.Minute
	// pendingGrace is how long a run that ended waits for a pending
	// report still under way before it gives that one up.
	pendingGrace = time.Minute
)

// maxDescription is the longest status description forges take (GitHub's
// limit is 140 characters).
const maxDescription = 140

// reporting is the state of the run's status reports.
type reporting struct {
	cancelPending workflow.CancelFunc
	pendingEnded  bool
}

// reportPending reports the pending status once the run runs (and its
// record says so), in a coroutine of its own: a slow forge never holds
// the stages back. reportFinal cancels it when the run ends first.
func (r *run) reportPending(ctx workflow.Context) {
	if r.in.Report == nil {
		return
	}
	pctx, cancel := workflow.WithCancel(ctx)
	r.reports.cancelPending = cancel
	workflow.Go(pctx, func(gctx workflow.Context) {
		defer func() { r.reports.pendingEnded = true }()
		if r.in.Record != nil {
			// The forge links to the run's page: let it say running.
			err := workflow.Await(gctx, func() bool { return r.recStatus != "" && r.recStatus != buildit.RunQueued })
			if err != nil {
				return
			}
		}
		desc := fmt.Sprintf("running %s", plural(len(r.steps), "stage"))
		if err := r.report(gctx, statusPending, desc); err != nil && gctx.Err() == nil {
			workflow.GetLogger(gctx).Warn("reporting the pending status to the forge failed", "error", err)
		}
	})
}

// reportFinal reports how the run ended, after the pending report (which
// it cancels if the forge still has not taken it pendingGrace after the
// end, a forge that is down), so that the forge gets the two in order and
// never pending last. The report retries through a
// forge's outage up to ReportTimeout, then gives up with a warning: the
// run's result stands whatever happens.
func (r *run) reportFinal(ctx workflow.Context, final RunState) {
	if r.in.Report == nil {
		return
	}
	if r.reports.cancelPending != nil {
		ended, _ := workflow.AwaitWithTimeout(ctx, pendingGrace, func() bool { return r.reports.pendingEnded })
		if !ended {
			r.reports.cancelPending()
			_ = workflow.Await(ctx, func() bool { return r.reports.pendingEnded })
		}
	}
	state, desc := r.finalStatus(ctx, final)
	if err := r.report(ctx, state, desc); err != nil {
		workflow.GetLogger(ctx).Warn("reporting the run's status to the forge failed; giving up", "state", state, "error", err)
	}
}

// finalStatus is the commit status of a run that ended as final.
func (r *run) finalStatus(ctx workflow.Context, final RunState) (state, desc string) {
	took := workflow.Now(ctx).Sub(workflow.GetInfo(ctx).WorkflowStartTime).Round(time.Second)
	switch {
	case final.Status == buildit.RunCancelled:
		return statusError, "the run was cancelled"
	case r.prepareErr != "":
		return statusError, "the workspace could not be prepared: " + r.prepareErr
	case final.Status == buildit.RunFailed:
		failed := r.failedStages()
		switch len(failed) {
		case 0:
			return statusFailure, "the run failed"
		case 1:
			return statusFailure, fmt.Sprintf("stage %s failed", failed[0])
		}
		return statusFailure, fmt.Sprintf("stages %s failed", strings.Join(failed, ", "))
	}
	passed := 0
	for _, s := range final.Stages {
		if s.Status == buildit.StageSucceeded {
			passed++
		}
	}
	return statusSuccess, fmt.Sprintf("%s passed in %s", plural(passed, "stage"), took)
}

// report posts one status with ReportStatusActivity, retried with backoff
// until the forge takes it, refuses it for good, or ReportTimeout passes.
func (r *run) report(ctx workflow.Context, state, desc string) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: ReportTimeout,
		// A cancelled pending report still in flight ends before the
		// final one is sent: the forge sees them in order.
		WaitForCancellation: true,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    reportInterval,
			BackoffCoefficient: 2,
			MaximumInterval:    reportMaxInterval,
		},
	})
	in := ReportStatusInput{StatusReport: *r.in.Report, State: state, Description: truncate(desc, maxDescription)}
	return workflow.ExecuteActivity(actx, ReportStatusActivity, in).Get(actx, nil)
}

// plural writes n with noun, in the plural unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// truncate cuts s to n characters, ending it with an ellipsis when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
