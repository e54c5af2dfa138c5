package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

// pipelineNameRE is what a pipeline's name (its address in URLs) looks
// like.
var pipelineNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// compile validates source and returns its plan as JSON, or a 422 whose
// details list every problem with its line and column, a limit of the
// server's PipelineLimits included. It plans under the request's context:
// a client that leaves stops the work.
func (s *Server) compile(c *gin.Context, name, source string) (json.RawMessage, error) {
	if source == "" {
		return nil, invalid("source is required: the pipeline's KDL text")
	}
	plan, diags, err := s.cfg.PipelineLimits.Compile(c.Request.Context(), name+".kdl", []byte(source))
	if err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		problems := []apiview.Problem{}
		for _, d := range diags {
			sev := "error"
			if d.Warning {
				sev = "warning"
			}
			problems = append(problems, apiview.Problem{Line: d.Line, Column: d.Col, Severity: sev, Message: d.Message})
		}
		e := invalid("the pipeline is invalid")
		e.Code = "invalid_pipeline"
		e.Details = problems
		return nil, e
	}
	return json.Marshal(plan)
}

func (s *Server) listPipelines(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.store.Pipelines().List(c, tenantOf(c).ID, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, listOf(page, func(p db.Pipeline) apiview.Pipeline { return viewPipeline(p, false) }))
}

type pipelineRequest struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	// Version, on PUT, makes the change only if the pipeline is still at
	// that version (optimistic locking); 0 replaces whatever is there.
	Version int `json:"version"`
	// RepositoryID names a connected repository of the tenant, whose
	// webhooks then run the pipeline too: a UUID string; null or "" for
	// none. Left out, a PUT keeps what the pipeline has. Raw, to tell
	// left out from null.
	RepositoryID json.RawMessage `json:"repository_id"`
}

// repositoryLink reads the request's repository_id: left out keeps the
// pipeline's repository, null or "" clears it, a UUID sets it.
func (r pipelineRequest) repositoryLink() (db.RepositoryLink, error) {
	if len(r.RepositoryID) == 0 {
		return db.RepositoryLink{}, nil
	}
	var id *string
	if err := json.Unmarshal(r.RepositoryID, &id); err != nil {
		return db.RepositoryLink{}, badRequest(`field "repository_id": want a string or null`)
	}
	if id == nil || *id == "" {
		return db.RepositoryLink{Set: true}, nil
	}
	u, err := uuid.Parse(*id)
	if err != nil {
		return db.RepositoryLink{}, invalid("repository_id must be the id of a connected repository (a UUID), or null for none")
	}
	return db.RepositoryLink{Set: true, ID: &u}, nil
}

// errNoRepository answers a repository_id that names no repository of the
// tenant: an unknown one and another tenant's alike, so that the answer
// does not tell whether a repository exists elsewhere.
var errNoRepository = func() *Error {
	e := invalid("repository not found: repository_id names no repository connected to this tenant")
	e.Details = gin.H{"field": "repository_id"}
	return e
}()

// pipelineChangeError translates the store's refusals of a replace of
// pipeline name; old is the pipeline as it was, if it existed.
func pipelineChangeError(err error, name string, old db.Pipeline) error {
	switch {
	case errors.Is(err, db.ErrNoRepository):
		return errNoRepository
	case errors.Is(err, db.ErrRepositoryFile):
		where := "a file of a connected repository"
		if old.RepositoryPath != "" {
			where = old.RepositoryPath + " of its connected repository"
		}
		return conflict("pipeline " + name + " is read from " + where + ": push a change to the file to change it (or disconnect the repository to manage it here)")
	case errors.Is(err, db.ErrVersionMismatch):
		return conflict("the pipeline changed since that version; GET it and try again")
	case errors.Is(err, db.ErrNotFound):
		return notFound("pipeline")
	}
	return err
}

