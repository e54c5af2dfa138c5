package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
)

// resourceNameRE is what a target's, environment's or service's name (its
// address in URLs) looks like.
var resourceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// targetSettings are the settings each kind of target takes through the
// API (credentials are a tenant secret named by credentials_secret).
var targetSettings = map[pipeline.TargetKind][]string{
	pipeline.TargetKubernetes: {"namespace", "context"},
	pipeline.TargetFly:        {"app", "region", "org", "api-url"},
}

func viewTarget(t db.Target) apiview.Target {
	v := apiview.Target{Name: t.Name, Kind: string(t.Kind), Settings: map[string]string{}, CredentialsSecret: t.CredentialsSecret, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	_ = json.Unmarshal(t.Settings, &v.Settings)
	return v
}

func viewEnvironment(e db.Environment) apiview.Environment {
	b := e.Protection.AllowedBranches
	if b == nil {
		b = []string{}
	}
	return apiview.Environment{Name: e.Name, RequireApproval: e.Protection.RequireApproval, AllowedBranches: b, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

func viewService(s db.Service) apiview.Service {
	return apiview.Service{Name: s.Name, Settings: s.Settings, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

// saveNamed creates (create) or replaces the tenant's resource of a kind
// (target, environment, service) named name with put, audited, and answers
// with its view: 201 on create, where a name taken is a 409.
func saveNamed[T, V any](s *Server, c *gin.Context, kind, name string, create bool,
	get func(tx *db.Tx) error, put func(tx *db.Tx) (T, error), meta map[string]any, view func(T) V) {
	org, tenant := orgOf(c), tenantOf(c)
	var saved T
	err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		action := kind + ".update"
		if create {
			action = kind + ".create"
			if get(tx) == nil {
				article := "a "
				if strings.ContainsRune("aeiou", rune(kind[0])) {
					article = "an "
				}
				return db.AuditEntry{}, conflict("the tenant has " + article + kind + " named " + name + " already; PATCH changes it")
			}
		}
		var err error
		saved, err = put(tx)
		return auditEntry(c, org.ID, &tenant.ID, action, kind, name, meta), err
	})
	switch {
	case err != nil:
		fail(c, err)
	case create:
		created(c, view(saved))
	default:
		ok(c, view(saved))
	}
}

// deleteNamed is the handler that deletes the tenant's resource of a kind
// named by the URL's param, audited.
func (s *Server) deleteNamed(kind, param string, del func(r db.DeploymentRepo, ctx context.Context, tenantID uuid.UUID, name string) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		org, tenant, name := orgOf(c), tenantOf(c), c.Param(param)
		err := s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
			return auditEntry(c, org.ID, &tenant.ID, kind+".delete", kind, name, nil), del(tx.Deployments(), c, tenant.ID, name)
		})
		if errors.Is(err, db.ErrNotFound) {
			err = notFound(kind)
		}
		if err != nil {
			fail(c, err)
			return
		}
		noContent(c)
	}
}

// --- targets

type targetRequest struct {
	Name              string              `json:"name"`
	Kind              pipeline.TargetKind `json:"kind"`
	Settings          map[string]string   `json:"settings"`
	CredentialsSecret *string             `json:"credentials_secret"`
}

func checkTarget(t db.TargetSpec, settings map[string]string) error {
	if !resourceNameRE.MatchString(t.Name) {
		return invalid("name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	allowed, ok := targetSettings[t.Kind]
	if !ok {
		return invalid(`kind must be "kubernetes" or "fly"`)
	}
	for k, v := range settings {
		if !slices.Contains(allowed, k) {
			return invalid(fmt.Sprintf("setting %q is not one of a %s target's: %v", k, t.Kind, allowed))
		}
		if len(v) > 1000 {
			return invalid(fmt.Sprintf("setting %q is over 1000 characters", k))
		}
	}
	if t.Kind == pipeline.TargetFly && settings["app"] == "" {
		return invalid(`a fly target needs settings.app`)
	}
	if t.CredentialsSecret != "" && !secretNameRE.MatchString(t.CredentialsSecret) {
		return invalid("credentials_secret names a tenant secret: letters, digits and '_', not starting with a digit")
	}
	return nil
}

func (s *Server) listTargets(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.store.Deployments().ListTargets(c, tenantOf(c).ID, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, listOf(page, viewTarget))
}

func (s *Server) getTarget(c *gin.Context) {
	t, err := s.store.Deployments().GetTarget(c, tenantOf(c).ID, c.Param("target"))
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("target")
	}
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, viewTarget(t))
}

func (s *Server) createTarget(c *gin.Context) {
	var req targetRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	spec := db.TargetSpec{Name: req.Name, Kind: req.Kind}
	if req.CredentialsSecret != nil {
		spec.CredentialsSecret = *req.CredentialsSecret
	}
	s.saveTarget(c, spec, req.Settings, true)
}

