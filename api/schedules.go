package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/schedules"
	"github.com/buildit-ci/buildit/triggers"
)

// ScheduleService keeps pipelines' Temporal Schedules in step with their
// plans and steers them (*schedules.Syncer).
type ScheduleService interface {
	triggers.ScheduleSyncer
	// DeleteNames deletes the named schedules of a pipeline.
	DeleteNames(ctx context.Context, tenantID, pipelineID uuid.UUID, names []string) error
	Describe(ctx context.Context, tenantID, pipelineID uuid.UUID, name string) (schedules.Status, error)
	Pause(ctx context.Context, tenantID, pipelineID uuid.UUID, name, note string) error
	Resume(ctx context.Context, tenantID, pipelineID uuid.UUID, name, note string) error
	Trigger(ctx context.Context, tenantID, pipelineID uuid.UUID, name string) error
	Backfill(ctx context.Context, tenantID, pipelineID uuid.UUID, name string, start, end time.Time) error
}

var _ ScheduleService = (*schedules.Syncer)(nil)

// maxBackfillRuns bounds how many times a backfill may fire the schedule.
const maxBackfillRuns = 100

// syncSchedules brings p's schedules in step after a change, and returns
// the warning to put in the answer when that failed: the change is stored
// either way.
func (s *Server) syncSchedules(c *gin.Context, p db.Pipeline) string {
	if s.cfg.Schedules == nil {
		return ""
	}
	if err := s.cfg.Schedules.Sync(c, p); err != nil {
		logger(c).Error("syncing a pipeline's schedules failed", "pipeline", p.ID, "error", err)
		return "the pipeline is stored, but its schedules could not be synced with Temporal; push it again to retry"
	}
	return ""
}

// dropSchedules deletes the schedules old had and p has not; the
// answer's warning when that failed.
func (s *Server) dropSchedules(c *gin.Context, old, p db.Pipeline) string {
	if s.cfg.Schedules == nil || old.ID != p.ID {
		return ""
	}
	had, err := schedules.PlanSchedules(old)
	if err != nil {
		return ""
	}
	has, _ := schedules.PlanSchedules(p)
	var gone []string
	for _, sc := range had {
		if !slices.ContainsFunc(has, func(n pipeline.Schedule) bool { return n.Name == sc.Name }) {
			gone = append(gone, sc.Name)
		}
	}
	if len(gone) == 0 {
		return ""
	}
	if err := s.cfg.Schedules.DeleteNames(c, p.TenantID, p.ID, gone); err != nil {
		logger(c).Error("deleting a pipeline's dropped schedules failed", "pipeline", p.ID, "error", err)
		return "the pipeline is stored, but its schedules could not be synced with Temporal; push it again to retry"
	}
	return ""
}

// deleteSchedules removes a deleted pipeline's schedules; the answer's
// warning when that failed.
func (s *Server) deleteSchedules(c *gin.Context, p db.Pipeline) string {
	if s.cfg.Schedules == nil {
		return ""
	}
	var names []string
	if scheds, err := schedules.PlanSchedules(p); err == nil {
		for _, sc := range scheds {
			names = append(names, sc.Name)
		}
	}
	err := errors.Join(s.cfg.Schedules.DeleteNames(c, p.TenantID, p.ID, names), s.cfg.Schedules.Delete(c, p.TenantID, p.ID))
	if err != nil {
		logger(c).Error("deleting a pipeline's schedules failed", "pipeline", p.ID, "error", err)
		return "the pipeline is deleted, but its schedules could not be removed from Temporal; their runs end without starting anything"
	}
	return ""
}

func viewSchedule(p db.Pipeline, sc pipeline.Schedule) apiview.Schedule {
	v := apiview.Schedule{
		Pipeline: p.Name, Name: sc.Name, ID: schedules.ID(p.TenantID, p.ID, sc.Name),
		Cron: sc.Cron, Timezone: sc.Timezone, Branch: sc.Branch, Overlap: sc.Overlap,
		NextRuns: []time.Time{}, RecentRuns: []apiview.ScheduleAction{},
	}
	if v.Overlap == "" {
		v.Overlap = pipeline.OverlapSkip
	}
	if sc.Jitter > 0 {
		v.Jitter = sc.Jitter.String()
	}
	return v
}

