package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/docker"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/worker"
	"github.com/buildit-ci/buildit/workflows"
)

type workerFlags struct {
	temporalAddress, namespace, taskQueue, executor string
	maxStages                                       int
}

func newWorkerCommand(a *app) *cobra.Command {
	f := &workerFlags{}
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run pipeline stages for a Temporal cluster",
		Long: `Worker polls a Temporal task queue and runs what BuildIt's workflows ask
for: PipelineRun workflow tasks and stage activities, on the host shell and,
when a Docker engine answers, in containers.

SIGINT or SIGTERM stops it gracefully: it takes no new work, and stages
still running get 10 seconds to notice the stop and clean up (their
containers are removed); Temporal then gives them to another worker after
their heartbeat timeout, which attaches to containers still running.

Stage output goes to this process's log for now (one JSON line per output
line, secrets masked); storing it in Postgres for the API comes with server
mode.`,
		Example: `  buildit worker --temporal-address temporal:7233
  BUILDIT_TEMPORAL_ADDRESS=localhost:7233 buildit worker --executor host`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runWorker(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.temporalAddress, "temporal-address", env("BUILDIT_TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend `HOST:PORT` (env BUILDIT_TEMPORAL_ADDRESS)")
	fl.StringVar(&f.namespace, "namespace", env("BUILDIT_NAMESPACE", "default"), "Temporal namespace (env BUILDIT_NAMESPACE)")
	fl.StringVar(&f.taskQueue, "task-queue", env("BUILDIT_TASK_QUEUE", workflows.DefaultTaskQueue), "task queue to poll (env BUILDIT_TASK_QUEUE)")
	fl.StringVar(&f.executor, "executor", env("BUILDIT_EXECUTOR", "auto"), "auto (Docker when an engine answers, else host only), host, or docker (env BUILDIT_EXECUTOR)")
	fl.IntVar(&f.maxStages, "max-stages", envInt("BUILDIT_MAX_STAGES", 0), "most stages run at once; 0 for the SDK's default (env BUILDIT_MAX_STAGES)")
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

func (a *app) runWorker(ctx context.Context, f *workerFlags) error {
	level := slog.LevelInfo
	if a.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	acts := &activities.Activities{Host: host.New(), Sink: logSink{log}, Logger: log}
	switch f.executor {
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
			acts.Docker = d
			defer d.Close()
		case f.executor == "docker":
			return usageError(fmt.Errorf("--executor docker: %v", err))
		default:
			log.Warn("no Docker engine: stages with an image will fail on this worker", "error", err)
		}
	default:
		return usageError(fmt.Errorf("unknown --executor %q: want auto, host or docker", f.executor))
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
	w := worker.New(c, acts, worker.Options{TaskQueue: f.taskQueue, MaxConcurrentStages: f.maxStages})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	log.Info("worker started", "temporal", f.temporalAddress, "namespace", f.namespace, "task_queue", f.taskQueue, "docker", acts.Docker != nil)
	sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-sctx.Done()
	log.Info("worker stopping")
	w.Stop()
	log.Info("worker stopped")
	return nil
}
