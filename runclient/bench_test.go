package runclient_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/embedtemporal"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/internal/temporaltest"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/worker"
	"github.com/buildit-ci/buildit/workflows"
)

// discard is a LogSink that drops every line.
type discard struct{}

func (discard) WriteLine(string, executor.Stream, string) {}

func chainSource(n int) string {
	var b strings.Builder
	b.WriteString("pipeline \"chain\"\n")
	for i := 0; i < n; i++ {
		if i == 0 {
			fmt.Fprintf(&b, "stage \"s%d\" { run \"true\"; }\n", i)
		} else {
			fmt.Fprintf(&b, "stage \"s%d\" needs=\"s%d\" { run \"true\"; }\n", i, i-1)
		}
	}
	return b.String()
}

func diamondSource() string {
	var b strings.Builder
	b.WriteString("pipeline \"diamond\"\nstage \"start\" { run \"true\"; }\n")
	needs := make([]string, 8)
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&b, "stage \"w%d\" needs=\"start\" { run \"sleep 0.2\"; }\n", i)
		needs[i] = fmt.Sprintf("%q", fmt.Sprintf("w%d", i))
	}
	fmt.Fprintf(&b, "stage \"end\" { needs %s; run \"true\"; }\n", strings.Join(needs, " "))
	return b.String()
}

func benchRuns(b *testing.B, src string, stages int) {
	for _, mode := range []struct {
		name     string
		fastPath time.Duration
	}{{"activities", 0}, {"local-fast-path", 2 * time.Second}} {
		b.Run(mode.name, func(b *testing.B) {
			h := setup(b, nil)
			h.fastPath = mode.fastPath
			benchMode(b, h, src, stages)
		})
	}
}

func benchMode(b *testing.B, h *harness, src string, stages int) {
	plan := planOf(b, src)
	ctx := context.Background()
	// One run to warm the task queue and the worker's caches.
	runOnce(ctx, b, h, plan)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		runOnce(ctx, b, h, plan)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/run")
	if stages > 1 {
		b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N)/float64(stages), "ms/stage")
	}
}

func runOnce(ctx context.Context, b *testing.B, h *harness, plan pipeline.Plan) {
	in := workflows.PipelineRunInput{RunInput: workflows.RunInput{Plan: plan, Workspace: b.TempDir()}, LocalInput: workflows.LocalInput{LocalFastPath: h.fastPath}}
	run, err := runclient.StartRun(ctx, h.c, in, runclient.RunOptions{ID: fmt.Sprintf("bench-%d", time.Now().UnixNano()), TaskQueue: h.taskQueue})
	if err != nil {
		b.Fatal(err)
	}
	st, err := runclient.Wait(ctx, run)
	if err != nil || st.Status != buildit.RunSucceeded {
		b.Fatalf("run %s: %v", st.Status, err)
	}
}

// BenchmarkChain20 runs a chain of 20 no-op host stages; ms/stage is the
// orchestration cost of one stage (a `sh -c true` costs about 1 ms of it).
func BenchmarkChain20(b *testing.B) { benchRuns(b, chainSource(20), 20) }

// BenchmarkChain1 is the same with one stage, to separate the per-run cost.
func BenchmarkChain1(b *testing.B) { benchRuns(b, chainSource(1), 1) }

// BenchmarkDiamond runs 1 -> 8 x `sleep 0.2` -> 1 host stages after boot;
// the floor is 0.2 s.
func BenchmarkDiamond(b *testing.B) { benchRuns(b, diamondSource(), 0) }

// BenchmarkOneStageRunWithBoot is `buildit run` of a one-stage host
// pipeline in-process: embedded server boot, client, worker, run.
func BenchmarkOneStageRunWithBoot(b *testing.B) {
	plan := planOf(b, chainSource(1))
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		srv, err := embedtemporal.Start(ctx, embedtemporal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		c, err := client.Dial(client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace(), Logger: temporaltest.QuietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		acts := activities.New(activities.Shared{Sink: discard{}})
		acts.Stages.Host = host.New(host.Options{InheritEnv: true})
		w := worker.New(c, acts, worker.Options{TaskQueue: "boot"})
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		h := &harness{c: c, taskQueue: "boot"}
		runOnce(ctx, b, h, plan)
		// Timed like `buildit run`, which exits without a graceful stop.
		b.StopTimer()
		w.Stop()
		c.Close()
		_ = srv.Stop()
		b.StartTimer()
	}
}
