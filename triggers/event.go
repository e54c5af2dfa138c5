package triggers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/repourl"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/workflows"
)

// Names of the package's workflow and activity.
const (
	RepositoryEventWorkflow     = "RepositoryEvent"
	StartRepositoryRunsActivity = "StartRepositoryRuns"
)

// WorkflowID is the ID of the RepositoryEvent workflow of a delivery: a
// redelivery cannot start a second one.
func WorkflowID(repositoryID uuid.UUID, delivery string) string {
	return "hook/" + repositoryID.String() + "/" + delivery
}

// EventInput is a verified webhook of a connected repository: small (no
// payload), for the workflow's history.
type EventInput struct {
	OrgID        string      `json:"org_id"`
	TenantID     string      `json:"tenant_id"`
	RepositoryID string      `json:"repository_id"`
	Event        forge.Event `json:"event"`
}

// EventResult is what the event started.
type EventResult struct {
	// Runs are the runs started, "pipeline#number".
	Runs []string `json:"runs,omitempty"`
	// Failed are the files that failed before a run could start (invalid,
	// or their pipeline's name taken), with why.
	Failed []string `json:"failed,omitempty"`
}

// Bounds of an EventInput, which is recorded with its delivery and is
// its workflow's input (Temporal refuses inputs over 2 MB): what a forge
// (or a tenant holding its own webhook secret) sends is cut to them.
const (
	// MaxChanged bounds the changed paths: a push that changed more is
	// treated as one whose changed paths are unknown (every path filter
	// matches).
	MaxChanged = 1000
	// MaxMessage bounds the head commit's message (BUILDIT_MESSAGE):
	// a longer one is cut.
	MaxMessage = 16 << 10
	// MaxEventInput bounds the whole input as JSON: when the changed
	// paths take it over, they are dropped (unknown, as above); when it
	// is over without them, the event is refused.
	MaxEventInput = 256 << 10
)

// ErrEventTooLarge is an event over MaxEventInput even cut.
var ErrEventTooLarge = fmt.Errorf("the event is over %d KiB", MaxEventInput>>10)

// EncodeEventInput cuts in's event to the bounds above and returns in as
// JSON, or ErrEventTooLarge.
func EncodeEventInput(in *EventInput) ([]byte, error) {
	ev := &in.Event
	if len(ev.Message) > MaxMessage {
		n := MaxMessage
		for n > 0 && !utf8.RuneStart(ev.Message[n]) {
			n--
		}
		ev.Message = ev.Message[:n]
	}
	if len(ev.Changed) > MaxChanged {
		ev.Changed = nil
	}
	b, err := json.Marshal(in)
	if err == nil && len(b) > MaxEventInput && ev.Changed != nil {
		ev.Changed = nil
		b, err = json.Marshal(in)
	}
	if err == nil && len(b) > MaxEventInput {
		return nil, ErrEventTooLarge
	}
	return b, err
}

// RepositoryEvent reads the repository's pipelines at the event's commit
// and starts the runs whose `on` matches, with one activity that is
// retried and idempotent (each run is keyed by the delivery and file).
func RepositoryEvent(ctx workflow.Context, in EventInput) (EventResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    2 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    10,
		},
	})
	var res EventResult
	err := workflow.ExecuteActivity(ctx, StartRepositoryRunsActivity, in).Get(ctx, &res)
	return res, err
}

// Activities are the package's activities.
type Activities struct{ d *Deps }

// notRetryable is an error no retry mends.
func notRetryable(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), "Refused", nil)
}

