package api

import (
	"context"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/workflows"
)

// RunService starts and steers a tenant's runs on Temporal: what the run
// and deployment routes need of runclient.Service. The API depends on these
// methods, not on the service's wiring, so that it links no part of the
// engine's workers.
type RunService interface {
	// Start records a run of p and starts its workflow.
	Start(ctx context.Context, org db.Organization, tenant db.Tenant, p db.Pipeline, t runclient.Trigger) (db.Run, error)
	// Cancel asks the run's workflow to stop.
	Cancel(ctx context.Context, r db.Run) error
	// Decide approves or rejects the run's approval gate stage.
	Decide(ctx context.Context, r db.Run, stage string, approve bool, who, reason string) (workflows.StageState, error)
	// Rollback deploys deployment d's image and settings again, as a new
	// revision, and returns the deploy workflow's ID.
	Rollback(ctx context.Context, tenant db.Tenant, d db.Deployment, service, environment, actor string) (string, error)
	// UILink is the Temporal Web UI's page of the run, or "".
	UILink(r db.Run) string
}

var _ RunService = (*runclient.Service)(nil)
