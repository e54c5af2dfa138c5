package cli

import (
	"context"
	"log/slog"
	"time"

	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/docker"
)

// newDockerExecutor connects to the Docker engine that DOCKER_HOST names (the
// local socket by default) and returns the executor and the function that
// removes everything a run left behind (containers, the run's network).
//
// The run's network is kept between stages and removed once at the end of
// the run: creating a bridge network costs about 0.2 s here, which every
// stage of a sequential chain would otherwise pay.
func newDockerExecutor(ctx context.Context, logger *slog.Logger) (executor.Executor, func(context.Context, string) error, error) {
	d, err := docker.NewFromEnv(docker.Options{Logger: logger, KeepRunNetwork: true})
	if err != nil {
		return nil, nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.Ping(pctx); err != nil {
		_ = d.Close()
		return nil, nil, err
	}
	cleanup := func(ctx context.Context, runID string) error {
		defer d.Close()
		return d.CleanupRun(ctx, runID)
	}
	return d, cleanup, nil
}
