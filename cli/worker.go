package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/deploy/backends"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/docker"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/worker"
	"github.com/buildit-ci/buildit/workerstore"
	"github.com/buildit-ci/buildit/workflows"
)

type workerFlags struct {
	temporalAddress, namespace, taskQueue, executor string
	databaseURL, secretKey, workDir, hostID         string
	maxStages                                       int
	allowHostStages                                 bool
	clone                                           cloneFlags
	blobs                                           blobFlags
}

func newWorkerCommand(a *app) *cobra.Command {
	f := &workerFlags{}
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run pipeline stages for a Temporal cluster",
		Long: `Worker polls a Temporal task queue and runs what BuildIt's workflows ask
for: PipelineRun workflow tasks and stage activities, on the host shell and,
when a Docker engine answers, in containers.

A run started through the API prepares its workspace (a checkout of the
run's repository, or an empty folder under --work-dir) on whichever worker
takes it first, and then sends its stages to that worker's host queue
(TASK-QUEUE/host/HOST-ID), so that every stage sees the same files. If that
host goes away, the next stage finds no taker within a minute and the run
prepares its workspace again on another worker and goes on there.

A run's repository is an https://, ssh:// or user@host:path URL (http://
too with --allow-http-repositories; never a path on this machine, file://,
git:// or one of git's remote helpers). git clones it with none of the
worker's environment or git configuration, no prompts, hooks or
submodules, within --clone-timeout and --clone-max-size; ssh:// runs
ssh in batch mode as this process's user.

With DATABASE_URL (and BUILDIT_SECRET_KEY for tenant secrets) the worker
records runs and their stages in Postgres and stores stage logs there, for
the API; without it, stage output goes to this process's log.

Stages without an image of runs started through the API are refused
(the API gives them --default-image, or refuses the run) unless
--allow-host-stages says that this worker may run them on its host: for a
single-tenant setup only, as every pipeline then runs commands here. A host
stage gets only its own environment (never the worker's DATABASE_URL or
BUILDIT_SECRET_KEY) and, when the worker runs as root, a user of its run's
own (uid 2000000-2999999), HOME and TMPDIR in its run's own folder, and no
way to list the other runs' workspaces.

SIGINT or SIGTERM stops it gracefully: it takes no new work, and stages
still running get 10 seconds to notice the stop and clean up (their
containers are removed); Temporal then gives them to another worker after
their heartbeat timeout, which attaches to containers still running.`,
		Example: `  buildit worker --temporal-address temporal:7233
  DATABASE_URL=postgres://buildit@db/buildit buildit worker --executor host`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runWorker(cmd.Context(), f) },
	}
	host, _ := os.Hostname()
	fl := cmd.Flags()
	fl.StringVar(&f.temporalAddress, "temporal-address", env("BUILDIT_TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend `HOST:PORT` (env BUILDIT_TEMPORAL_ADDRESS)")
	fl.StringVar(&f.namespace, "namespace", env("BUILDIT_NAMESPACE", "default"), "Temporal namespace (env BUILDIT_NAMESPACE)")
	fl.StringVar(&f.taskQueue, "task-queue", env("BUILDIT_TASK_QUEUE", workflows.DefaultTaskQueue), "task queue to poll (env BUILDIT_TASK_QUEUE)")
	fl.StringVar(&f.executor, "executor", env("BUILDIT_EXECUTOR", "auto"), "auto (Docker when an engine answers, else host only), host, or docker (env BUILDIT_EXECUTOR)")
	fl.IntVar(&f.maxStages, "max-stages", envInt("BUILDIT_MAX_STAGES", 0), "most stages run at once; 0 for the SDK's default (env BUILDIT_MAX_STAGES)")
	fl.StringVar(&f.databaseURL, "database-url", env("DATABASE_URL", ""), "Postgres URL: record runs and store logs there (env DATABASE_URL)")
	fl.StringVar(&f.secretKey, "secret-key", "", "key opening tenant secrets, as for buildit server (env BUILDIT_SECRET_KEY; prefer the environment)")
	fl.StringVar(&f.workDir, "work-dir", env("BUILDIT_WORK_DIR", ""), "where run workspaces are made (env BUILDIT_WORK_DIR; default a folder under the system's temp dir)")
	fl.StringVar(&f.hostID, "host-id", env("BUILDIT_HOST_ID", host), "names this host's workspace queue; workers sharing a work dir share it (env BUILDIT_HOST_ID)")
	f.blobs.register(cmd, defaultServerBlobDir(), true)
	fl.BoolVar(&f.allowHostStages, "allow-host-stages", envBool("BUILDIT_ALLOW_HOST_STAGES"), "run stages without an image on this host, outside any container: only for a single-tenant setup where everyone who can push a pipeline is trusted with this host (env BUILDIT_ALLOW_HOST_STAGES)")
	f.clone.register(cmd)
	return cmd
}

func envInt(name string, fallback int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return fallback
}

// logSink writes stage output to the worker's log.
type logSink struct{ log *slog.Logger }

func (s logSink) WriteLine(stage string, stream executor.Stream, line string) {
	s.log.Info("stage output", "stage", stage, "stream", stream.String(), "line", line)
}