// maxListedNext is how many next times a listed schedule shows.
const maxListedNext = 3

// listSchedules lists the schedules of every pipeline of the tenant, with
// their state in Temporal.
func (s *Server) listSchedules(c *gin.Context) {
	t := tenantOf(c)
	out := apiview.ScheduleList{Items: []apiview.Schedule{}}
	pipes, err := s.store.Pipelines().ListScheduled(c, t.ID)
	if err != nil {
		fail(c, err)
		return
	}
	for _, p := range pipes {
		scheds, err := schedules.PlanSchedules(p)
		if err != nil {
			continue
		}
		for _, sc := range scheds {
			out.Items = append(out.Items, s.describeSchedule(c, p, sc))
		}
	}
	ok(c, out)
}

func (s *Server) describeSchedule(c *gin.Context, p db.Pipeline, sc pipeline.Schedule) apiview.Schedule {
	v := viewSchedule(p, sc)
	if s.cfg.Schedules == nil {
		v.Warning = "schedules are off on this server (no Temporal)"
		return v
	}
	st, err := s.cfg.Schedules.Describe(c, p.TenantID, p.ID, sc.Name)
	switch {
	case errors.Is(err, schedules.ErrNotInTemporal):
		v.Warning = "the schedule is not in Temporal: push the pipeline again to sync it"
		return v
	case err != nil:
		logger(c).Warn("describing a schedule failed", "schedule", v.ID, "error", err)
		v.Warning = "the workflow service is unavailable"
		return v
	}
	v.Paused, v.Note, v.Running = st.Paused, st.Note, st.Running
	if len(st.Next) > maxListedNext {
		st.Next = st.Next[:maxListedNext]
	}
	v.NextRuns = append(v.NextRuns, st.Next...)
	for _, a := range st.Recent {
		v.RecentRuns = append(v.RecentRuns, apiview.ScheduleAction{ScheduledAt: a.ScheduledAt, StartedAt: a.StartedAt, WorkflowID: a.WorkflowID})
	}
	return v
}

// scheduleOf finds the URL's pipeline (in the tenant: another tenant's is
// not found) and its schedule.
func (s *Server) scheduleOf(c *gin.Context) (db.Pipeline, pipeline.Schedule, error) {
	p, err := s.store.Pipelines().Get(c, tenantOf(c).ID, c.Param("pipeline"))
	if errors.Is(err, db.ErrNotFound) {
		return p, pipeline.Schedule{}, notFound("pipeline")
	}
	if err != nil {
		return p, pipeline.Schedule{}, err
	}
	scheds, err := schedules.PlanSchedules(p)
	if err != nil {
		return p, pipeline.Schedule{}, err
	}
	for _, sc := range scheds {
		if sc.Name == c.Param("schedule") {
			return p, sc, nil
		}
	}
	return p, pipeline.Schedule{}, notFound("schedule")
}

var errSchedulesOff = errorf(http.StatusServiceUnavailable, CodeUnavailable, "schedules are off on this server (no Temporal)")

