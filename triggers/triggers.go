// Package triggers turns what happens in a connected repository into runs:
// the RepositoryEvent workflow a verified webhook starts (one per
// delivery) reads the repository's pipelines at the event's commit,
// validates them, and starts a run of each whose `on` matches. It runs on
// the server's own task queue (workflows.ServerTaskQueue), in buildit
// server and buildit dev, which hold the run service's settings.
package triggers

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/runclient"
)

// Deps is what the server-side workflows' activities need.
type Deps struct {
	Store *db.Store
	// Runs starts runs, as the API does.
	Runs *runclient.Service
	// Client reaches Temporal.
	Client client.Client
	// Schedules keeps pipelines' Temporal Schedules in step with their
	// plans; nil when schedules are off.
	Schedules ScheduleSyncer
	Log       *slog.Logger
	// PipelineLimits bound the pipelines read from repositories, as the
	// API's bound those pushed to it (zero: the defaults).
	PipelineLimits pipeline.Limits
	// HTTPClient posts commit statuses of files that fail before any run
	// starts; nil: the forge package's default.
	HTTPClient *http.Client
}

// ScheduleSyncer keeps the Temporal Schedules of a pipeline in step with
// its plan's `on { schedule … }`: after a pipeline is created or its
// source changes (through the API or a push to its repository's default
// branch) Sync creates, updates and deletes them; after it is deleted,
// Delete removes them. Both are idempotent.
type ScheduleSyncer interface {
	Sync(ctx context.Context, p db.Pipeline) error
	Delete(ctx context.Context, tenantID, pipelineID uuid.UUID) error
}

// Register registers the package's workflows and activities on r.
func Register(r worker.Registry, d *Deps) {
	r.RegisterWorkflowWithOptions(RepositoryEvent, workflow.RegisterOptions{Name: RepositoryEventWorkflow})
	a := &Activities{d: d}
	r.RegisterActivityWithOptions(a.StartRepositoryRuns, activity.RegisterOptions{Name: StartRepositoryRunsActivity})
}
