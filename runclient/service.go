package runclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/repourl"
	"github.com/buildit-ci/buildit/workflows"
)

// Errors of Service, for the API to translate.
var (
	// ErrUnavailable: Temporal cannot be reached (or the server runs
	// without it); the run was not started.
	ErrUnavailable = errors.New("the workflow service is unavailable")
	// ErrEnded: the run has ended, so it cannot be cancelled or decided.
	ErrEnded = errors.New("the run has ended")
)

// DecisionError is an approval the run refused (the stage is not an
// approval gate, or not waiting); its message is the workflow's and safe to
// show.
type DecisionError struct{ Msg string }

func (e *DecisionError) Error() string { return e.Msg }

// Service starts and steers a tenant's runs on Temporal, for the API. The
// run's row in Postgres is written first, then the workflow is started with
// a workflow ID made of the tenant, the pipeline and the run's number; from
// then on the workflow keeps the row in step (see workerstore.Recorder).
type Service struct {
	Store *db.Store
	// Client reaches Temporal; nil makes every start ErrUnavailable.
	Client    client.Client
	Namespace string
	TaskQueue string
	// SearchAttributes sets BuildIt's search attributes on runs; the
	// namespace must have them registered.
	SearchAttributes bool
	// UIURL is the Temporal Web UI's base URL, for links to runs; "" for
	// none.
	UIURL string
	// HostQueueTimeout is PipelineRunInput.HostQueueTimeout.
	HostQueueTimeout time.Duration
	// DefaultImage is the image of command stages that name none after
	// defaults and templates (--default-image). It is written into the
	// run's plan, so that the workflow runs them in it, and a rerun too.
	DefaultImage string
	// AllowHostStages lets a run have command stages without an image,
	// which then run on the worker's host (--allow-host-stages, for a
	// single-tenant server). Without it or DefaultImage, starting a run
	// of a pipeline that has such stages is a *HostStagesError.
	AllowHostStages bool
	Log             *slog.Logger

	// Repositories is the policy on what a run may clone: a trigger
	// naming anything else is refused with a *repourl.Error.
	Repositories repourl.Policy
}

// Trigger is what starts a run, besides the pipeline: the run's
// buildit.Trigger and what the API adds to it.
type Trigger struct {
	buildit.Trigger
	Repository string
	Env        map[string]string
	// Actor is who asked (a user's email or an API key's name); Via is
	// how ("api", "rerun").
	Actor string
	Via   string
	// RerunOf and Reuse: the run this one reruns and the stages whose
	// results it takes from there instead of running them.
	RerunOf *int64
	Reuse   []string
	// ReuseArtifacts are the artifacts the reused stages kept in the run
	// this one reruns (from the catalog), restored from the blob store for
	// the stages that run again.
	ReuseArtifacts []buildit.Artifact
	// MaxActive, when above zero, is the most runs the organization may
	// have in progress: a start beyond it is a *LimitError.
	MaxActive int

	// Inputs are the values given for the pipeline's inputs: Start
	// resolves them against the plan (a wrong or missing one is a
	// *pipeline.InputError and no run is made), replaces ${inputs.NAME}
	// in the plan, and gives every stage BUILDIT_INPUT_NAME.
	Inputs map[string]string
	// Plan, when set, is run instead of the pipeline's stored plan: a
	// repository's pipeline as it is at the pushed commit.
	Plan *pipeline.Plan
	// Key, when set, makes Start idempotent: a second Start of the
	// pipeline with the same Key returns the run the first made (and
	// starts its workflow if that did not happen): a webhook's delivery
	// ID, a schedule's action.
	Key string
	// Source is the connected repository the run builds, for its clone
	// token, fork rule and commit statuses. When nil and the pipeline
	// belongs to a connected repository, Start takes it from there.
	Source *RepoSource
}