// StartRepositoryRuns reads the repository's pipeline files at the
// event's commit, records a failed run (and a failure status) for each
// invalid one, and starts a run of each valid one whose `on` matches.
func (a *Activities) StartRepositoryRuns(ctx context.Context, in EventInput) (EventResult, error) {
	d := a.d
	orgID, err1 := uuid.Parse(in.OrgID)
	tenantID, err2 := uuid.Parse(in.TenantID)
	repoID, err3 := uuid.Parse(in.RepositoryID)
	if err := errors.Join(err1, err2, err3); err != nil {
		return EventResult{}, notRetryable(err)
	}
	org, err := d.Store.Organizations().Get(ctx, orgID)
	if err != nil {
		return EventResult{}, gone(err)
	}
	tenant, err := d.Store.Tenants().GetByID(ctx, orgID, tenantID)
	if err != nil {
		return EventResult{}, gone(err)
	}
	repo, err := d.Store.Repositories().Get(ctx, tenantID, repoID)
	if err != nil {
		return EventResult{}, gone(err)
	}
	ev := in.Event
	if ev.DefaultBranch != "" && ev.DefaultBranch != repo.DefaultBranch {
		if err := d.Store.Repositories().SetDefaultBranch(ctx, tenantID, repoID, ev.DefaultBranch); err != nil {
			return EventResult{}, err
		}
		repo.DefaultBranch = ev.DefaultBranch
	}
	var token string
	if repo.TokenSecret != "" {
		values, err := d.Store.Tenants().FindSecretValues(ctx, tenantID, []string{repo.TokenSecret})
		if err != nil {
			return EventResult{}, err
		}
		token = values[repo.TokenSecret]
	}
	kind := forge.Kind(repo.Forge)
	limits := d.PipelineLimits.WithDefaults()
	f := fetcher{policy: d.Runs.Repositories, maxFile: limits.FileBytes}
	if token != "" {
		f.header = forge.CloneHeader(kind, token)
	}
	files, err := f.fetchPipelines(ctx, repo.URL, ev.Commit, repo.PipelinesPath)
	if err != nil {
		return EventResult{}, err
	}
	s := &eventRun{a: a, org: org, tenant: tenant, repo: repo, ev: ev, token: token, limits: limits}
	var res EventResult
	add := func(run, failed string) {
		if run != "" {
			res.Runs = append(res.Runs, run)
		}
		if failed != "" {
			res.Failed = append(res.Failed, failed)
		}
	}
	for _, file := range files {
		run, failed, err := s.file(ctx, file)
		if err != nil {
			return res, fmt.Errorf("%s: %w", file.Path, err)
		}
		add(run, failed)
	}
	// The pipelines stored through the API that name the repository, a
	// page at a time: their plans can be large.
	for after := ""; ; {
		ps, err := d.Store.Pipelines().ListForRepository(ctx, tenantID, repoID, after, apiPipelinesPage)
		if err != nil {
			return res, err
		}
		for _, p := range ps {
			run, failed, err := s.stored(ctx, p)
			if err != nil {
				return res, fmt.Errorf("pipeline %s: %w", p.Name, err)
			}
			add(run, failed)
		}
		if len(ps) < apiPipelinesPage {
			return res, nil
		}
		after = ps[len(ps)-1].Name
	}
}

// apiPipelinesPage is how many of the pipelines stored through the API
// that name a repository StartRepositoryRuns reads at a time.
const apiPipelinesPage = 50

// gone makes a missing organization, tenant or repository (deleted since
// the webhook came) not worth retrying.
func gone(err error) error {
	if errors.Is(err, db.ErrNotFound) {
		return notRetryable(err)
	}
	return err
}

// eventRun is one StartRepositoryRuns.
type eventRun struct {
	a      *Activities
	org    db.Organization
	tenant db.Tenant
	repo   db.Repository
	ev     forge.Event
	token  string
	limits pipeline.Limits
}

// key is the trigger key of file's run of this delivery.
func (s *eventRun) key(file string) string { return s.ev.Delivery + ":" + file }

// storedKey is the trigger key of the run of this delivery of pipeline
// id, stored through the API: a file's path always holds a "/", so no
// file's key is one.
func (s *eventRun) storedKey(id uuid.UUID) string { return s.ev.Delivery + ":pipeline:" + id.String() }

// file handles one pipeline file: the run it started ("name#n") or why
// it failed before one could.
func (s *eventRun) file(ctx context.Context, file pipelineFile) (run, failed string, err error) {
	plan, diags, err := s.limits.Compile(ctx, file.Path, file.Source)
	if err != nil {
		return "", "", err
	}
	if plan == nil || diags.HasErrors() {
		return s.invalid(ctx, file, diags)
	}
	if !plan.Triggered(s.pipelineEvent()) {
		return "", "", nil
	}
	planJSON, err := json.Marshal(plan)
	if err != nil {
		return "", "", err
	}
	spec := db.RepositoryPipeline{
		PipelineSpec: db.PipelineSpec{Name: plan.Pipeline, Source: string(file.Source), Plan: planJSON},
		RepositoryID: s.repo.ID, Path: file.Path,
	}
	p, taken, err := s.pipelineRow(ctx, spec)
	if err != nil {
		return "", "", err
	}
	if taken {
		msg := fmt.Sprintf("pipeline name %s is taken in this tenant", plan.Pipeline)
		s.status(ctx, plan.Pipeline, forge.StateFailure, msg)
		return "", file.Path + ": " + msg, nil
	}
	if s.onDefaultBranch() {
		updated, changed, err := s.a.d.Store.Pipelines().UpdateForRepository(ctx, s.tenant.ID, p.ID, spec)
		if err != nil {
			return "", "", err
		}
		p = updated
		if changed && s.a.d.Schedules != nil {
			if err := s.a.d.Schedules.Sync(ctx, p); err != nil {
				return "", "", fmt.Errorf("sync the schedules of %s: %w", p.Name, err)
			}
		}
	}
	return s.start(ctx, p, plan, s.key(file.Path), file.Path)
}

