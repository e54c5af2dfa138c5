package docker_test

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/docker"
	"github.com/buildit-ci/buildit/executor/docker/dockertest"
)

type discard struct{}

func (discard) WriteLine(string, executor.Stream, string) {}

// BenchmarkDockerStage runs one `true` stage through executor.Run: image
// check, the run's network, create, start, logs, wait, remove, and the
// network's removal (each iteration is the run's only stage).
func BenchmarkDockerStage(b *testing.B) {
	benchStage(b, docker.Options{})
}

// BenchmarkDockerStageKeptNetwork is BenchmarkDockerStage with the run's
// network kept from one stage to the next, as for a chain of stages with
// Options.KeepRunNetwork.
func BenchmarkDockerStageKeptNetwork(b *testing.B) {
	benchStage(b, docker.Options{KeepRunNetwork: true})
}

func benchStage(b *testing.B, opts docker.Options) {
	cli := dockertest.Client(b)
	image := dockertest.Image(b)
	e := docker.New(cli, opts)
	run := "bench-stage-" + randomHex(4)
	b.Cleanup(func() {
		if err := e.CleanupRun(context.Background(), run); err != nil {
			b.Errorf("clean up run %s: %v", run, err)
		}
	})
	ctx := context.Background()
	ws := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		spec := &executor.Spec{RunID: run, StageID: "bench", Attempt: i + 1, Image: image, Commands: []string{"true"}, Workspace: ws}
		if _, err := executor.Run(ctx, e, spec, discard{}, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDockerRunBare is the engine's own floor for the same work: create,
// start, wait for and remove a container running `true`, on the default
// network, straight through the API.
func BenchmarkDockerRunBare(b *testing.B) {
	cli := dockertest.Client(b)
	image := dockertest.Image(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := cli.ContainerCreate(ctx, &container.Config{Image: image, Cmd: []string{"true"}}, nil, nil, nil, "")
		if err != nil {
			b.Fatal(err)
		}
		if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			b.Fatal(err)
		}
		waitC, errC := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
		select {
		case r := <-waitC:
			if r.StatusCode != 0 {
				b.Fatalf("exit %d", r.StatusCode)
			}
		case err := <-errC:
			b.Fatal(err)
		}
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			b.Fatal(err)
		}
	}
}