// RepoSource is a run's connected repository.
type RepoSource struct {
	RepositoryID uuid.UUID
	Forge        string
	// TokenSecret names the tenant secret holding the forge token.
	TokenSecret string
	// ForkSecrets lets pull requests from forks have the tenant's
	// secrets (the repository's opt-in).
	ForkSecrets bool
}

// LimitError says the organization has MaxActive runs in progress already.
type LimitError struct{ Limit int }

func (e *LimitError) Error() string {
	return fmt.Sprintf("the organization has %d runs in progress, its plan's limit", e.Limit)
}

// HostStagesError says the pipeline has command stages without an image,
// and this server runs stages only in containers. Its message is safe to
// show.
type HostStagesError struct {
	// Stages are the names of the stages, each once, in plan order.
	Stages []string
}

func (e *HostStagesError) Error() string {
	if len(e.Stages) == 1 {
		return fmt.Sprintf("stage %s has no image, and this server runs stages only in containers: set `image` on it or in `defaults`", e.Stages[0])
	}
	return fmt.Sprintf("stages %s have no image, and this server runs stages only in containers: set `image` on them or in `defaults`", strings.Join(e.Stages, ", "))
}

// containerize gives the command stages of plan that have no image the
// default image or, when there is none and host stages are not allowed,
// refuses the plan with a *HostStagesError naming them.
func (s *Service) containerize(plan *pipeline.Plan) error {
	var missing []string
	for i := range plan.Steps {
		st := &plan.Steps[i]
		if st.Kind != pipeline.KindRun || st.Image != "" {
			continue
		}
		switch {
		case s.DefaultImage != "":
			st.Image = s.DefaultImage
		case !s.AllowHostStages && !slices.Contains(missing, st.Stage):
			missing = append(missing, st.Stage)
		}
	}
	if len(missing) > 0 {
		return &HostStagesError{Stages: missing}
	}
	return nil
}

// Params is the part of a Trigger kept with the run, as JSON, and what of
// the run's plan must not change with later edits of the pipeline.
type Params struct {
	Env        map[string]string `json:"env,omitempty"`
	Repository string            `json:"repository,omitempty"`
	Reuse      []string          `json:"reuse,omitempty"`
	// Gates are the run's approval gates by step ID, as the plan had them
	// when the run started: who may decide a gate is what it was then,
	// whatever the pipeline says now. Empty (not nil) for a run without
	// gates; nil for a run started before gates were recorded.
	Gates map[string]Gate `json:"gates"`
	// Trigger is the run's whole trigger (tag, pull request, author…),
	// for the run's view and a rerun; nil for a run started before it
	// was kept, whose branch, commit and event are the run's columns.
	Trigger *buildit.Trigger `json:"trigger,omitempty"`
	// Inputs are the run's resolved input values, which a rerun is
	// given again.
	Inputs map[string]string `json:"inputs,omitempty"`
}

// Gate is an approval gate of a run.
type Gate struct {
	// Stage is the name of the stage the gate is an instance of (the step
	// ID adds matrix values, if any).
	Stage string `json:"stage"`
	// Approvers lists who may decide; empty: anyone who may run the
	// pipeline.
	Approvers []string `json:"approvers,omitempty"`
}

// GatesOf returns plan's approval gates by step ID, never nil.
func GatesOf(plan pipeline.Plan) map[string]Gate {
	gates := map[string]Gate{}
	for _, st := range plan.Steps {
		if st.Kind != pipeline.KindApproval {
			continue
		}
		g := Gate{Stage: st.Stage}
		if st.Approval != nil {
			g.Approvers = st.Approval.Approvers
		}
		gates[st.ID] = g
	}
	return gates
}

// ParamsOf decodes a run's Params.
func ParamsOf(r db.Run) Params {
	var p Params
	_ = json.Unmarshal(r.Params, &p)
	return p
}

// WorkflowID is the ID of the workflow of run number of a pipeline.
func WorkflowID(tenantID, pipelineID uuid.UUID, number int64) string {
	return fmt.Sprintf("run/%s/%s/%d", tenantID, pipelineID, number)
}