func (s *Server) createPipeline(c *gin.Context) {
	var req pipelineRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if !pipelineNameRE.MatchString(req.Name) {
		fail(c, invalid("name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"))
		return
	}
	if req.Version != 0 {
		fail(c, invalid("version is for PUT only"))
		return
	}
	link, err := req.repositoryLink()
	if err != nil {
		fail(c, err)
		return
	}
	plan, err := s.compile(c, req.Name, req.Source)
	if err != nil {
		fail(c, err)
		return
	}
	org, t := orgOf(c), tenantOf(c)
	var p db.Pipeline
	err = s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		var err error
		p, err = tx.Pipelines().Create(c, t.ID, db.PipelineSpec{Name: req.Name, Source: req.Source, Plan: plan, Repository: link})
		return auditEntry(c, org.ID, &t.ID, "pipeline.create", "pipeline", req.Name, repositoryMeta(nil, link)), err
	})
	switch {
	case errors.Is(err, db.ErrNoRepository):
		err = errNoRepository
	case errors.Is(err, db.ErrConflict):
		err = conflict("the tenant has a pipeline named " + req.Name + " already; PUT replaces it")
	}
	if err != nil {
		fail(c, err)
		return
	}
	v := viewPipeline(p, true)
	v.Warning = s.syncSchedules(c, p)
	created(c, v)
}

func (s *Server) getPipeline(c *gin.Context) {
	p, err := s.store.Pipelines().Get(c, tenantOf(c).ID, c.Param("pipeline"))
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("pipeline")
	}
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, viewPipeline(p, true))
}

// putPipeline creates the pipeline of the URL's name or replaces its
// source.
func (s *Server) putPipeline(c *gin.Context) {
	name := c.Param("pipeline")
	var req pipelineRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Name != "" && req.Name != name {
		fail(c, invalid("name in the body differs from the URL's; pipelines are not renamed"))
		return
	}
	if !pipelineNameRE.MatchString(name) {
		fail(c, invalid("name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"))
		return
	}
	if req.Version < 0 {
		fail(c, invalid("version must be positive"))
		return
	}
	link, err := req.repositoryLink()
	if err != nil {
		fail(c, err)
		return
	}
	plan, err := s.compile(c, name, req.Source)
	if err != nil {
		fail(c, err)
		return
	}
	org, t := orgOf(c), tenantOf(c)
	var p, old db.Pipeline
	isNew := false
	err = s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		var err error
		// The schedules the pipeline had, to delete those the new
		// source drops (Sync finds them too, through Temporal's
		// visibility store, which lists a new schedule a moment late).
		if prev, err := tx.Pipelines().Get(c, t.ID, name); err == nil {
			old = prev
		}
		spec := db.PipelineSpec{Name: name, Source: req.Source, Plan: plan, Repository: link}
		if req.Version > 0 {
			p, err = tx.Pipelines().Update(c, t.ID, spec, req.Version)
		} else {
			p, isNew, err = tx.Pipelines().Put(c, t.ID, spec)
		}
		action := "pipeline.update"
		if isNew {
			action = "pipeline.create"
		}
		return auditEntry(c, org.ID, &t.ID, action, "pipeline", name, repositoryMeta(map[string]any{"version": p.Version}, link)), err
	})
	if err != nil {
		err = pipelineChangeError(err, name, old)
	}
	if err != nil {
		fail(c, err)
		return
	}
	status := http.StatusOK
	if isNew {
		status = http.StatusCreated
	}
	v := viewPipeline(p, true)
	v.Warning = s.syncSchedules(c, p)
	if v.Warning == "" && !isNew {
		v.Warning = s.dropSchedules(c, old, p)
	}
	c.JSON(status, v)
}

// repositoryMeta adds the repository a change links the pipeline to (nil
// for none) to an audit entry's metadata, when the change sets it.
func repositoryMeta(meta map[string]any, link db.RepositoryLink) map[string]any {
	if !link.Set {
		return meta
	}
	if meta == nil {
		meta = map[string]any{}
	}
	if link.ID != nil {
		meta["repository_id"] = link.ID.String()
	} else {
		meta["repository_id"] = nil
	}
	return meta
}

func (s *Server) deletePipeline(c *gin.Context) {
	name := c.Param("pipeline")
	org, t := orgOf(c), tenantOf(c)
	var p db.Pipeline
	err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		var err error
		// Read in the transaction: its schedules are named by its ID
		// and plan.
		if p, err = tx.Pipelines().Get(c, t.ID, name); err != nil {
			return db.AuditEntry{}, err
		}
		return auditEntry(c, org.ID, &t.ID, "pipeline.delete", "pipeline", name, nil), tx.Pipelines().Delete(c, t.ID, name)
	})
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("pipeline")
	}
	if err != nil {
		fail(c, err)
		return
	}
	if w := s.deleteSchedules(c, p); w != "" {
		// A 200 with the warning instead of the 204: the pipeline is
		// gone, but the caller should know its schedules are not.
		ok(c, gin.H{"warning": w})
		return
	}
	noContent(c)
}
