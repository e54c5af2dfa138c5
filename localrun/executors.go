package localrun

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/docker"
	"github.com/buildit-ci/buildit/pipeline"
)

// setUpExecutors gives acts a Docker executor when the plan needs one and
// returns the function that removes what a run left behind.
func setUpExecutors(ctx context.Context, acts *activities.Activities, o Options) (func(context.Context, string), error) {
	noop := func(context.Context, string) {}
	var images []string
	for _, st := range o.Plan.Steps {
		if st.Image != "" && !slices.Contains(images, st.Image) {
			images = append(images, st.Image)
		}
	}
	if o.Executor == "local" {
		acts.Stages.ForceHost = true
		if len(images) > 0 {
			fmt.Fprintf(o.Stderr, "buildit: --executor local: running every stage on the host; ignoring images %s\n", strings.Join(images, ", "))
		}
		return noop, nil
	}
	if len(images) == 0 && o.Executor == "auto" {
		return noop, nil
	}
	if o.Executor == "docker" {
		if err := checkAllHaveImages(o.Plan); err != nil {
			return nil, err
		}
	}
	d, cleanup, err := newDockerExecutor(ctx, o.Logger)
	if err != nil {
		what := "stages need Docker (images " + strings.Join(images, ", ") + ")"
		if len(images) == 0 {
			what = "--executor docker needs Docker"
		}
		return nil, &UsageError{fmt.Errorf("%s but no Docker engine answers: %w; use --executor local to run them on the host", what, err)}
	}
	acts.Stages.Docker = d
	return func(ctx context.Context, runID string) {
		if err := cleanup(ctx, runID); err != nil {
			o.Logger.Warn("docker cleanup failed", "run", runID, "error", err)
		}
	}, nil
}

// checkAllHaveImages refuses, for --executor docker, the run stages that
// have no image.
func checkAllHaveImages(plan *pipeline.Plan) error {
	var bare []string
	for _, st := range plan.Steps {
		if st.Image == "" && st.Kind == pipeline.KindRun {
			bare = append(bare, st.ID)
		}
	}
	if len(bare) == 0 {
		return nil
	}
	stages, have := "stage", "has"
	if len(bare) > 1 {
		stages, have = "stages", "have"
	}
	return &UsageError{fmt.Errorf("--executor docker runs every stage in a container, but %s %s %s no image; set one on the stage or in defaults", stages, strings.Join(bare, ", "), have)}
}

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