// Label is how a tenant shows in the Temporal UI's BuilditTenant.
func Label(org db.Organization, tenant db.Tenant) string { return org.Slug + "/" + tenant.Slug }

// UILink is the Temporal UI's page for a run's workflow, or "".
func (s *Service) UILink(r db.Run) string {
	if s.UIURL == "" || r.WorkflowID == "" {
		return ""
	}
	q := url.Values{"query": {fmt.Sprintf("WorkflowId=%q", r.WorkflowID)}}
	return strings.TrimRight(s.UIURL, "/") + "/namespaces/" + url.PathEscape(s.namespace()) + "/workflows?" + q.Encode()
}

func (s *Service) namespace() string {
	if s.Namespace == "" {
		return "default"
	}
	return s.Namespace
}

// Start creates run number N of p and starts its workflow. A repository
// the policy refuses is a *repourl.Error, and no run is made. When
// Temporal cannot take it, the run is recorded as failed with why, and the
// error is ErrUnavailable.
func (s *Service) Start(ctx context.Context, org db.Organization, tenant db.Tenant, p db.Pipeline, t Trigger) (db.Run, error) {
	// Every start checks its repository here, a rerun's too: a run
	// stored before the policy (or under a laxer one) starts no clone.
	if err := s.Repositories.Check(t.Repository); err != nil {
		return db.Run{}, err
	}
	if s.Client == nil {
		return db.Run{}, ErrUnavailable
	}
	var plan pipeline.Plan
	if err := json.Unmarshal(p.Plan, &plan); err != nil {
		return db.Run{}, fmt.Errorf("plan of pipeline %s: %w", p.ID, err)
	}
	if t.Plan != nil {
		plan = *t.Plan
	}
	inputs, env, err := runInputs(&plan, t)
	if err != nil {
		return db.Run{}, err
	}
	if err := s.containerize(&plan); err != nil {
		return db.Run{}, err
	}
	params, err := json.Marshal(Params{Env: t.Env, Repository: t.Repository, Reuse: t.Reuse, Gates: GatesOf(plan),
		Trigger: &t.Trigger, Inputs: inputs})
	if err != nil {
		return db.Run{}, err
	}
	group := runGroup(plan, t.Trigger, inputs)
	var run db.Run
	err = s.Store.InTx(ctx, func(tx *db.Tx) error {
		if t.MaxActive > 0 {
			// Count and insert under the organization's lock: two
			// starts at once cannot both take the last place.
			if err := tx.Runs().LockOrgRuns(ctx, org.ID); err != nil {
				return err
			}
			n, err := tx.Runs().CountActiveRuns(ctx, org.ID)
			if err != nil {
				return err
			}
			if n >= t.MaxActive {
				return &LimitError{Limit: t.MaxActive}
			}
		}
		r, err := tx.Runs().CreateRun(ctx, tenant.ID, p.ID, db.NewRun{
			Branch: t.Branch, Commit: t.Commit, Event: t.Event, Trigger: t.Via, Actor: t.Actor,
			Params: params, RerunOf: t.RerunOf, ConcurrencyGroup: group,
		})
		if err != nil {
			return err
		}
		run, err = tx.Runs().SetRunWorkflowID(ctx, tenant.ID, r.ID, WorkflowID(tenant.ID, p.ID, r.Number))
		return err
	})
	if err != nil {
		return db.Run{}, err
	}

	in := workflows.PipelineRunInput{
		RunInput: workflows.RunInput{
			RunID:   run.WorkflowID,
			Plan:    plan,
			Trigger: t.Trigger,
			Env:     env,
		},
		ServerInput: workflows.ServerInput{
			Record:           &buildit.RunRef{TenantID: tenant.ID.String(), RunID: run.ID.String()},
			Prepare:          &workflows.PrepareInput{Repository: t.Repository, Branch: t.Branch, Commit: t.Commit},
			HostQueueTimeout: s.HostQueueTimeout,
			ConcurrencyGroup: group,
			Reuse:            t.Reuse,
			ReuseArtifacts:   t.ReuseArtifacts,
			NoSecrets:        withholdSecrets(t),
		},
	}
	if t.RerunOf != nil {
		in.ReusedFrom = fmt.Sprintf("run %d", *t.RerunOf)
	}
	_, err = StartRun(ctx, s.Client, in, RunOptions{
		ID:               run.WorkflowID,
		TaskQueue:        s.TaskQueue,
		SearchAttributes: s.SearchAttributes,
		Tenant:           Label(org, tenant),
		Trigger:          t.Via,
		Actor:            t.Actor,
	})
	if err != nil {
		s.log().Error("starting a run's workflow failed", "run", run.ID, "workflow", run.WorkflowID, "error", err)
		if r, ferr := s.Store.Runs().SetRunResult(ctx, tenant.ID, run.ID, buildit.RunFailed, "the run could not be started: the workflow service is unavailable"); ferr == nil {
			run = r
		}
		return run, ErrUnavailable
	}
	if group != "" && plan.Concurrency.CancelInProgress {
		s.cancelOthersInGroup(ctx, tenant.ID, run)
	}
	return run, nil
}

