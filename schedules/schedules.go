// Package schedules keeps a Temporal Schedule for every `schedule` of
// every pipeline (created, updated and deleted with the pipeline's
// source) and runs what they start: the ScheduledRun workflow, on the
// server's task queue, starts a run of the pipeline and waits for it, so
// that the schedule's overlap policy applies to runs.
package schedules

import (
	"go.temporal.io/sdk/worker"

	"github.com/buildit-ci/buildit/triggers"
)

// Register registers the package's workflows and activities on r.
func Register(r worker.Registry, d *triggers.Deps) {
	// TODO(schedules): ScheduledRun and its activities.
}
