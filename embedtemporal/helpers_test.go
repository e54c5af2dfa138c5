package embedtemporal

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"
	sqliteschema "go.temporal.io/server/schema/sqlite"
)

// testTaskQueue is the task queue of every test worker.
const testTaskQueue = "devserver-test"

// quietSDKLogger keeps the SDK's info logs (worker started/stopped) out of
// test and benchmark output.
var quietSDKLogger = sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))

// Stage is the trivial activity of the chain and fan-out workflows.
func Stage(_ context.Context, i int) (int, error) { return i + 1, nil }

var activityOpts = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Second,
	RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
}

// ChainWorkflow runs n Stage activities one after the other, each fed the
// previous one's result; it returns n.
func ChainWorkflow(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOpts)
	v := 0
	for range n {
		if err := workflow.ExecuteActivity(ctx, Stage, v).Get(ctx, &v); err != nil {
			return 0, err
		}
	}
	return v, nil
}

// LocalChainWorkflow is ChainWorkflow with local activities.
func LocalChainWorkflow(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	v := 0
	for range n {
		if err := workflow.ExecuteLocalActivity(ctx, Stage, v).Get(ctx, &v); err != nil {
			return 0, err
		}
	}
	return v, nil
}

// FanOutWorkflow runs n Stage activities in parallel (activity i gets i) and
// returns their results in order.
func FanOutWorkflow(ctx workflow.Context, n int) ([]int, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOpts)
	futures := make([]workflow.Future, n)
	for i := range n {
		futures[i] = workflow.ExecuteActivity(ctx, Stage, i)
	}
	out := make([]int, n)
	for i, f := range futures {
		if err := f.Get(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// GateWorkflow waits for a "go" signal, then runs one Stage activity on
// the signal's value.
func GateWorkflow(ctx workflow.Context) (int, error) {
	var v int
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, &v)
	ctx = workflow.WithActivityOptions(ctx, activityOpts)
	err := workflow.ExecuteActivity(ctx, Stage, v).Get(ctx, &v)
	return v, err
}

func register(w worker.Registry) {
	w.RegisterWorkflow(ChainWorkflow)
	w.RegisterWorkflow(LocalChainWorkflow)
	w.RegisterWorkflow(FanOutWorkflow)
	w.RegisterWorkflow(GateWorkflow)
	w.RegisterActivity(Stage)
}

// tb is what the helpers need of *testing.T and *testing.B.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// startServer starts a server and stops it when the test ends.
func startServer(t tb, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	})
	return s
}

// dial returns a client of s, closed when the test ends (before the
// server's Stop, as cleanups run last-in first-out).
func dial(t tb, s *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.HostPort(),
		Namespace: s.Namespace(),
		Logger:    quietSDKLogger,
	})
	if err != nil {
		t.Fatalf("dial %s: %v", s.HostPort(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// startWorker starts a worker with every test workflow and activity on
// testTaskQueue, stopped when the test ends.
func startWorker(t tb, c client.Client, opts worker.Options) worker.Worker {
	t.Helper()
	w := worker.New(c, testTaskQueue, opts)
	register(w)
	if err := w.Start(); err != nil {
		t.Fatalf("worker start: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// BUILDIT_DEVSERVER_SLOW=<duration> makes run print every workflow that
// takes longer, with the gaps in its history (to tell a slow dispatch from
// a slow wait for the result). "1ns" prints every run.
var slowRun, _ = time.ParseDuration(os.Getenv("BUILDIT_DEVSERVER_SLOW"))

// eagerStart sets StartWorkflowOptions.EnableEagerStart in run.
var eagerStart = os.Getenv("BUILDIT_DEVSERVER_EAGER_START") == "1"

// run executes workflow wf with args to completion and decodes its result
// into out.
func run(ctx context.Context, c client.Client, id string, out any, wf any, args ...any) error {
	r, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:               id,
		TaskQueue:        testTaskQueue,
		EnableEagerStart: eagerStart,
	}, wf, args...)
	if err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	t0 := time.Now()
	if err := r.Get(ctx, out); err != nil {
		return fmt.Errorf("run %s: %w", id, err)
	}
	if d := time.Since(t0); slowRun > 0 && d > slowRun {
		printSlowRun(ctx, c, id, r.GetRunID(), t0, d)
	}
	return nil
}

// printSlowRun prints where a run that took d (from t0) spent its time:
// the gaps of more than 100 ms between its history events. It is a
// diagnostic: an error reading the history ends it.
func printSlowRun(ctx context.Context, c client.Client, id, runID string, t0 time.Time, d time.Duration) {
	desc, _ := c.DescribeWorkflowExecution(ctx, id, runID)
	info := desc.GetWorkflowExecutionInfo()
	fmt.Printf("SLOW %s: Get took %v; started %v after the start call returned, ran %v\n", id, d,
		info.GetStartTime().AsTime().Sub(t0), info.GetCloseTime().AsTime().Sub(info.GetStartTime().AsTime()))
	it := c.GetWorkflowHistory(ctx, id, runID, false, 0)
	var prev time.Time
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return
		}
		ts := ev.GetEventTime().AsTime()
		if !prev.IsZero() && ts.Sub(prev) > 100*time.Millisecond {
			fmt.Printf("   gap %v before event %d %v %v\n", ts.Sub(prev), ev.GetEventId(), ev.GetEventType(), ev.GetAttributes())
		}
		prev = ts
	}
}

// createNamespaceWith creates namespace ns with exactly the given
// field→alias search attribute map, as an older BuildIt would have.
func createNamespaceWith(cfg *config.SQL, ns string, aliases map[string]string) error {
	nsCfg, err := sqliteschema.NewNamespaceConfig(clusterName, ns, false, nil)
	if err != nil {
		return err
	}
	nsCfg.Detail.Config.CustomSearchAttributeAliases = aliases
	return sqliteschema.CreateNamespaces(cfg, nsCfg)
}

// namespaceAliases reads namespace ns's field→alias search attribute map
// from the database.
func namespaceAliases(ctx context.Context, cfg *config.SQL, ns string) (map[string]string, error) {
	db, err := sql.NewSQLDB(sqlplugin.DbKindMain, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return nil, err
	}
	defer func() { _ = db.Close() }()
	_, detail, err := readNamespace(ctx, db, ns)
	if err != nil {
		return nil, err
	}
	return detail.GetConfig().GetCustomSearchAttributeAliases(), nil
}