// runInputs resolves the trigger's inputs against plan and replaces
// ${inputs.NAME} in it (see ResolveRunInputs).
func runInputs(plan *pipeline.Plan, t Trigger) (values, env map[string]string, err error) {
	return ResolveRunInputs(plan, t.Event, t.Inputs, t.Env)
}

// ResolveRunInputs resolves the inputs given to a run of event against
// plan and replaces ${inputs.NAME} in it, as every run (a server's and
// buildit run's) does. It returns the values and the run's environment:
// env and BUILDIT_INPUT_NAME for every input. A run of a forge event
// (push, pull request, tag) given no inputs has the defaults, required
// inputs included (as ""): nobody was there to give them. A wrong or
// missing input is a *pipeline.InputError.
func ResolveRunInputs(plan *pipeline.Plan, event string, given, env map[string]string) (values, runEnv map[string]string, err error) {
	if len(plan.Inputs) == 0 && len(given) == 0 {
		return nil, env, nil
	}
	switch event {
	case buildit.EventPush, buildit.EventPullRequest, buildit.EventTag:
		if len(given) == 0 {
			values = plan.InputDefaults()
			break
		}
		fallthrough
	default:
		if values, err = plan.ResolveInputs(given); err != nil {
			return nil, nil, err
		}
	}
	plan.ApplyInputs(values)
	runEnv = make(map[string]string, len(env)+len(values))
	for k, v := range env {
		runEnv[k] = v
	}
	for k, v := range values {
		runEnv[pipeline.InputVar(k)] = v
	}
	return values, runEnv, nil
}

// runGroup is the run's concurrency group: the plan's, expanded with the
// trigger's BUILDIT_* variables and the inputs (`pr-${BUILDIT_PR}`).
func runGroup(plan pipeline.Plan, t buildit.Trigger, inputs map[string]string) string {
	if plan.Concurrency == nil {
		return ""
	}
	vars := t.Vars()
	for k, v := range inputs {
		vars[pipeline.InputVar(k)] = v
	}
	return plan.Concurrency.ExpandGroup(vars)
}

// withholdSecrets reports whether the run's stages go without the
// tenant's secrets: a pull request from a fork, unless its repository
// allows them.
func withholdSecrets(t Trigger) bool {
	return t.Fork && (t.Source == nil || !t.Source.ForkSecrets)
}

// cancelOthersInGroup cancels the runs of run's concurrency group that
// started before it and are still in progress.
func (s *Service) cancelOthersInGroup(ctx context.Context, tenantID uuid.UUID, run db.Run) {
	active, err := s.Store.Runs().ListActiveRunsInGroup(ctx, tenantID, run.ConcurrencyGroup)
	if err != nil {
		s.log().Error("listing a concurrency group failed", "group", run.ConcurrencyGroup, "error", err)
		return
	}
	for _, other := range active {
		if other.ID == run.ID || other.CreatedAt.After(run.CreatedAt) {
			continue
		}
		if err := s.cancel(ctx, other); err != nil && !errors.Is(err, ErrEnded) {
			s.log().Error("cancelling a superseded run failed", "run", other.ID, "error", err)
		}
	}
}

