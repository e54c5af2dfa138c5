// Package workflows holds BuildIt's Temporal workflows. PipelineRun executes
// a pipeline's plan: it starts each stage as soon as its needs are met, fails
// fast, waits durably at approval gates, and answers a query with the live
// state of every stage.
//
// Workflow code here is deterministic: no wall clock, randomness, goroutines,
// map iteration for order or I/O. It imports no Docker, Kubernetes or
// Postgres package; activities are referred to by name.
package workflows

import (
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/pipeline"
)

// Names shared by workflows, activities, workers and clients.
const (
	// PipelineRunWorkflow is the registered name of PipelineRun.
	PipelineRunWorkflow = "PipelineRun"
	// RunStageActivity runs one attempt of one command stage.
	RunStageActivity = "RunStage"
	// RunStageLocalActivity starts a host stage as a local activity and
	// waits for it up to StageInput.LocalBudget (see
	// PipelineRunInput.LocalFastPath).
	RunStageLocalActivity = "RunStageLocal"
	// StateQuery returns the run's RunState.
	StateQuery = "state"
	// ApproveUpdate and RejectUpdate decide an approval gate; both take an
	// ApprovalInput and return the gate's StageState.
	ApproveUpdate = "approve"
	RejectUpdate  = "reject"
	// DefaultTaskQueue is the task queue workers poll unless told otherwise.
	DefaultTaskQueue = "buildit"

	// RecordRunActivity writes a RunRecord to the platform's database
	// (server mode).
	RecordRunActivity = "RecordRun"
	// PrepareWorkspaceActivity makes a run's workspace on some worker and
	// answers with the task queue of that worker's host.
	PrepareWorkspaceActivity = "PrepareWorkspace"
	// CleanupWorkspaceActivity removes a prepared workspace.
	CleanupWorkspaceActivity = "CleanupWorkspace"
	// AwaitTurnActivity waits until no earlier run of the run's
	// concurrency group is in progress.
	AwaitTurnActivity = "AwaitTurn"
	// ReportStatusActivity posts a run's status to its repository's forge
	// (ServerInput.Report).
	ReportStatusActivity = "ReportStatus"
)

// ServerTaskQueue is the task queue of the workflows and activities that
// buildit server (and buildit dev) runs itself, beside the workers' queue
// taskQueue: what webhooks and schedules start.
func ServerTaskQueue(taskQueue string) string { return taskQueue + "-server" }

// Search attributes BuildIt sets on runs (all Keyword).
var (
	SearchPipeline = temporal.NewSearchAttributeKeyKeyword("BuilditPipeline")
	SearchTenant   = temporal.NewSearchAttributeKeyKeyword("BuilditTenant")
	SearchStatus   = temporal.NewSearchAttributeKeyKeyword("BuilditStatus")
	SearchTrigger  = temporal.NewSearchAttributeKeyKeyword("BuilditTrigger")
	SearchActor    = temporal.NewSearchAttributeKeyKeyword("BuilditActor")
)

// SearchAttributeNames are the names of the search attributes above, which
// a namespace must have registered (as Keyword) for runs to carry them.
var SearchAttributeNames = []string{
	SearchPipeline.GetName(), SearchTenant.GetName(), SearchStatus.GetName(),
	SearchTrigger.GetName(), SearchActor.GetName(),
}

// PipelineRunInput starts a run: what every run has, what the local fast
// path adds (buildit run) and what server mode adds. The parts are
// embedded, so that the JSON of an input (and of the histories holding
// one) is that of a single flat object, as it always was.
type PipelineRunInput struct {
	RunInput
	LocalInput
	ServerInput
}

