package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
	"github.com/buildit-ci/buildit/pipeline"
)

// Target is where deployments go: a Kubernetes cluster or a Fly.io app.
type Target struct {
	ID       uuid.UUID
	TenantID uuid.UUID
	Name     string
	Kind     pipeline.TargetKind
	// Settings are the kind's settings as JSON (namespace, app, region…),
	// opaque to this package.
	Settings json.RawMessage
	// CredentialsSecret names the tenant secret holding the credentials.
	CredentialsSecret string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// TargetSpec is a target's content: what PutTarget takes.
type TargetSpec struct {
	Name              string
	Kind              pipeline.TargetKind
	Settings          json.RawMessage
	CredentialsSecret string
}

// Environment is a stage of delivery (staging, production) with the rules
// a deployment to it must pass.
type Environment struct {
	ID         uuid.UUID
	TenantID   uuid.UUID
	Name       string
	Protection Protection
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Protection is what an environment demands of a deployment.
type Protection struct {
	RequireApproval bool
	// AllowedBranches are the branch globs that may deploy; none means any.
	AllowedBranches []string
}

// protectionJSON is how Protection is stored.
type protectionJSON struct {
	RequireApproval bool     `json:"require_approval,omitempty"`
	AllowedBranches []string `json:"allowed_branches,omitempty"`
}

// Service is something deployed: an application with its settings.
type Service struct {
	ID       uuid.UUID
	TenantID uuid.UUID
	Name     string
	// Settings as JSON (replicas, port, health check…), opaque to this
	// package.
	Settings  json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Deployment is one deployment of a service's image to an environment.
// Revision counts the deployments of the service to the environment from 1.
type Deployment struct {
	ID            uuid.UUID
	TenantID      uuid.UUID
	ServiceID     uuid.UUID
	EnvironmentID uuid.UUID
	Revision      int
	Image         string
	Status        buildit.DeployStatus
	Actor         string
	// RunID is the run that deployed, while it exists.
	RunID *uuid.UUID
	// PreviousRevision is the revision that was live (the last succeeded
	// one) when this deployment was created, for a rollback.
	PreviousRevision *int
	CreatedAt        time.Time
	FinishedAt       *time.Time
	// Target is the name of the target it went to; Spec what it applied
	// (JSON, opaque to this package); StageID the deploy stage of the run.
	Target  string
	Spec    json.RawMessage
	StageID string
	// Message says how it ended; RolledBackTo is the revision a failed
	// deployment went back to.
	Message      string
	RolledBackTo *int
}

// NewDeployment is what Create needs; the deployment starts pending.
type NewDeployment struct {
	ServiceID     uuid.UUID
	EnvironmentID uuid.UUID
	Image         string
	Actor         string
	RunID         *uuid.UUID
	Target        string
	Spec          json.RawMessage
	// StageID, with RunID, makes Create idempotent: a run's stage has one
	// deployment, which a second Create returns.
	StageID string
}

// DeploymentRepo holds targets, environments, services and deployments.
type DeploymentRepo struct{ h handle }

// PutTarget creates or replaces tenantID's target named t.Name.
func (r DeploymentRepo) PutTarget(ctx context.Context, tenantID uuid.UUID, t TargetSpec) (Target, error) {
	if !t.Kind.Valid() {
		return Target{}, invalid("target kind %q", t.Kind)
	}
	row, err := r.h.q.PutTarget(ctx, sqlcdb.PutTargetParams{
		TenantID: tenantID, Name: t.Name, Kind: string(t.Kind), Settings: jsonObject(t.Settings), CredentialsSecret: t.CredentialsSecret,
	})
	return toTarget(row), wrap(err, "put target %q", t.Name)
}

// GetTarget returns tenantID's target name.
func (r DeploymentRepo) GetTarget(ctx context.Context, tenantID uuid.UUID, name string) (Target, error) {
	row, err := r.h.q.GetTarget(ctx, sqlcdb.GetTargetParams{TenantID: tenantID, Name: name})
	return toTarget(row), wrap(err, "get target %q", name)
}

// ListTargets lists a tenant's targets by name.
func (r DeploymentRepo) ListTargets(ctx context.Context, tenantID uuid.UUID, after string, limit int) (Page[Target], error) {
	from, err := decodeNameCursor(after)
	if err != nil {
		return Page[Target]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListTargets(ctx, sqlcdb.ListTargetsParams{TenantID: tenantID, After: from, Lim: int32(size + 1)})
	if err != nil {
		return Page[Target]{}, wrap(err, "list targets of tenant %s", tenantID)
	}
	return pageOf(rows, size, toTarget, func(row sqlcdb.Target) string { return nameCursor(row.Name) }), nil
}

// DeleteTarget deletes tenantID's target name.
func (r DeploymentRepo) DeleteTarget(ctx context.Context, tenantID uuid.UUID, name string) error {
	n, err := r.h.q.DeleteTarget(ctx, sqlcdb.DeleteTargetParams{TenantID: tenantID, Name: name})
	return wrap(affected(n, err), "delete target %q", name)
}

// PutEnvironment creates or replaces tenantID's environment name.
func (r DeploymentRepo) PutEnvironment(ctx context.Context, tenantID uuid.UUID, name string, p Protection) (Environment, error) {
	prot, err := json.Marshal(protectionJSON(p))
	if err != nil {
		return Environment{}, fmt.Errorf("put environment %q: %w", name, err)
	}
	row, err := r.h.q.PutEnvironment(ctx, sqlcdb.PutEnvironmentParams{TenantID: tenantID, Name: name, Protection: prot})
	if err != nil {
		return Environment{}, wrap(err, "put environment %q", name)
	}
	return toEnvironment(row)
}

// GetEnvironment returns tenantID's environment name.
func (r DeploymentRepo) GetEnvironment(ctx context.Context, tenantID uuid.UUID, name string) (Environment, error) {
	row, err := r.h.q.GetEnvironment(ctx, sqlcdb.GetEnvironmentParams{TenantID: tenantID, Name: name})
	if err != nil {
		return Environment{}, wrap(err, "get environment %q", name)
	}
	return toEnvironment(row)
}

// ListEnvironments lists a tenant's environments by name.
func (r DeploymentRepo) ListEnvironments(ctx context.Context, tenantID uuid.UUID, after string, limit int) (Page[Environment], error) {
	from, err := decodeNameCursor(after)
	if err != nil {
		return Page[Environment]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListEnvironments(ctx, sqlcdb.ListEnvironmentsParams{TenantID: tenantID, After: from, Lim: int32(size + 1)})
	if err != nil {
		return Page[Environment]{}, wrap(err, "list environments of tenant %s", tenantID)
	}
	var convErr error
	page := pageOf(rows, size,
		func(row sqlcdb.Environment) Environment {
			e, err := toEnvironment(row)
			if err != nil && convErr == nil {
				convErr = err
			}
			return e
		},
		func(row sqlcdb.Environment) string { return nameCursor(row.Name) })
	return page, convErr
}

// DeleteEnvironment deletes tenantID's environment name with its
// deployment history.
func (r DeploymentRepo) DeleteEnvironment(ctx context.Context, tenantID uuid.UUID, name string) error {
	n, err := r.h.q.DeleteEnvironment(ctx, sqlcdb.DeleteEnvironmentParams{TenantID: tenantID, Name: name})
	return wrap(affected(n, err), "delete environment %q", name)
}

// PutService creates or replaces tenantID's service name.
func (r DeploymentRepo) PutService(ctx context.Context, tenantID uuid.UUID, name string, settings json.RawMessage) (Service, error) {
	row, err := r.h.q.PutService(ctx, sqlcdb.PutServiceParams{TenantID: tenantID, Name: name, Settings: jsonObject(settings)})
	return Service(row), wrap(err, "put service %q", name)
}

// GetService returns tenantID's service name.
func (r DeploymentRepo) GetService(ctx context.Context, tenantID uuid.UUID, name string) (Service, error) {
	row, err := r.h.q.GetService(ctx, sqlcdb.GetServiceParams{TenantID: tenantID, Name: name})
	return Service(row), wrap(err, "get service %q", name)
}

// GetServiceByID returns tenantID's service with id.
func (r DeploymentRepo) GetServiceByID(ctx context.Context, tenantID, id uuid.UUID) (Service, error) {
	row, err := r.h.q.GetServiceByID(ctx, sqlcdb.GetServiceByIDParams{TenantID: tenantID, ID: id})
	return Service(row), wrap(err, "get service %s", id)
}

// GetEnvironmentByID returns tenantID's environment with id.
func (r DeploymentRepo) GetEnvironmentByID(ctx context.Context, tenantID, id uuid.UUID) (Environment, error) {
	row, err := r.h.q.GetEnvironmentByID(ctx, sqlcdb.GetEnvironmentByIDParams{TenantID: tenantID, ID: id})
	if err != nil {
		return Environment{}, wrap(err, "get environment %s", id)
	}
	return toEnvironment(row)
}

// ListServices lists a tenant's services by name.
func (r DeploymentRepo) ListServices(ctx context.Context, tenantID uuid.UUID, after string, limit int) (Page[Service], error) {
	from, err := decodeNameCursor(after)
	if err != nil {
		return Page[Service]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListServices(ctx, sqlcdb.ListServicesParams{TenantID: tenantID, After: from, Lim: int32(size + 1)})
	if err != nil {
		return Page[Service]{}, wrap(err, "list services of tenant %s", tenantID)
	}
	return pageOf(rows, size,
		func(row sqlcdb.Service) Service { return Service(row) },
		func(row sqlcdb.Service) string { return nameCursor(row.Name) }), nil
}

// ServiceNames maps the ids of those of tenantID's services that are among
// ids to their names.
func (r DeploymentRepo) ServiceNames(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	rows, err := r.h.q.ServiceNames(ctx, sqlcdb.ServiceNamesParams{TenantID: tenantID, Ids: ids})
	if err != nil {
		return nil, wrap(err, "names of services of tenant %s", tenantID)
	}
	names := make(map[uuid.UUID]string, len(rows))
	for _, row := range rows {
		names[row.ID] = row.Name
	}
	return names, nil
}

// DeleteService deletes tenantID's service name with its deployment
// history.
func (r DeploymentRepo) DeleteService(ctx context.Context, tenantID uuid.UUID, name string) error {
	n, err := r.h.q.DeleteService(ctx, sqlcdb.DeleteServiceParams{TenantID: tenantID, Name: name})
	return wrap(affected(n, err), "delete service %q", name)
}

// Create records a pending deployment of a service to an environment with
// the next revision of that pair, and the last succeeded revision as the
// previous one. A service, environment or run that is not tenantID's is
// ErrNotFound or ErrInvalid.
func (r DeploymentRepo) Create(ctx context.Context, tenantID uuid.UUID, d NewDeployment) (Deployment, error) {
	var out Deployment
	err := r.h.atomic(ctx, func(h handle) error {
		// Concurrent deployments of one service wait here, so each
		// computes its revision from the other's committed row.
		if _, err := h.q.LockService(ctx, sqlcdb.LockServiceParams{TenantID: tenantID, ID: d.ServiceID}); err != nil {
			return err
		}
		if d.RunID != nil && d.StageID != "" {
			row, err := h.q.GetRunStageDeployment(ctx, sqlcdb.GetRunStageDeploymentParams{TenantID: tenantID, RunID: d.RunID, StageID: d.StageID})
			if err == nil {
				out = toDeployment(row)
				return nil
			}
			if !errors.Is(translate(err), ErrNotFound) {
				return err
			}
		}
		row, err := h.q.CreateDeployment(ctx, sqlcdb.CreateDeploymentParams{
			TenantID:      tenantID,
			ServiceID:     d.ServiceID,
			EnvironmentID: d.EnvironmentID,
			Image:         d.Image,
			Status:        string(buildit.DeployPending),
			Actor:         d.Actor,
			RunID:         d.RunID,
			Target:        d.Target,
			Spec:          jsonObject(d.Spec),
			StageID:       d.StageID,
		})
		out = toDeployment(row)
		return err
	})
	return out, wrap(err, "create deployment of service %s", d.ServiceID)
}

// Get returns tenantID's deployment with id.
func (r DeploymentRepo) Get(ctx context.Context, tenantID, id uuid.UUID) (Deployment, error) {
	row, err := r.h.q.GetDeployment(ctx, sqlcdb.GetDeploymentParams{TenantID: tenantID, ID: id})
	return toDeployment(row), wrap(err, "get deployment %s", id)
}

// List lists a tenant's deployments of every service, newest first.
func (r DeploymentRepo) List(ctx context.Context, tenantID uuid.UUID, after string, limit int) (Page[Deployment], error) {
	t, id, err := decodeTimeIDCursor(after, maxTime, uuid.Max)
	if err != nil {
		return Page[Deployment]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListDeployments(ctx, sqlcdb.ListDeploymentsParams{TenantID: tenantID, BeforeTime: t, BeforeID: id, Lim: int32(size + 1)})
	if err != nil {
		return Page[Deployment]{}, wrap(err, "list deployments of tenant %s", tenantID)
	}
	return pageOf(rows, size, toDeployment, func(row sqlcdb.Deployment) string { return timeIDCursor(row.CreatedAt, row.ID) }), nil
}

// History lists the deployments of a service to an environment, newest
// revision first.
func (r DeploymentRepo) History(ctx context.Context, tenantID, serviceID, environmentID uuid.UUID, after string, limit int) (Page[Deployment], error) {
	before, err := decodeNumberCursor(after, math.MaxInt32)
	if err != nil {
		return Page[Deployment]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListServiceDeployments(ctx, sqlcdb.ListServiceDeploymentsParams{
		TenantID: tenantID, ServiceID: serviceID, EnvironmentID: environmentID, BeforeRevision: int32(min(before, math.MaxInt32)), Lim: int32(size + 1),
	})
	if err != nil {
		return Page[Deployment]{}, wrap(err, "list deployments of service %s", serviceID)
	}
	return pageOf(rows, size, toDeployment, func(row sqlcdb.Deployment) string { return numberCursor(int64(row.Revision)) }), nil
}

// SetStatus sets a deployment's status; a final one sets FinishedAt once.
func (r DeploymentRepo) SetStatus(ctx context.Context, tenantID, id uuid.UUID, status buildit.DeployStatus) (Deployment, error) {
	if !status.Valid() {
		return Deployment{}, invalid("deployment status %q", status)
	}
	row, err := r.h.q.SetDeploymentStatus(ctx, sqlcdb.SetDeploymentStatusParams{TenantID: tenantID, ID: id, Status: string(status)})
	return toDeployment(row), wrap(err, "set status of deployment %s", id)
}

// GetRevision returns revision rev of a service's deployments to an
// environment.
func (r DeploymentRepo) GetRevision(ctx context.Context, tenantID, serviceID, environmentID uuid.UUID, rev int) (Deployment, error) {
	row, err := r.h.q.GetDeploymentByRevision(ctx, sqlcdb.GetDeploymentByRevisionParams{
		TenantID: tenantID, ServiceID: serviceID, EnvironmentID: environmentID, Revision: int32(rev),
	})
	return toDeployment(row), wrap(err, "get revision %d of service %s", rev, serviceID)
}

// Finish records how a deployment ended: its final status, why, and the
// revision it rolled back to (nil when none).
func (r DeploymentRepo) Finish(ctx context.Context, tenantID, id uuid.UUID, status buildit.DeployStatus, message string, rolledBackTo *int) (Deployment, error) {
	if !status.Terminal() {
		return Deployment{}, invalid("final deployment status %q", status)
	}
	var to *int32
	if rolledBackTo != nil {
		to = new(int32(*rolledBackTo))
	}
	row, err := r.h.q.FinishDeployment(ctx, sqlcdb.FinishDeploymentParams{TenantID: tenantID, ID: id, Status: string(status), Message: message, RolledBackTo: to})
	return toDeployment(row), wrap(err, "finish deployment %s", id)
}

// ListForEnvironment lists an environment's deployments of every service,
// newest first.
func (r DeploymentRepo) ListForEnvironment(ctx context.Context, tenantID, environmentID uuid.UUID, after string, limit int) (Page[Deployment], error) {
	t, id, err := decodeTimeIDCursor(after, maxTime, uuid.Max)
	if err != nil {
		return Page[Deployment]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListEnvironmentDeployments(ctx, sqlcdb.ListEnvironmentDeploymentsParams{
		TenantID: tenantID, EnvironmentID: environmentID, BeforeTime: t, BeforeID: id, Lim: int32(size + 1),
	})
	if err != nil {
		return Page[Deployment]{}, wrap(err, "list deployments of environment %s", environmentID)
	}
	return pageOf(rows, size, toDeployment, func(row sqlcdb.Deployment) string { return timeIDCursor(row.CreatedAt, row.ID) }), nil
}

// jsonObject stores absent settings as an empty object.
func jsonObject(v json.RawMessage) json.RawMessage {
	if len(v) == 0 {
		return json.RawMessage("{}")
	}
	return v
}

func toTarget(row sqlcdb.Target) Target {
	return Target{
		ID:                row.ID,
		TenantID:          row.TenantID,
		Name:              row.Name,
		Kind:              pipeline.TargetKind(row.Kind),
		Settings:          row.Settings,
		CredentialsSecret: row.CredentialsSecret,
		CreatedAt:         row.CreatedAt,
		UpdatedAt:         row.UpdatedAt,
	}
}

func toEnvironment(row sqlcdb.Environment) (Environment, error) {
	var p protectionJSON
	if err := json.Unmarshal(row.Protection, &p); err != nil {
		return Environment{}, fmt.Errorf("environment %q: protection: %w", row.Name, err)
	}
	return Environment{
		ID:         row.ID,
		TenantID:   row.TenantID,
		Name:       row.Name,
		Protection: Protection(p),
		CreatedAt:  row.CreatedAt,
		UpdatedAt:  row.UpdatedAt,
	}, nil
}

func toDeployment(row sqlcdb.Deployment) Deployment {
	d := Deployment{
		ID:            row.ID,
		TenantID:      row.TenantID,
		ServiceID:     row.ServiceID,
		EnvironmentID: row.EnvironmentID,
		Revision:      int(row.Revision),
		Image:         row.Image,
		Status:        buildit.DeployStatus(row.Status),
		Actor:         row.Actor,
		RunID:         row.RunID,
		CreatedAt:     row.CreatedAt,
		FinishedAt:    row.FinishedAt,
		Target:        row.Target,
		Spec:          row.Spec,
		StageID:       row.StageID,
		Message:       row.Message,
	}
	if row.PreviousRevision != nil {
		d.PreviousRevision = new(int(*row.PreviousRevision))
	}
	if row.RolledBackTo != nil {
		d.RolledBackTo = new(int(*row.RolledBackTo))
	}
	return d
}