// stored handles a pipeline stored through the API that names the
// repository: it runs, with its stored plan, at the event's commit when
// its `on` matches the event, as a file's pipeline would.
func (s *eventRun) stored(ctx context.Context, p db.Pipeline) (run, failed string, err error) {
	var plan pipeline.Plan
	if err := json.Unmarshal(p.Plan, &plan); err != nil {
		// Not the event's fault, and no retry mends it: the result and
		// the log say so, and the other pipelines run.
		if s.a.d.Log != nil {
			s.a.d.Log.Error("a stored plan cannot be read", "pipeline", p.ID, "error", err)
		}
		return "", "pipeline " + p.Name + ": its stored plan cannot be read", nil
	}
	if !plan.Triggered(s.pipelineEvent()) {
		return "", "", nil
	}
	// The stored plan (nil: runclient reads it from p), not the
	// repository's files: the API is its source.
	return s.start(ctx, p, nil, s.storedKey(p.ID), "pipeline "+p.Name)
}

// start starts the run of pipeline p for the event, under key, with plan
// (nil for p's stored plan); what names it in a failure.
func (s *eventRun) start(ctx context.Context, p db.Pipeline, plan *pipeline.Plan, key, what string) (run, failed string, err error) {
	r, err := s.a.d.Runs.Start(ctx, s.org, s.tenant, p, runclient.Trigger{
		Trigger:    s.trigger(),
		Repository: s.repo.URL,
		Actor:      s.ev.Author,
		Via:        "webhook",
		Plan:       plan,
		Key:        key,
		Source: &runclient.RepoSource{
			RepositoryID: s.repo.ID, Forge: s.repo.Forge, TokenSecret: s.repo.TokenSecret, ForkSecrets: s.repo.ForkSecrets,
		},
	})
	if err != nil {
		if !refusal(err) {
			return "", "", err
		}
		// A start the service refuses (a host stage on a server that
		// runs containers only, a repository the policy refuses): the
		// status says why; retrying would not change it.
		s.status(ctx, p.Name, forge.StateError, err.Error())
		return "", what + ": " + err.Error(), nil
	}
	return fmt.Sprintf("%s#%d", p.Name, r.Number), "", nil
}

// refusal reports an error of Runs.Start that a retry would not mend.
func refusal(err error) bool {
	var host *runclient.HostStagesError
	var repo *repourl.Error
	var input *pipeline.InputError
	return errors.As(err, &host) || errors.As(err, &repo) || errors.As(err, &input)
}

// pipelineNameRE finds the name of an invalid file's `pipeline` node.
var pipelineNameRE = regexp.MustCompile(`(?m)^\s*pipeline\s+"([A-Za-z0-9][A-Za-z0-9._-]{0,99})"`)

// pipelineRow returns the tenant's pipeline of spec's name, creating it
// when missing; taken when that name belongs to another repository's
// pipeline or to one stored through the API (one that names this
// repository too: its source is the API's, which a file must not
// replace).
func (s *eventRun) pipelineRow(ctx context.Context, spec db.RepositoryPipeline) (db.Pipeline, bool, error) {
	p, _, err := s.a.d.Store.Pipelines().EnsureForRepository(ctx, s.tenant.ID, spec)
	if err != nil {
		return db.Pipeline{}, false, err
	}
	if p.RepositoryID == nil || *p.RepositoryID != s.repo.ID || p.RepositoryPath == "" {
		return p, true, nil
	}
	return p, false, nil
}