// RunInput is what every run has: its plan, workspace, trigger and
// settings.
type RunInput struct {
	// RunID names what the run creates (containers, networks); it defaults
	// to the workflow ID.
	RunID string        `json:"run_id,omitempty"`
	Plan  pipeline.Plan `json:"plan"`
	// Workspace is the folder every stage shares.
	Workspace string `json:"workspace"`
	// Trigger describes what started the run, for `when` and BUILDIT_* env;
	// embedded, so its fields stay at the top level of the input's JSON.
	buildit.Trigger
	// Env overrides the plan's environment for every stage.
	Env map[string]string `json:"env,omitempty"`
	// AutoApprove lists approval stages (by stage name or step ID) that are
	// approved without waiting; "*" approves all.
	AutoApprove []string `json:"auto_approve,omitempty"`
	// SearchAttributes enables upserting BuilditStatus as the run goes; the
	// server must have the attribute registered.
	SearchAttributes bool `json:"search_attributes,omitempty"`
	// HeartbeatTimeout bounds the silence of a stage activity before its
	// worker is presumed dead; zero means DefaultHeartbeatTimeout.
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`
}

// LocalInput is what a run whose worker is in the same process (buildit
// run) adds: the local fast path.
type LocalInput struct {
	// LocalFastPath, when set, starts host-shell stages as local
	// activities: a stage that ends within this budget costs no activity
	// task round trips; one still running then is handed to a regular,
	// heartbeating RunStage activity that attaches to it. It needs the
	// worker that ran the local activity to take the regular one too, so
	// only single-worker setups (buildit run) set it.
	LocalFastPath time.Duration `json:"local_fast_path,omitempty"`
	// ForceHost says that every stage runs on the host (--executor local),
	// so that every stage can take the local fast path.
	ForceHost bool `json:"force_host,omitempty"`
}

// ServerInput is what a run started through the API adds: its record in
// the platform's database, its prepared workspace, its concurrency group
// and the stages a rerun reuses.
type ServerInput struct {
	// Record, in server mode, names the run's row in the platform's
	// database: the run's status and every stage attempt are written there
	// by RecordRunActivity as they change, and stages store their logs
	// under it.
	Record *buildit.RunRef `json:"record,omitempty"`
	// Prepare, when set and Workspace is empty, has the run make its
	// workspace with PrepareWorkspaceActivity first and run its stages on
	// the task queue of the host that made it (server mode).
	Prepare *PrepareInput `json:"prepare,omitempty"`
	// HostQueueTimeout bounds how long a stage waits for the workspace's
	// host to take it before the run presumes that host gone and prepares
	// the workspace again elsewhere; zero means DefaultHostQueueTimeout.
	HostQueueTimeout time.Duration `json:"host_queue_timeout,omitempty"`
	// ConcurrencyGroup, with Record, makes the run wait (queued) until
	// the earlier runs of its group have ended.
	ConcurrencyGroup string `json:"concurrency_group,omitempty"`
	// Reuse lists stages (step IDs) that succeeded in the run this one
	// reruns: they are not run again but count as succeeded, with
	// ReusedFrom naming that run.
	Reuse      []string `json:"reuse,omitempty"`
	ReusedFrom string   `json:"reused_from,omitempty"`
	// ReuseArtifacts are the artifacts the reused stages kept in the run
	// this one reruns: the stages that need them restore them as if those
	// stages had run here.
	ReuseArtifacts []buildit.Artifact `json:"reuse_artifacts,omitempty"`
	// Report, when set, has the run report its status to the forge of a
	// connected repository: pending when it starts, and success, failure
	// or error when it ends, with ReportStatusActivity. A report that
	// fails (the forge is down) delays the end of the workflow, never the
	// run's recorded result, and never fails it.
	Report *StatusReport `json:"report,omitempty"`
	// NoSecrets withholds the tenant's secrets from every stage: a pull
	// request from a fork, unless its repository allows them. A stage's
	// `secrets` are then unset, and its log says so.
	NoSecrets bool `json:"no_secrets,omitempty"`
}

// StatusReport names where a run reports its status: a connected
// repository's commit. The forge token is never here: the activity reads
// it from the tenant's secrets.
type StatusReport struct {
	TenantID     string `json:"tenant_id"`
	RepositoryID string `json:"repository_id"`
	Commit       string `json:"commit"`
	// Context is the status's name on the forge: "buildit/<pipeline>".
	Context string `json:"context"`
	// TargetURL is the run's page, linked from the forge; "" for none.
	TargetURL string `json:"target_url,omitempty"`
}

// ReportStatusInput is one report: the run's state now.
type ReportStatusInput struct {
	StatusReport
	// State is pending, success, failure or error (forge.State*).
	State       string `json:"state"`
	Description string `json:"description,omitempty"`
}

// AwaitTurnInput names a run and its concurrency group.
type AwaitTurnInput struct {
	Ref   buildit.RunRef `json:"ref"`
	Group string         `json:"group"`
}

// DefaultHostQueueTimeout is PipelineRunInput.HostQueueTimeout's default.
const DefaultHostQueueTimeout = time.Minute

// MaxPrepares bounds how often a run prepares its workspace (the first time
// and after losing the host).
const MaxPrepares = 4

// RunRecord is what RecordRunActivity writes: the run's status and the
// stage attempts that changed since the previous record.
type RunRecord struct {
	Ref    buildit.RunRef    `json:"ref"`
	Status buildit.RunStatus `json:"status"`
	// Error says why the run failed or was cancelled.
	Error  string       `json:"error,omitempty"`
	Stages []StageState `json:"stages,omitempty"`
}

// PrepareInput asks for a run's workspace: a checkout of Repository at
// Commit (or Branch), or an empty folder when Repository is empty.
type PrepareInput struct {
	RunID      string `json:"run_id"`
	Repository string `json:"repository,omitempty"`
	Branch     string `json:"branch,omitempty"`
	Commit     string `json:"commit,omitempty"`
	// Auth, for a connected repository, names the tenant secret holding
	// the forge token the clone authenticates with (never the token).
	Auth *CloneAuth `json:"auth,omitempty"`
}

// CloneAuth is how a worker authenticates a clone: with the token in the
// tenant's secret, sent as an HTTP header git gets from its environment
// (never on a command line or in a URL).
type CloneAuth struct {
	TenantID string `json:"tenant_id"`
	// Forge is github, gitlab or gitea: it decides the header's form.
	Forge  string `json:"forge"`
	Secret string `json:"secret"`
}

// PrepareResult is a prepared workspace and the task queue that reaches
// the worker holding it ("" when any worker will do).
type PrepareResult struct {
	Workspace string `json:"workspace"`
	TaskQueue string `json:"task_queue,omitempty"`
}

// CleanupInput names a workspace to remove.
type CleanupInput struct {
	Workspace string `json:"workspace"`
}

// DefaultHeartbeatTimeout is how long a stage activity may go without a
// heartbeat: it bounds how late a dead worker is noticed and how late a
// cancellation reaches a running stage.
const DefaultHeartbeatTimeout = 5 * time.Second

// RunState is the live state of a run, returned by StateQuery and as the
// workflow's result.
type RunState struct {
	Pipeline string            `json:"pipeline"`
	Status   buildit.RunStatus `json:"status"`
	Stages   []StageState      `json:"stages"`
}

// StageState is the live state of one stage instance.
type StageState struct {
	ID         string              `json:"id"`
	Stage      string              `json:"stage"`
	Kind       string              `json:"kind"`
	Status     buildit.StageStatus `json:"status"`
	Attempt    int                 `json:"attempt,omitempty"`
	StartedAt  time.Time           `json:"started_at,omitzero"`
	FinishedAt time.Time           `json:"finished_at,omitzero"`
	ExitCode   *int                `json:"exit_code,omitempty"`
	// Error says why a stage failed, was skipped or was cancelled.
	Error        string `json:"error,omitempty"`
	AllowFailure bool   `json:"allow_failure,omitempty"`
	// DecidedBy and Reason record an approval gate's decision.
	DecidedBy string `json:"decided_by,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// ReusedFrom names the run whose result this stage took instead of
	// running (PipelineRunInput.Reuse).
	ReusedFrom string `json:"reused_from,omitempty"`
	// Artifacts are what the stage's last attempt kept (references, not
	// contents): what the stages after it restore and what a rerun that
	// reuses this stage passes on as ServerInput.ReuseArtifacts.
	Artifacts []buildit.Artifact `json:"artifacts,omitempty"`
}