// workerActivities makes the activities of a worker: the host executor
// (whose stages do not inherit the worker's environment), Docker per mode,
// the deploy backends, workspaces under workDir on hostQueue, host stages
// of server-mode runs when allowHost, and, with a store, run records, logs,
// tenant secrets and deployments in Postgres. release frees the Docker
// client.
func workerActivities(ctx context.Context, mode, workDir, hostQueue string, allowHost bool, store *db.Store, log *slog.Logger) (acts *activities.Activities, release func(), err error) {
	acts = activities.New(activities.Shared{Sink: logSink{log}, Logger: log})
	acts.Stages.Host, acts.Stages.AllowHostStages = host.New(host.Options{}), allowHost
	acts.Server.WorkRoot, acts.Server.HostQueue = workDir, hostQueue
	acts.Deploys.Backends = backends.For
	if allowHost {
		warnHostStages(log)
	}
	release = func() {}
	switch mode {
	case "host":
	case "auto", "docker":
		// No run ends on this worker, so each stage removes its run's
		// network when it was the last user (KeepRunNetwork off).
		d, err := docker.NewFromEnv(docker.Options{Logger: log})
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err = d.Ping(pctx); err != nil {
				_ = d.Close()
			}
			cancel()
		}
		switch {
		case err == nil:
			acts.Stages.Docker = d
			release = func() { _ = d.Close() }
		case mode == "docker":
			return nil, nil, usageError(fmt.Errorf("--executor docker: %w", err))
		default:
			log.Warn("no Docker engine: stages with an image will fail on this worker", "error", err)
		}
	default:
		return nil, nil, usageError(fmt.Errorf("unknown --executor %q: want auto, host or docker", mode))
	}
	if store != nil {
		workerstore.WorkerActivities(acts, store, log)
	}
	return acts, release, nil
}

// warnHostStages says at start what --allow-host-stages means on this
// worker: who its host stages run as.
func warnHostStages(log *slog.Logger) {
	const what = "--allow-host-stages: stages without an image run on this host, outside any container, with only their own environment; every pipeline runs commands on this host, so everyone who can push a pipeline must be trusted with it"
	if os.Geteuid() == 0 {
		log.Warn(what, "stage_users", "a uid of each run's own, 2000000-2999999")
		return
	}
	log.Warn(what+"; this worker is not root, so host stages run as its own user and can read and change whatever it can, the other runs' workspaces included (run it as root to give each run a user of its own)",
		"stage_users", "this worker's uid "+strconv.Itoa(os.Geteuid()))
}

// startWorkers starts the two workers of a process: the shared task queue
// (workflows and any activity) and this host's workspace queue. stop stops
// both gracefully.
func startWorkers(c client.Client, acts *activities.Activities, taskQueue string, maxStages int) (stop func(), err error) {
	opts := worker.Options{TaskQueue: taskQueue, MaxConcurrentStages: maxStages}
	shared := worker.New(c, acts, opts)
	if err := shared.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	hostw := worker.NewHost(c, acts, opts)
	if err := hostw.Start(); err != nil {
		shared.Stop()
		return nil, fmt.Errorf("start the host queue's worker: %w", err)
	}
	return func() {
		var wg sync.WaitGroup
		for _, w := range []sdkworker.Worker{shared, hostw} {
			wg.Add(1)
			go func() { defer wg.Done(); w.Stop() }()
		}
		wg.Wait()
	}, nil
}

func (a *app) runWorker(ctx context.Context, f *workerFlags) error {
	log := a.jsonLogger()
	clone, err := f.clone.options(log)
	if err != nil {
		return err
	}
	if err := f.blobs.check(); err != nil {
		return err
	}
	var store *db.Store
	if f.databaseURL != "" {
		box, err := secretBox(f.secretKey, log)
		if err != nil {
			return err
		}
		pg, err := storeOptions{url: f.databaseURL, box: box}.open(ctx, log)
		if err != nil {
			return err
		}
		defer pg.Close()
		store = pg.store
	} else {
		log.Warn("no DATABASE_URL: runs started through the API cannot be recorded by this worker; stage output goes to this log")
	}
	if f.hostID == "" {
		return usageError(fmt.Errorf("--host-id is empty and the hostname is unknown"))
	}
	hostQueue := worker.HostQueue(f.taskQueue, f.hostID)
	acts, closeActs, err := workerActivities(ctx, f.executor, f.workDir, hostQueue, f.allowHostStages, store, log)
	if err != nil {
		return err
	}
	acts.Server.Clone = clone
	defer closeActs()
	if store != nil {
		blobs, err := f.blobs.open(ctx, log)
		if err != nil {
			return err
		}
		defer blobs.Close()
		f.blobs.setArtifacts(acts, blobs, store)
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  f.temporalAddress,
		Namespace: f.namespace,
		Logger:    tlog.NewStructuredLogger(log),
	})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", f.temporalAddress, err)
	}
	defer c.Close()
	stopWorkers, err := startWorkers(c, acts, f.taskQueue, f.maxStages)
	if err != nil {
		return err
	}
	log.Info("worker started", "temporal", f.temporalAddress, "namespace", f.namespace, "task_queue", f.taskQueue,
		"host_queue", hostQueue, "docker", acts.Stages.Docker != nil, "database", store != nil)
	sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-sctx.Done()
	log.Info("worker stopping")
	stopWorkers()
	log.Info("worker stopped")
	return nil
}