// invalid records an invalid file: a pipeline row (named as the file
// says, if it can be read, else after the file), a run failed at once
// with the diagnostics, and a failure status.
func (s *eventRun) invalid(ctx context.Context, file pipelineFile, diags pipeline.Diagnostics) (run, failed string, err error) {
	name := nameOf(file)
	var lines []string
	for _, d := range diags.Errors() {
		lines = append(lines, d.String())
	}
	msg := "the pipeline is invalid:\n" + strings.Join(lines, "\n")
	p, taken, err := s.pipelineRow(ctx, db.RepositoryPipeline{
		PipelineSpec: db.PipelineSpec{Name: name, Source: string(file.Source)},
		RepositoryID: s.repo.ID, Path: file.Path,
	})
	if err != nil {
		return "", "", err
	}
	if taken {
		taken := fmt.Sprintf("pipeline name %s is taken in this tenant", name)
		s.status(ctx, name, forge.StateFailure, taken)
		return "", file.Path + ": " + taken, nil
	}
	t := s.trigger()
	r, err := s.a.d.Store.Runs().CreateRun(ctx, s.tenant.ID, p.ID, db.NewRun{
		Branch: t.Branch, Commit: t.Commit, Event: t.Event, Trigger: "webhook", Actor: s.ev.Author,
		TriggerKey: s.key(file.Path),
	})
	switch {
	case errors.Is(err, db.ErrConflict):
		r, err = s.a.d.Store.Runs().GetRunByTriggerKey(ctx, s.tenant.ID, p.ID, s.key(file.Path))
		if err != nil {
			return "", "", err
		}
	case err != nil:
		return "", "", err
	}
	if _, err := s.a.d.Store.Runs().SetRunResult(ctx, s.tenant.ID, r.ID, buildit.RunFailed, msg); err != nil {
		return "", "", err
	}
	desc := "invalid pipeline"
	if len(lines) > 0 {
		desc = lines[0]
	}
	s.status(ctx, name, forge.StateFailure, desc)
	return "", strings.Join(lines, "\n"), nil
}

// nameOf is the pipeline name an invalid file declares, if it can be
// read, or else the file's base name without .kdl.
func nameOf(file pipelineFile) string {
	if p, _ := pipeline.Load(file.Path, file.Source); p != nil && p.Name != "" {
		return p.Name
	}
	if m := pipelineNameRE.FindSubmatch(file.Source); m != nil {
		return string(m[1])
	}
	return strings.TrimSuffix(path.Base(file.Path), ".kdl")
}

// status posts a commit status for a file that failed before its run
// started (a run reports its own). A forge that refuses is logged: the
// run's record says it all the same.
func (s *eventRun) status(ctx context.Context, name, state, desc string) {
	d := s.a.d
	if len(desc) > 140 {
		desc = desc[:137] + "..."
	}
	kind := forge.Kind(s.repo.Forge)
	repo, err := forge.ParseRepo(kind, s.repo.URL, s.repo.APIURL)
	if err == nil {
		err = forge.NewClient(kind, s.token, d.HTTPClient).SetStatus(ctx, repo, s.ev.Commit, forge.Status{
			State: state, Context: "buildit/" + name, Description: desc,
		})
	}
	if err != nil && d.Log != nil {
		d.Log.Warn("posting a commit status failed", "repository", s.repo.ID, "context", "buildit/"+name, "error", err)
	}
}

// onDefaultBranch reports a push to the repository's default branch:
// what replaces its pipelines' stored source and plan.
func (s *eventRun) onDefaultBranch() bool {
	return s.ev.Kind == forge.EventPush && s.repo.DefaultBranch != "" && s.ev.Branch == s.repo.DefaultBranch
}

// pipelineEvent is the event as `on` sees it.
func (s *eventRun) pipelineEvent() pipeline.Event {
	return pipeline.Event{
		Kind: s.ev.Kind, Branch: s.ev.Branch, Base: s.ev.Base, Tag: s.ev.Tag, Action: s.ev.Action, Changed: s.ev.Changed,
	}
}

// trigger is the run's buildit.Trigger.
func (s *eventRun) trigger() buildit.Trigger {
	return buildit.Trigger{
		Branch: s.ev.Branch, Commit: s.ev.Commit, Event: s.ev.Kind, Tag: s.ev.Tag,
		PR: s.ev.PR, Base: s.ev.Base, Action: s.ev.Action, Fork: s.ev.Fork,
		Author: s.ev.Author, Message: s.ev.Message,
	}
}

// Starter starts RepositoryEvent workflows on the server's task queue:
// the API's webhook route uses it.
type Starter struct {
	Client client.Client
	// TaskQueue is the workers' task queue; the workflow runs on its
	// workflows.ServerTaskQueue.
	TaskQueue string
}

// StartEvent starts the RepositoryEvent workflow of a delivery (ID
// WorkflowID), once: a workflow of the same delivery that started before,
// even one that has ended, is no error.
func (s Starter) StartEvent(ctx context.Context, in EventInput) (string, error) {
	repoID, err := uuid.Parse(in.RepositoryID)
	if err != nil {
		return "", err
	}
	id := WorkflowID(repoID, in.Event.Delivery)
	_, err = s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                workflows.ServerTaskQueue(s.TaskQueue),
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, RepositoryEventWorkflow, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return id, nil
	}
	return id, err
}
