// Package worker registers BuildIt's workflows and activities on a Temporal
// worker. It holds no logic: cmd/ and cli/ choose the executors and sinks.
package worker

import (
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/workflows"
)

// Options configure a worker.
type Options struct {
	// TaskQueue defaults to workflows.DefaultTaskQueue.
	TaskQueue string
	// MaxConcurrentStages bounds the stage activities run at once; zero
	// leaves the SDK's default.
	MaxConcurrentStages int
}

// HeartbeatThrottle is the longest the SDK holds back a stage's heartbeat.
// Cancellation reaches a running stage on a heartbeat's reply, so this
// bounds how long a cancel takes to reach the process or container.
const HeartbeatThrottle = time.Second

// EagerStages is how many stage activities one workflow task may ask the
// server to hand straight back to this worker.
const EagerStages = 16

// New returns a worker for c with PipelineRun and acts registered. The
// caller starts and stops it.
func New(c client.Client, acts *activities.Activities, opts Options) sdkworker.Worker {
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.DefaultTaskQueue
	}
	eager := EagerStages
	w := sdkworker.New(c, opts.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize: opts.MaxConcurrentStages,
		// A workflow task that starts a wave of stages gets them back in
		// its reply instead of through matching: a fan-out of 8 starts in
		// about 25 ms instead of 40 (the SDK's default reserves 3).
		MaxEagerActivityReservationsPerWorkflowTask: &eager,
		MaxHeartbeatThrottleInterval:                HeartbeatThrottle,
		DefaultHeartbeatThrottleInterval:            HeartbeatThrottle,
		// A stopping worker lets stages notice the cancel and clean up.
		WorkerStopTimeout: 10 * time.Second,
	})
	Register(w, acts)
	return w
}

// Register registers the workflows and acts on any registry (a worker, a
// test environment, a replayer).
func Register(r interface {
	RegisterWorkflowWithOptions(any, workflow.RegisterOptions)
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.PipelineRun, workflow.RegisterOptions{Name: workflows.PipelineRunWorkflow})
	r.RegisterWorkflowWithOptions(workflows.Deploy, workflow.RegisterOptions{Name: workflows.DeployWorkflow})
	if acts != nil {
		registerActivities(r, acts)
	}
}

// registerActivities registers every part of acts (made by
// activities.New) under the activity names workflows use, whatever part a
// method moved to: recorded histories name activities, not Go types.
func registerActivities(r interface {
	RegisterActivityWithOptions(any, activity.RegisterOptions)
}, acts *activities.Activities) {
	r.RegisterActivityWithOptions(acts.Stages.RunStage, activity.RegisterOptions{Name: workflows.RunStageActivity})
	r.RegisterActivityWithOptions(acts.Stages.RunStageLocal, activity.RegisterOptions{Name: workflows.RunStageLocalActivity})
	r.RegisterActivityWithOptions(acts.Server.RecordRun, activity.RegisterOptions{Name: workflows.RecordRunActivity})
	r.RegisterActivityWithOptions(acts.Server.PrepareWorkspace, activity.RegisterOptions{Name: workflows.PrepareWorkspaceActivity})
	r.RegisterActivityWithOptions(acts.Server.CleanupWorkspace, activity.RegisterOptions{Name: workflows.CleanupWorkspaceActivity})
	r.RegisterActivityWithOptions(acts.Server.AwaitTurn, activity.RegisterOptions{Name: workflows.AwaitTurnActivity})
	r.RegisterActivityWithOptions(acts.Deploys.DeployBegin, activity.RegisterOptions{Name: workflows.DeployBeginActivity})
	r.RegisterActivityWithOptions(acts.Deploys.DeployApply, activity.RegisterOptions{Name: workflows.DeployApplyActivity})
	r.RegisterActivityWithOptions(acts.Deploys.DeployWaitHealthy, activity.RegisterOptions{Name: workflows.DeployWaitHealthyActivity})
	r.RegisterActivityWithOptions(acts.Deploys.DeployFinish, activity.RegisterOptions{Name: workflows.DeployFinishActivity})
	if acts.Forges != nil {
		r.RegisterActivityWithOptions(acts.Forges.ReportStatus, activity.RegisterOptions{Name: workflows.ReportStatusActivity})
	}
}

// HostQueue names the task queue of one host's workspaces, beside the
// shared queue: runs whose workspace a worker prepared send their stages
// there (see activities.ServerMode.PrepareWorkspace).
func HostQueue(shared, hostID string) string {
	if shared == "" {
		shared = workflows.DefaultTaskQueue
	}
	return shared + "/host/" + hostID
}

// NewHost returns the worker that serves acts.Server.HostQueue: only activities,
// the stages and cleanups of workspaces on this host. It shares the stage
// limit's meaning with New's worker but counts separately.
func NewHost(c client.Client, acts *activities.Activities, opts Options) sdkworker.Worker {
	w := sdkworker.New(c, acts.Server.HostQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize: opts.MaxConcurrentStages,
		MaxHeartbeatThrottleInterval:       HeartbeatThrottle,
		DefaultHeartbeatThrottleInterval:   HeartbeatThrottle,
		WorkerStopTimeout:                  10 * time.Second,
		DisableWorkflowWorker:              true,
	})
	registerActivities(w, acts)
	return w
}