// Cancel asks the run's workflow to cancel: running stages are stopped and
// the run ends as cancelled (the workflow records that).
func (s *Service) Cancel(ctx context.Context, r db.Run) error {
	if r.Status.Terminal() {
		return ErrEnded
	}
	if s.Client == nil {
		return ErrUnavailable
	}
	return s.cancel(ctx, r)
}

func (s *Service) cancel(ctx context.Context, r db.Run) error {
	err := s.Client.CancelWorkflow(ctx, r.WorkflowID, "")
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		// No such open workflow: it ended (or never started); make sure
		// the row says it ended.
		if _, err := s.Store.Runs().SetRunResult(ctx, r.TenantID, r.ID, buildit.RunCancelled, "run cancelled"); err != nil {
			return err
		}
		return ErrEnded
	}
	s.log().Error("cancelling a run failed", "run", r.ID, "error", err)
	return ErrUnavailable
}

// Decide approves or rejects the approval stage of a run that waits on it,
// as who, and returns the stage's state after the decision.
func (s *Service) Decide(ctx context.Context, r db.Run, stage string, approve bool, who, reason string) (workflows.StageState, error) {
	if r.Status.Terminal() {
		return workflows.StageState{}, ErrEnded
	}
	if s.Client == nil {
		return workflows.StageState{}, ErrUnavailable
	}
	st, err := Decide(ctx, s.Client, r.WorkflowID, approve, workflows.ApprovalInput{Stage: stage, By: who, Reason: reason})
	if err == nil {
		return st, nil
	}
	var nf *serviceerror.NotFound
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &nf):
		return st, ErrEnded
	case errors.As(err, &appErr):
		// The workflow's validator refused it: its words are ours.
		return st, &DecisionError{Msg: appErr.Message()}
	}
	s.log().Error("deciding an approval failed", "run", r.ID, "stage", stage, "error", err)
	return st, ErrUnavailable
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// ErrDeployRunning is returned when a deploy of the service to the
// environment is in progress; a rollback waits for it to end.
var ErrDeployRunning = errors.New("a deploy of this service to this environment is in progress")

// Rollback deploys deployment d's image and settings again, as a new
// revision, with a Deploy workflow of its own (the deploys of a service to
// an environment share a workflow ID, so it cannot overlap another). It
// returns the workflow's ID.
func (s *Service) Rollback(ctx context.Context, tenant db.Tenant, d db.Deployment, service, environment, actor string) (string, error) {
	if s.Client == nil {
		return "", ErrUnavailable
	}
	var spec buildit.DeploySpec
	if err := json.Unmarshal(d.Spec, &spec); err != nil {
		return "", fmt.Errorf("the spec of deployment %s: %w", d.ID, err)
	}
	spec.Service, spec.Environment, spec.Image = service, environment, d.Image
	in := workflows.DeployInput{
		Target:     pipeline.Target{Name: d.Target},
		Spec:       spec,
		Record:     &buildit.RunRef{TenantID: tenant.ID.String()},
		StageID:    "rollback",
		ApprovedBy: actor,
	}
	id := workflows.DeployWorkflowID(tenant.ID.String(), environment, service)
	_, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: s.taskQueue()}, workflows.DeployWorkflow, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started):
		return "", ErrDeployRunning
	case err != nil:
		s.log().Error("starting a rollback failed", "deployment", d.ID, "error", err)
		return "", ErrUnavailable
	}
	return id, nil
}

func (s *Service) taskQueue() string {
	if s.TaskQueue == "" {
		return workflows.DefaultTaskQueue
	}
	return s.TaskQueue
}