func (s *Server) updateTarget(c *gin.Context) {
	var req targetRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	tenant := tenantOf(c)
	cur, err := s.store.Deployments().GetTarget(c, tenant.ID, c.Param("target"))
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("target")
	}
	if err != nil {
		fail(c, err)
		return
	}
	if req.Name != "" && req.Name != cur.Name {
		fail(c, invalid("targets are not renamed"))
		return
	}
	spec := db.TargetSpec{Name: cur.Name, Kind: cur.Kind, CredentialsSecret: cur.CredentialsSecret}
	if req.Kind != "" {
		spec.Kind = req.Kind
	}
	if req.CredentialsSecret != nil {
		spec.CredentialsSecret = *req.CredentialsSecret
	}
	settings := viewTarget(cur).Settings
	if req.Settings != nil {
		settings = req.Settings
	}
	s.saveTarget(c, spec, settings, false)
}

func (s *Server) saveTarget(c *gin.Context, spec db.TargetSpec, settings map[string]string, create bool) {
	if settings == nil {
		settings = map[string]string{}
	}
	if err := checkTarget(spec, settings); err != nil {
		fail(c, err)
		return
	}
	spec.Settings, _ = json.Marshal(settings)
	tenant := tenantOf(c).ID
	saveNamed(s, c, "target", spec.Name, create,
		func(tx *db.Tx) error { _, err := tx.Deployments().GetTarget(c, tenant, spec.Name); return err },
		func(tx *db.Tx) (db.Target, error) { return tx.Deployments().PutTarget(c, tenant, spec) },
		map[string]any{"kind": spec.Kind}, viewTarget)
}

// --- environments

type environmentRequest struct {
	Name            string    `json:"name"`
	RequireApproval *bool     `json:"require_approval"`
	AllowedBranches *[]string `json:"allowed_branches"`
}

func (s *Server) listEnvironments(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.store.Deployments().ListEnvironments(c, tenantOf(c).ID, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, listOf(page, viewEnvironment))
}

func (s *Server) environmentOf(c *gin.Context) (db.Environment, error) {
	e, err := s.store.Deployments().GetEnvironment(c, tenantOf(c).ID, c.Param("env"))
	if errors.Is(err, db.ErrNotFound) {
		return e, notFound("environment")
	}
	return e, err
}

func (s *Server) getEnvironment(c *gin.Context) {
	e, err := s.environmentOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, viewEnvironment(e))
}

func (s *Server) createEnvironment(c *gin.Context) {
	var req environmentRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	s.saveEnvironment(c, req.Name, db.Protection{}, req, true)
}

func (s *Server) updateEnvironment(c *gin.Context) {
	var req environmentRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	cur, err := s.environmentOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	if req.Name != "" && req.Name != cur.Name {
		fail(c, invalid("environments are not renamed"))
		return
	}
	s.saveEnvironment(c, cur.Name, cur.Protection, req, false)
}

func (s *Server) saveEnvironment(c *gin.Context, name string, p db.Protection, req environmentRequest, create bool) {
	if !resourceNameRE.MatchString(name) {
		fail(c, invalid("name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"))
		return
	}
	if req.RequireApproval != nil {
		p.RequireApproval = *req.RequireApproval
	}
	if req.AllowedBranches != nil {
		p.AllowedBranches = *req.AllowedBranches
	}
	if len(p.AllowedBranches) > 50 {
		fail(c, invalid("allowed_branches holds at most 50 patterns"))
		return
	}
	for _, b := range p.AllowedBranches {
		if _, err := path.Match(b, ""); err != nil || b == "" || len(b) > 255 {
			fail(c, invalid(fmt.Sprintf("allowed_branches: %q is not a branch pattern (a glob such as main or release/*)", b)))
			return
		}
	}
	tenant := tenantOf(c).ID
	saveNamed(s, c, "environment", name, create,
		func(tx *db.Tx) error { _, err := tx.Deployments().GetEnvironment(c, tenant, name); return err },
		func(tx *db.Tx) (db.Environment, error) { return tx.Deployments().PutEnvironment(c, tenant, name, p) },
		map[string]any{"require_approval": p.RequireApproval, "allowed_branches": p.AllowedBranches}, viewEnvironment)
}

// --- services

// maxServiceSettings bounds a service's settings, which every page of the
// list of services holds (up to 500 of them).
const maxServiceSettings = 16 << 10

type serviceRequest struct {
	Name     string          `json:"name"`
	Settings json.RawMessage `json:"settings"`
}

func (s *Server) listServices(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.store.Deployments().ListServices(c, tenantOf(c).ID, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, listOf(page, viewService))
}

func (s *Server) getService(c *gin.Context) {
	svc, err := s.store.Deployments().GetService(c, tenantOf(c).ID, c.Param("service"))
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("service")
	}
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, viewService(svc))
}

func (s *Server) createService(c *gin.Context) {
	var req serviceRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	s.saveService(c, req.Name, req.Settings, true)
}

