package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/repourl"
	"github.com/buildit-ci/buildit/runclient"
)

func (s *Server) viewRun(r db.Run, pipelineName string) apiview.Run {
	p := runclient.ParamsOf(r)
	v := apiview.Run{
		Number: r.Number, Pipeline: pipelineName, Status: r.Status, Branch: r.Branch, Commit: r.Commit, Event: r.Event,
		Repository: repourl.Redacted(p.Repository), Env: p.Env, Trigger: r.Trigger, Actor: r.Actor, Error: r.Error, RerunOf: r.RerunOf,
		Reused: p.Reuse, ConcurrencyGroup: r.ConcurrencyGroup, WorkflowID: r.WorkflowID,
		TriggerDetail: p.Trigger, Inputs: p.Inputs,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
	}
	if s.cfg.Runs != nil {
		v.TemporalURL = s.cfg.Runs.UILink(r)
	}
	return v
}

// latestAttempts keeps the latest attempt of every stage, in the order
// ListStageRuns gives (by start).
func latestAttempts(all []db.StageRun, now time.Time) []apiview.Stage {
	latest := map[string]int{}
	for i, sr := range all {
		if j, ok := latest[sr.StageID]; !ok || all[j].Attempt < sr.Attempt {
			latest[sr.StageID] = i
		}
	}
	out := []apiview.Stage{}
	for i, sr := range all {
		if latest[sr.StageID] != i {
			continue
		}
		v := apiview.Stage{ID: sr.StageID, Status: sr.Status, Attempt: sr.Attempt, ExitCode: sr.ExitCode,
			StartedAt: sr.StartedAt, EndedAt: sr.EndedAt, Error: sr.Error}
		if sr.StartedAt != nil {
			end := now
			if sr.EndedAt != nil {
				end = *sr.EndedAt
			}
			v.DurationMS = new(end.Sub(*sr.StartedAt).Milliseconds())
		}
		out = append(out, v)
	}
	return out
}

// planOf decodes a pipeline's stored plan.
func planOf(p db.Pipeline) (pipeline.Plan, error) {
	var plan pipeline.Plan
	err := json.Unmarshal(p.Plan, &plan)
	return plan, err
}

// pipelineOf loads the URL's pipeline.
func (s *Server) pipelineOf(c *gin.Context) (db.Pipeline, error) {
	p, err := s.store.Pipelines().Get(c, tenantOf(c).ID, c.Param("pipeline"))
	if errors.Is(err, db.ErrNotFound) {
		return p, notFound("pipeline")
	}
	return p, err
}

// runOf loads the URL's pipeline and run.
func (s *Server) runOf(c *gin.Context) (db.Pipeline, db.Run, error) {
	p, err := s.pipelineOf(c)
	if err != nil {
		return p, db.Run{}, err
	}
	n, err := strconv.ParseInt(c.Param("number"), 10, 64)
	if err != nil || n < 1 {
		return p, db.Run{}, notFound("run")
	}
	r, err := s.store.Runs().GetRunByNumber(c, tenantOf(c).ID, p.ID, n)
	if errors.Is(err, db.ErrNotFound) {
		return p, r, notFound("run")
	}
	return p, r, err
}

// triggerRequest is a trigger's body, with its checks.
type triggerRequest apiview.TriggerRequest

