package cli

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/schedules"
	"github.com/buildit-ci/buildit/triggers"
	"github.com/buildit-ci/buildit/workflows"
)

// serverWorkerActivities bounds the activities the server's worker runs
// at once: each StartRepositoryRuns fetches a repository's pipelines with
// git, and the API shares the server's CPU, so a burst of webhooks queues
// in Temporal rather than in this process.
const serverWorkerActivities = 4

// startServerWorker starts the worker of the server's own task queue
// (workflows.ServerTaskQueue of taskQueue): the workflows webhooks and
// schedules start, which need the run service's settings and so run in
// buildit server and buildit dev rather than in buildit worker. It also
// starts the dispatcher of webhook deliveries that starts the webhooks'
// workflows, returned for the API (api.Config.Hooks).
func startServerWorker(c client.Client, taskQueue string, d *triggers.Deps) (hooks *triggers.Dispatcher, stop func(), err error) {
	w := sdkworker.New(c, workflows.ServerTaskQueue(taskQueue), sdkworker.Options{
		MaxConcurrentActivityExecutionSize: serverWorkerActivities,
	})
	triggers.Register(w, d)
	schedules.Register(w, d)
	if err := w.Start(); err != nil {
		return nil, nil, fmt.Errorf("start the server's worker: %w", err)
	}
	hooks, stopHooks := startDispatcher(triggers.Starter{Client: c, TaskQueue: taskQueue}, d.Store, d.Log)
	return hooks, func() {
		stopHooks()
		w.Stop()
	}, nil
}

// startDispatcher runs a dispatcher of webhook deliveries until stop.
func startDispatcher(starter triggers.EventStarter, store *db.Store, log *slog.Logger) (*triggers.Dispatcher, func()) {
	hooks := triggers.NewDispatcher(starter, store, log, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { hooks.Run(ctx) })
	return hooks, func() {
		cancel()
		wg.Wait()
	}
}