func (s *Server) updateService(c *gin.Context) {
	var req serviceRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	cur, err := s.store.Deployments().GetService(c, tenantOf(c).ID, c.Param("service"))
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("service")
	}
	if err != nil {
		fail(c, err)
		return
	}
	if req.Name != "" && req.Name != cur.Name {
		fail(c, invalid("services are not renamed"))
		return
	}
	settings := cur.Settings
	if req.Settings != nil {
		settings = req.Settings
	}
	s.saveService(c, cur.Name, settings, false)
}

func (s *Server) saveService(c *gin.Context, name string, settings json.RawMessage, create bool) {
	if !resourceNameRE.MatchString(name) {
		fail(c, invalid("name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"))
		return
	}
	if len(settings) > maxServiceSettings {
		fail(c, invalid(fmt.Sprintf("settings must be at most %d KiB of JSON", maxServiceSettings>>10)))
		return
	}
	if len(settings) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(settings, &obj); err != nil || obj == nil {
			fail(c, invalid("settings must be a JSON object"))
			return
		}
	}
	tenant := tenantOf(c).ID
	saveNamed(s, c, "service", name, create,
		func(tx *db.Tx) error { _, err := tx.Deployments().GetService(c, tenant, name); return err },
		func(tx *db.Tx) (db.Service, error) { return tx.Deployments().PutService(c, tenant, name, settings) },
		nil, viewService)
}

// --- deployments

// serviceNames maps the IDs of the services of deployments to their names,
// for views: one query for the page, whatever the tenant's services.
func (s *Server) serviceNames(c *gin.Context, deployments []db.Deployment) (map[uuid.UUID]string, error) {
	ids := make([]uuid.UUID, 0, len(deployments))
	for _, d := range deployments {
		ids = append(ids, d.ServiceID)
	}
	return s.store.Deployments().ServiceNames(c, tenantOf(c).ID, ids)
}

func viewDeployment(d db.Deployment, service, env string) apiview.Deployment {
	return apiview.Deployment{
		ID: d.ID, Service: service, Environment: env, Revision: d.Revision, Image: d.Image, Status: d.Status, Actor: d.Actor,
		Target: d.Target, Stage: d.StageID, PreviousRevision: d.PreviousRevision, RolledBackTo: d.RolledBackTo, Message: d.Message,
		CreatedAt: d.CreatedAt, FinishedAt: d.FinishedAt,
	}
}

// listEnvironmentDeployments is an environment's history, newest first.
func (s *Server) listEnvironmentDeployments(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	env, err := s.environmentOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.store.Deployments().ListForEnvironment(c, tenantOf(c).ID, env.ID, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	names, err := s.serviceNames(c, page.Items)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, listOf(page, func(d db.Deployment) apiview.Deployment { return viewDeployment(d, names[d.ServiceID], env.Name) }))
}

// rollbackDeployment deploys the image and settings of deployment {id}
// again, as a new revision of its service in its environment.
func (s *Server) rollbackDeployment(c *gin.Context) {
	if err := bindOptional(c, &struct{}{}); err != nil {
		fail(c, err)
		return
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		fail(c, notFound("deployment"))
		return
	}
	tenant := tenantOf(c)
	d, err := s.store.Deployments().Get(c, tenant.ID, id)
	if errors.Is(err, db.ErrNotFound) {
		err = notFound("deployment")
	}
	if err != nil {
		fail(c, err)
		return
	}
	if d.Status != buildit.DeploySucceeded {
		fail(c, conflict(fmt.Sprintf("revision %d did not succeed (%s): roll back to a revision that did", d.Revision, d.Status)))
		return
	}
	if s.cfg.Runs == nil {
		fail(c, errorf(http.StatusServiceUnavailable, CodeUnavailable, "the workflow service is unavailable; try again shortly"))
		return
	}
	deps := s.store.Deployments()
	svc, err := deps.GetServiceByID(c, tenant.ID, d.ServiceID)
	if err != nil {
		fail(c, err)
		return
	}
	env, err := deps.GetEnvironmentByID(c, tenant.ID, d.EnvironmentID)
	if err != nil {
		fail(c, err)
		return
	}
	wf, err := s.cfg.Runs.Rollback(c, tenant, d, svc.Name, env.Name, actorName(c))
	if err != nil {
		fail(c, err)
		return
	}
	org := orgOf(c)
	if _, err := s.store.Audit().Insert(c, auditEntry(c, org.ID, &tenant.ID, "deployment.rollback", "service", svc.Name,
		map[string]any{"environment": env.Name, "to_revision": d.Revision})); err != nil {
		logger(c).Error("auditing a rollback failed", "error", err)
	}
	c.JSON(http.StatusAccepted, gin.H{"service": svc.Name, "environment": env.Name, "to_revision": d.Revision, "image": d.Image, "workflow_id": wf})
}
