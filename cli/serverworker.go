package cli

import (
	"fmt"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/buildit-ci/buildit/schedules"
	"github.com/buildit-ci/buildit/triggers"
	"github.com/buildit-ci/buildit/workflows"
)

// startServerWorker starts the worker of the server's own task queue
// (workflows.ServerTaskQueue of taskQueue): the workflows webhooks and
// schedules start, which need the run service's settings and so run in
// buildit server and buildit dev rather than in buildit worker.
func startServerWorker(c client.Client, taskQueue string, d *triggers.Deps) (stop func(), err error) {
	w := sdkworker.New(c, workflows.ServerTaskQueue(taskQueue), sdkworker.Options{})
	triggers.Register(w, d)
	schedules.Register(w, d)
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start the server's worker: %w", err)
	}
	return w.Stop, nil
}