var (
	commitRE  = regexp.MustCompile(`^[0-9a-fA-F]{4,64}$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

// maxTriggerEnvBytes bounds a trigger's env, names and values together.
const maxTriggerEnvBytes = 256 << 10

func (r *triggerRequest) check() error {
	switch {
	case len(r.Branch) > 255 || strings.ContainsAny(r.Branch, "\x00\n\r"):
		return invalid("branch must be at most 255 characters on one line")
	case r.Commit != "" && !commitRE.MatchString(r.Commit):
		return invalid("commit must be a hexadecimal commit ID")
	case len(r.Event) > 64 || strings.ContainsAny(r.Event, "\x00\n\r"):
		return invalid("event must be at most 64 characters on one line")
	case len(r.Env) > 100:
		return invalid("env holds at most 100 variables")
	case len(r.Inputs) > pipeline.MaxInputs:
		return invalid(fmt.Sprintf("inputs holds at most %d values", pipeline.MaxInputs))
	}
	total := 0
	for k, v := range r.Env {
		if !envNameRE.MatchString(k) || strings.HasPrefix(k, "BUILDIT_") {
			return invalid(fmt.Sprintf("env name %q: letters, digits and '_', not starting with a digit or BUILDIT_", k))
		}
		if len(v) > 32<<10 || strings.ContainsRune(v, 0) {
			return invalid(fmt.Sprintf("env %s: at most 32 KiB, no NUL", k))
		}
		total += len(k) + len(v)
	}
	for k, v := range r.Inputs {
		if len(k) > 64 || len(v) > 32<<10 || strings.ContainsRune(v, 0) {
			return invalid(fmt.Sprintf("input %q: a name of at most 64 characters, a value of at most 32 KiB without NUL", k))
		}
		total += len(k) + len(v)
	}
	// The env travels in the run's workflow input with the plan (at most
	// --max-plan-bytes), and Temporal refuses inputs over 2 MB.
	if total > maxTriggerEnvBytes {
		return invalid(fmt.Sprintf("env and inputs hold at most %d KiB in all", maxTriggerEnvBytes>>10))
	}
	if r.Event == "" {
		r.Event = "api"
	}
	return nil
}

// actorName names the principal in a run's actor and an approval's
// decider: a user's email, or "key:" and an API key's name.
func actorName(c *gin.Context) string {
	p := principalOf(c)
	switch {
	case p.user != nil:
		return p.user.Email
	case p.key != nil:
		return "key:" + p.key.Name
	}
	return ""
}

func (s *Server) triggerRun(c *gin.Context) {
	var req triggerRequest
	if err := bindOptional(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := req.check(); err != nil {
		fail(c, err)
		return
	}
	p, err := s.pipelineOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	if err := manualAllowed(p); err != nil {
		fail(c, err)
		return
	}
	s.startRun(c, p, runclient.Trigger{
		Trigger:    buildit.Trigger{Branch: req.Branch, Commit: req.Commit, Event: req.Event},
		Repository: req.Repository, Env: req.Env, Inputs: req.Inputs,
		Actor: actorName(c), Via: "api",
	})
}

// manualAllowed refuses a trigger through the API of a pipeline whose `on`
// does not list `manual`, as GitHub refuses a workflow_dispatch of a
// workflow without it. A pipeline without `on` may be run by hand.
func manualAllowed(p db.Pipeline) error {
	plan, err := planOf(p)
	if err != nil {
		return err
	}
	if plan.On != nil && !plan.On.Manual {
		return invalid(fmt.Sprintf("pipeline %s does not allow manual runs: add `manual` to its `on`", p.Name))
	}
	return nil
}

// startRun checks the plan's limit on runs in progress, starts the run and
// audits it.
func (s *Server) startRun(c *gin.Context, p db.Pipeline, t runclient.Trigger) {
	// A plan stored before the limits (or under higher ones) is not
	// decoded and sent to Temporal whatever its size.
	if limit := s.cfg.PipelineLimits.WithDefaults().PlanBytes; len(p.Plan) > limit {
		fail(c, invalid(fmt.Sprintf("the pipeline's stored plan is %d bytes, over this server's limit of %d: push the pipeline again to see what is over it", len(p.Plan), limit)))
		return
	}
	// A tenant at its artifact storage quota starts no run: its stages
	// could keep nothing.
	usage, err := s.store.Artifacts().Usage(c, tenantOf(c).ID)
	if err != nil {
		fail(c, err)
		return
	}
	if usage.Over() {
		fail(c, artifactQuotaError(usage))
		return
	}
	if s.cfg.Runs == nil {
		fail(c, runclient.ErrUnavailable)
		return
	}
	org, tenant := orgOf(c), tenantOf(c)
	t.MaxActive = limitsOf[org.Plan].ConcurrentRuns
	run, err := s.cfg.Runs.Start(c, org, tenant, p, t)
	var limit *runclient.LimitError
	if errors.As(err, &limit) {
		err = planLimit(org, "runs in progress at once", limit.Limit)
	}
	if err != nil {
		fail(c, err)
		return
	}
	meta := map[string]any{"number": run.Number, "branch": run.Branch, "commit": run.Commit, "event": run.Event}
	if t.RerunOf != nil {
		meta["rerun_of"] = *t.RerunOf
	}
	if _, err := s.store.Audit().Insert(c, auditEntry(c, org.ID, &tenant.ID, "run.start", "pipeline", p.Name, meta)); err != nil {
		// The run is started: say so, and log the audit failure.
		logger(c).Error("auditing a run start failed", "error", err)
	}
	c.Header("Location", fmt.Sprintf("%s/runs/%d", strings.TrimSuffix(c.Request.URL.Path, "/runs"), run.Number))
	created(c, s.viewRun(run, p.Name))
}

func (s *Server) listRuns(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	f := db.RunFilter{Status: buildit.RunStatus(c.Query("status")), Branch: c.Query("branch")}
	if f.Status != "" && !f.Status.Valid() {
		fail(c, invalid("status must be one of queued, running, waiting, succeeded, failed, cancelled"))
		return
	}
	p, err := s.pipelineOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.store.Runs().ListPipelineRuns(c, tenantOf(c).ID, p.ID, f, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, listOf(page, func(r db.Run) apiview.Run { return s.viewRun(r, p.Name) }))
}

func (s *Server) getRun(c *gin.Context) {
	p, r, err := s.runOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	stages, err := s.store.Runs().ListStageRuns(c, tenantOf(c).ID, r.ID)
	if err != nil {
		fail(c, err)
		return
	}
	v := s.viewRun(r, p.Name)
	v.Stages = latestAttempts(stages, s.now())
	ok(c, v)
}

func (s *Server) cancelRun(c *gin.Context) {
	if err := bindOptional(c, &struct{}{}); err != nil {
		fail(c, err)
		return
	}
	p, r, err := s.runOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	if s.cfg.Runs == nil {
		fail(c, runclient.ErrUnavailable)
		return
	}
	if err := s.cfg.Runs.Cancel(c, r); err != nil {
		fail(c, err)
		return
	}
	org, tenant := orgOf(c), tenantOf(c)
	if _, err := s.store.Audit().Insert(c, auditEntry(c, org.ID, &tenant.ID, "run.cancel", "pipeline", p.Name, map[string]any{"number": r.Number})); err != nil {
		logger(c).Error("auditing a run cancel failed", "error", err)
	}
	c.JSON(http.StatusAccepted, s.viewRun(r, p.Name))
}

type decisionRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) approveStage(c *gin.Context) { s.decide(c, true) }
func (s *Server) rejectStage(c *gin.Context)  { s.decide(c, false) }

// decide approves or rejects an approval stage. The stage's approvers, when
// it names any, are who may: a user's email, a tenant or organization role
// (admin, member, owner), or "key:NAME" for an API key.
func (s *Server) decide(c *gin.Context, approve bool) {
	var req decisionRequest
	if err := bindOptional(c, &req); err != nil {
		fail(c, err)
		return
	}
	if len(req.Reason) > 1000 {
		fail(c, invalid("reason is at most 1000 characters"))
		return
	}
	p, r, err := s.runOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	stage := c.Param("stage")
	if err := s.mayDecide(c, r, stage); err != nil {
		fail(c, err)
		return
	}
	if s.cfg.Runs == nil {
		fail(c, runclient.ErrUnavailable)
		return
	}
	who := actorName(c)
	st, err := s.cfg.Runs.Decide(c, r, stage, approve, who, req.Reason)
	if err != nil {
		fail(c, err)
		return
	}
	action := "run.reject"
	if approve {
		action = "run.approve"
	}
	org, tenant := orgOf(c), tenantOf(c)
	meta := map[string]any{"number": r.Number, "stage": st.ID, "reason": req.Reason}
	if _, err := s.store.Audit().Insert(c, auditEntry(c, org.ID, &tenant.ID, action, "pipeline", p.Name, meta)); err != nil {
		logger(c).Error("auditing an approval failed", "error", err)
	}
	ok(c, gin.H{"stage": st.ID, "status": st.Status, "decided_by": st.DecidedBy, "reason": st.Reason, "error": st.Error})
}

// approverName is how an approver and a caller are compared: emails by
// the same rule as accounts (NFKC and case folding), roles and key names
// without case.
func approverName(s string) string {
	if strings.Contains(s, "@") && !strings.HasPrefix(s, "key:") {
		return db.CanonicalEmail(s)
	}
	return strings.ToLower(s)
}

// mayDecide checks the caller against the approvers of the run's approval
// stage as they were when the run started (recorded in its params): an
// edit of the pipeline changes who decides later runs, never a run that
// waits already. A run started before approvers were recorded is decided
// by a tenant admin (org owners and admins included) signed in, whatever
// its pipeline says now.
func (s *Server) mayDecide(c *gin.Context, r db.Run, stage string) error {
	gates := runclient.ParamsOf(r).Gates
	if gates == nil {
		if principalOf(c).user == nil || tenantRoleOf(c) != db.TenantRoleAdmin {
			return forbidden("this run started before BuildIt recorded who may approve it; a tenant admin decides it")
		}
		return nil
	}
	var approvers []string
	found := false
	for id, g := range gates {
		if id == stage || g.Stage == stage {
			found = true
			approvers = append(approvers, g.Approvers...)
		}
	}
	if !found {
		return notFound("approval stage")
	}
	if len(approvers) == 0 {
		return nil
	}
	pr := principalOf(c)
	var who []string
	if pr.user != nil {
		who = append(who, approverName(pr.user.Email))
	}
	// Key names are not unique: a key named after an approver only counts
	// when it existed before the run started, so that nobody can make one
	// to decide a run that waits already.
	if pr.key != nil && pr.key.CreatedAt.Before(r.CreatedAt) {
		who = append(who, approverName("key:"+pr.key.Name))
	}
	if role := orgRoleOf(c); role != "" {
		who = append(who, string(role))
	}
	if role := tenantRoleOf(c); role != "" {
		who = append(who, string(role))
	}
	for _, a := range approvers {
		if slices.Contains(who, approverName(a)) {
			return nil
		}
	}
	slices.Sort(approvers)
	return forbidden("only " + strings.Join(slices.Compact(approvers), ", ") + " may decide this stage")
}

// rerunRun starts a new run with the same trigger. With failed=true it
// reruns only what did not succeed: a stage that succeeded is reused unless
// a stage that runs again needs it (directly or not), because workspaces
// are not kept between runs and that stage's files may be what the other
// builds on.
func (s *Server) rerunRun(c *gin.Context) {
	onlyFailed := false
	switch c.Query("failed") {
	case "", "false", "0":
	case "true", "1":
		onlyFailed = true
	default:
		fail(c, invalid("failed must be true or false"))
		return
	}
	if err := bindOptional(c, &struct{}{}); err != nil {
		fail(c, err)
		return
	}
	p, r, err := s.runOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	if !r.Status.Terminal() {
		fail(c, conflict("the run is still in progress; cancel it first or wait for it"))
		return
	}
	params := runclient.ParamsOf(r)
	t := runclient.Trigger{
		Trigger:    buildit.Trigger{Branch: r.Branch, Commit: r.Commit, Event: r.Event},
		Repository: params.Repository, Env: params.Env,
		Actor: actorName(c), Via: "rerun", RerunOf: &r.Number,
		// The same inputs, resolved against the pipeline as it is now.
		Inputs: params.Inputs,
	}
	if params.Trigger != nil {
		t.Trigger = *params.Trigger
	}
	if onlyFailed {
		if r.Status == buildit.RunSucceeded {
			fail(c, conflict("the run succeeded: nothing failed to rerun"))
			return
		}
		stages, err := s.store.Runs().ListStageRuns(c, tenantOf(c).ID, r.ID)
		if err != nil {
			fail(c, err)
			return
		}
		plan, err := planOf(p)
		if err != nil {
			fail(c, err)
			return
		}
		t.Reuse = reusable(plan, latestAttempts(stages, s.now()))
		if t.ReuseArtifacts, err = s.reusedArtifacts(c, r, t.Reuse); err != nil {
			fail(c, err)
			return
		}
	}
	s.startRun(c, p, t)
}

// reusedArtifacts lists the artifacts the stages in reuse kept in run r,
// from the catalog, as the rerun's workflow restores them. Their RunID is
// r's workflow ID, as the engine recorded them.
func (s *Server) reusedArtifacts(c *gin.Context, r db.Run, reuse []string) ([]buildit.Artifact, error) {
	if len(reuse) == 0 {
		return nil, nil
	}
	rows, err := s.store.Artifacts().ListArtifacts(c, tenantOf(c).ID, r.ID.String())
	if err != nil {
		return nil, err
	}
	var out []buildit.Artifact
	for _, a := range rows {
		if slices.Contains(reuse, a.StageID) {
			out = append(out, buildit.Artifact{Name: a.Name, Stage: a.StageID, RunID: r.WorkflowID,
				Key: a.BlobKey, Size: a.Size, Digest: a.Digest, Files: a.Files})
		}
	}
	return out, nil
}

// reusable picks the stages of plan that succeeded in a run and that the
// rerun takes as they are. A stage runs again when it did not succeed, or
// when a stage that runs again needs it and it kept no artifacts: what it
// made then lived only in the old run's workspace. A stage that keeps
// artifacts is reused even so, its artifacts restored for the stages
// after it (ReuseArtifacts), as GitHub Actions reruns failed jobs.
func reusable(plan pipeline.Plan, stages []apiview.Stage) []string {
	succeeded := map[string]bool{}
	for _, st := range stages {
		if st.Status == buildit.StageSucceeded {
			succeeded[st.ID] = true
		}
	}
	byID := map[string]pipeline.Step{}
	for _, st := range plan.Steps {
		byID[st.ID] = st
	}
	again := map[string]bool{} // runs again
	var mark func(id string)
	mark = func(id string) {
		if again[id] {
			return
		}
		again[id] = true
		for _, n := range byID[id].Needs {
			if !succeeded[n] || len(byID[n].Artifacts) == 0 {
				mark(n)
			}
		}
	}
	for _, st := range plan.Steps {
		if !succeeded[st.ID] {
			mark(st.ID)
		}
	}
	var out []string
	for _, st := range plan.Steps {
		if succeeded[st.ID] && !again[st.ID] {
			out = append(out, st.ID)
		}
	}
	return out
}