// steerSchedule is the pause, resume, trigger and backfill routes: find
// the schedule, do, audit, answer with its state.
func (s *Server) steerSchedule(action string, body func(c *gin.Context) (any, error), do func(c *gin.Context, p db.Pipeline, sc pipeline.Schedule, req any) (map[string]any, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		// The body is read first, as every route does: a bad one is a
		// 4xx whatever the path names.
		req, err := body(c)
		if err != nil {
			fail(c, err)
			return
		}
		p, sc, err := s.scheduleOf(c)
		if err != nil {
			fail(c, err)
			return
		}
		if s.cfg.Schedules == nil {
			fail(c, errSchedulesOff)
			return
		}
		meta, err := do(c, p, sc, req)
		if errors.Is(err, schedules.ErrNotInTemporal) {
			err = conflict("the schedule is not in Temporal: push the pipeline again to sync it")
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				logger(c).Error("steering a schedule failed", "action", action, "pipeline", p.ID, "schedule", sc.Name, "error", err)
				err = errorf(http.StatusServiceUnavailable, CodeUnavailable, "the workflow service is unavailable; try again shortly")
			}
			fail(c, err)
			return
		}
		org, t := orgOf(c), tenantOf(c)
		if meta == nil {
			meta = map[string]any{}
		}
		meta["schedule"] = sc.Name
		if err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
			return auditEntry(c, org.ID, &t.ID, "schedule."+action, "pipeline", p.Name, meta), nil
		}); err != nil {
			fail(c, err)
			return
		}
		ok(c, s.describeSchedule(c, p, sc))
	}
}

// scheduleNote reads the optional {"note"} of pause and resume.
func scheduleNote(c *gin.Context) (any, error) {
	var req apiview.ScheduleNote
	if err := bindOptional(c, &req); err != nil {
		return nil, err
	}
	if len(req.Note) > 500 {
		return nil, invalid("note is at most 500 bytes")
	}
	return req, nil
}

// noBody refuses a body that is not empty or {}.
func noBody(c *gin.Context) (any, error) {
	return nil, bindOptional(c, &struct{}{})
}

// backfillBody reads a backfill's {start, end}.
func backfillBody(c *gin.Context) (any, error) {
	var req apiview.Backfill
	if err := bind(c, &req); err != nil {
		return nil, err
	}
	return req, nil
}

func (s *Server) pauseSchedule(c *gin.Context, p db.Pipeline, sc pipeline.Schedule, body any) (map[string]any, error) {
	req := body.(apiview.ScheduleNote)
	if len(req.Note) > 500 {
		return nil, invalid("note is at most 500 bytes")
	}
	if req.Note == "" {
		req.Note = "paused by " + actorName(c)
	}
	return map[string]any{"note": req.Note}, s.cfg.Schedules.Pause(c, p.TenantID, p.ID, sc.Name, req.Note)
}

func (s *Server) resumeSchedule(c *gin.Context, p db.Pipeline, sc pipeline.Schedule, body any) (map[string]any, error) {
	req := body.(apiview.ScheduleNote)
	if len(req.Note) > 500 {
		return nil, invalid("note is at most 500 bytes")
	}
	if req.Note == "" {
		req.Note = "resumed by " + actorName(c)
	}
	return map[string]any{"note": req.Note}, s.cfg.Schedules.Resume(c, p.TenantID, p.ID, sc.Name, req.Note)
}

func (s *Server) triggerSchedule(c *gin.Context, p db.Pipeline, sc pipeline.Schedule, _ any) (map[string]any, error) {
	return nil, s.cfg.Schedules.Trigger(c, p.TenantID, p.ID, sc.Name)
}

func (s *Server) backfillSchedule(c *gin.Context, p db.Pipeline, sc pipeline.Schedule, body any) (map[string]any, error) {
	req := body.(apiview.Backfill)
	if req.Start.IsZero() || req.End.IsZero() {
		return nil, invalid("start and end are required (RFC 3339 times)")
	}
	if !req.End.After(req.Start) {
		return nil, invalid("end must be after start")
	}
	if req.End.Sub(req.Start) > schedules.MaxBackfill {
		return nil, invalid("a backfill covers at most " + schedules.MaxBackfill.String())
	}
	n, err := schedules.CountFirings(sc, req.Start, req.End, maxBackfillRuns+1)
	if err != nil {
		return nil, invalid("the schedule's cron: " + err.Error())
	}
	if n > maxBackfillRuns {
		return nil, invalid("the range holds more than 100 of the schedule's times; backfill a shorter range")
	}
	meta := map[string]any{"start": req.Start, "end": req.End, "runs": n}
	return meta, s.cfg.Schedules.Backfill(c, p.TenantID, p.ID, sc.Name, req.Start, req.End)
}