// StageInput is one attempt of one command stage, for RunStageActivity.
type StageInput struct {
	RunID     string        `json:"run_id"`
	Pipeline  string        `json:"pipeline"`
	Step      pipeline.Step `json:"step"`
	Attempt   int           `json:"attempt"`
	Workspace string        `json:"workspace"`
	// Trigger is the run's (PipelineRunInput.Trigger); embedded, so its
	// fields stay at the top level of the input's JSON.
	buildit.Trigger
	// Env overrides the step's environment.
	Env map[string]string `json:"env,omitempty"`
	// LocalBudget is how long RunStageLocalActivity waits for the stage
	// before handing it over (StageResult.Pending).
	LocalBudget time.Duration `json:"local_budget,omitempty"`
	// Resume asks RunStageActivity to attach to the stage that
	// RunStageLocalActivity started on this worker, if it is still there.
	Resume bool `json:"resume,omitempty"`
	// Record names the run in the platform's database (server mode): its
	// tenant's secrets apply and the log is stored under it.
	Record *buildit.RunRef `json:"record,omitempty"`
	// NoSecrets is the run's ServerInput.NoSecrets.
	NoSecrets bool `json:"no_secrets,omitempty"`
	// Restore are the artifacts of the stages this one needs, directly
	// or through others (all its ancestors, in plan order), restored
	// into its workspace before its commands run: where two hold the
	// same path, the later one's file wins.
	Restore []buildit.Artifact `json:"restore,omitempty"`
}

// Vars is the attempt's environment: the step's, the run's overrides, and
// the variables every stage sees (CI, BUILDIT and BUILDIT_*). A command
// stage runs with it; a deploy stage expands ${NAME} in its image and env
// with it.
func (in StageInput) Vars() map[string]string {
	env := map[string]string{}
	for k, v := range in.Step.Env {
		env[k] = v
	}
	for k, v := range in.Env {
		env[k] = v
	}
	env["CI"] = "true"
	env["BUILDIT"] = "true"
	env["BUILDIT_PIPELINE"] = in.Pipeline
	env["BUILDIT_RUN_ID"] = in.RunID
	env["BUILDIT_STAGE"] = in.Step.ID
	env["BUILDIT_ATTEMPT"] = strconv.Itoa(in.Attempt)
	for k, v := range in.Trigger.Vars() {
		env[k] = v
	}
	return env
}

// StageResult is how an attempt ended. A stage whose commands fail is a
// result with a non-zero ExitCode, not an activity error: activity errors
// are for the machinery (a lost worker, a missing image) and are retried by
// Temporal, while ExitCode failures use the stage's own `retry`.
type StageResult struct {
	ExitCode int `json:"exit_code"`
	// TimedOut reports that the stage's timeout ended it.
	TimedOut bool `json:"timed_out,omitempty"`
	// Pending reports that the stage still runs after the local budget.
	Pending bool `json:"pending,omitempty"`
	// Artifacts are what the attempt kept (the stage's `artifacts`).
	Artifacts []buildit.Artifact `json:"artifacts,omitempty"`
}

// ApprovalInput decides an approval gate.
type ApprovalInput struct {
	// Stage is the gate's stage name or step ID.
	Stage  string `json:"stage"`
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
}
