package embedtemporal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
)

func TestStartStop(t *testing.T) {
	s, err := Start(context.Background(), Options{Namespace: "ns-start-stop"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Namespace() != "ns-start-stop" {
		t.Errorf("Namespace() = %q", s.Namespace())
	}
	host, _, err := net.SplitHostPort(s.HostPort())
	if err != nil || host != "127.0.0.1" {
		t.Errorf("HostPort() = %q, want 127.0.0.1:port", s.HostPort())
	}

	c, err := client.Dial(client.Options{HostPort: s.HostPort(), Namespace: s.Namespace(), Logger: quietSDKLogger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.Namespace()}); err != nil {
		t.Errorf("DescribeNamespace: %v", err)
	}
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.Namespace()})
	if err != nil {
		t.Fatalf("ListSearchAttributes: %v", err)
	}
	for _, name := range SearchAttributes {
		if got := resp.GetCustomAttributes()[name]; got != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s: type %v, want Keyword", name, got)
		}
	}
	c.Close()

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	// The frontend port is free again.
	l, err := net.Listen("tcp", s.HostPort())
	if err != nil {
		t.Fatalf("frontend port still taken after Stop: %v", err)
	}
	l.Close()
}

func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Start(ctx, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, opts := range []Options{
		{IP: "localhost:1"},
		{Port: -1},
		{DBFile: filepath.Join(t.TempDir(), "missing-dir", "x.db")},
	} {
		if s, err := Start(context.Background(), opts); err == nil {
			_ = s.Stop()
			t.Errorf("Start(%+v) succeeded", opts)
		}
	}
}

// TestPortTaken: a frontend port that cannot be bound is an error from
// Start (the server's Fatal is turned into one), not a crash.
func TestPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	s, err := Start(context.Background(), Options{Port: port})
	if err == nil {
		_ = s.Stop()
		t.Fatalf("Start on a taken port %d succeeded", port)
	}
	if !isAddrInUse(err) {
		t.Errorf("Start on a taken port: %v; want an address-in-use error", err)
	}
}

// recorder is a slog.Handler that keeps every record it gets.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	return nil
}

func TestWorkflows(t *testing.T) {
	logs := &recorder{}
	t.Cleanup(func() {
		// Runs after the server's Stop (cleanups run last-in first-out).
		logs.mu.Lock()
		defer logs.mu.Unlock()
		for _, r := range logs.records {
			if r.Level < slog.LevelWarn {
				t.Errorf("server log below warn level reached Options.Logger: %s %s", r.Level, r.Message)
			} else {
				t.Logf("server log: %s %s", r.Level, r.Message)
			}
		}
	})
	s := startServer(t, Options{Logger: slog.New(logs)})
	c := dial(t, s)
	startWorker(t, c, worker.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var n int
	if err := run(ctx, c, "chain", &n, ChainWorkflow, 20); err != nil {
		t.Fatal(err)
	}
	if n != 20 {
		t.Errorf("chain of 20: got %d", n)
	}
	if err := run(ctx, c, "local-chain", &n, LocalChainWorkflow, 20); err != nil {
		t.Fatal(err)
	}
	if n != 20 {
		t.Errorf("local chain of 20: got %d", n)
	}
	var fan []int
	if err := run(ctx, c, "fan-out", &fan, FanOutWorkflow, 8); err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(fan, want) {
		t.Errorf("fan-out of 8: got %v, want %v", fan, want)
	}
}

func TestSearchAttributes(t *testing.T) {
	s := startServer(t, Options{})
	c := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pipeline := temporal.NewSearchAttributeKeyKeyword("BuilditPipeline")
	tenant := temporal.NewSearchAttributeKeyKeyword("BuilditTenant")
	// No worker: the workflow stays running, which is all this test needs.
	r, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        "sa",
		TaskQueue: testTaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			pipeline.ValueSet("my-app"),
			tenant.ValueSet("acme"),
		),
	}, GateWorkflow)
	if err != nil {
		t.Fatal(err)
	}

	desc, err := c.DescribeWorkflow(ctx, r.GetID(), r.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := desc.TypedSearchAttributes.GetKeyword(pipeline); !ok || got != "my-app" {
		t.Errorf("describe: BuilditPipeline = %q, %v", got, ok)
	}

	// Visibility is written asynchronously: poll until the query sees it.
	query := `BuilditPipeline = "my-app" AND BuilditTenant = "acme"`
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("list %s: %v", query, err)
		}
		if len(resp.Executions) == 1 && resp.Executions[0].GetExecution().GetWorkflowId() == "sa" {
			break
		}
		if len(resp.Executions) > 1 {
			t.Fatalf("list %s: %d executions", query, len(resp.Executions))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("list %s: never found the workflow", query)
		case <-time.After(20 * time.Millisecond):
		}
	}
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: `BuilditPipeline = "other"`})
	if err != nil || len(resp.Executions) != 0 {
		t.Errorf("list of another pipeline: %v, %d executions", err, len(resp.GetExecutions()))
	}
}

// TestPersistence starts a workflow on a file database, stops the server,
// starts a new one on the same file and finishes the workflow there.
func TestPersistence(t *testing.T) {
	db := filepath.Join(t.TempDir(), "buildit.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	s1, err := Start(ctx, Options{DBFile: db, Namespace: "persist"})
	if err != nil {
		t.Fatal(err)
	}
	c1, err := client.Dial(client.Options{HostPort: s1.HostPort(), Namespace: s1.Namespace(), Logger: quietSDKLogger})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c1.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "gate", TaskQueue: testTaskQueue}, GateWorkflow)
	if err != nil {
		t.Fatal(err)
	}
	c1.Close()
	if err := s1.Stop(); err != nil {
		t.Fatal(err)
	}
	// SQLite removes the WAL file when the last connection closes: Stop
	// released the database, and the next server reads it afresh.
	if _, err := os.Stat(db + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s-wal after Stop: %v; want the database closed", db, err)
	}

	s2 := startServer(t, Options{DBFile: db, Namespace: "persist"})
	c2 := dial(t, s2)
	desc, err := c2.DescribeWorkflowExecution(ctx, "gate", r.GetRunID())
	if err != nil {
		t.Fatalf("workflow lost across restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("after restart: status %v, want running", st)
	}
	resp, err := c2.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s2.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	custom := resp.GetCustomAttributes()
	for _, name := range SearchAttributes {
		if custom[name] != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("after restart: search attribute %s is %v", name, custom[name])
		}
	}
	if len(custom) != len(SearchAttributes) {
		t.Errorf("after restart: custom search attributes %v, want exactly %v", custom, SearchAttributes)
	}

	startWorker(t, c2, worker.Options{})
	if err := c2.SignalWorkflow(ctx, "gate", "", "go", 41); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := c2.GetWorkflow(ctx, "gate", r.GetRunID()).Get(ctx, &v); err != nil {
		t.Fatal(err)
	}
	if v != 42 {
		t.Errorf("gate result %d, want 42", v)
	}
}

// TestNamespaceUpgrade: a database whose namespace lacks some of the
// search attributes gets them at start, with the existing ones kept in
// place; a second pass changes nothing.
func TestNamespaceUpgrade(t *testing.T) {
	cfg, err := prepareDB(filepath.Join(t.TempDir(), "old.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c := sqliteCloser(cfg); c != nil {
			_ = c.Close()
		}
	})
	old := map[string]string{"Keyword03": "BuilditTenant", "Keyword01": "SomethingElse"}
	if err := createNamespaceWith(cfg, "ns", old); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ensureNamespace(ctx, cfg, "ns"); err != nil {
		t.Fatal(err)
	}
	got, err := namespaceAliases(ctx, cfg, "ns")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Keyword01": "SomethingElse",
		"Keyword02": "BuilditPipeline",
		"Keyword03": "BuilditTenant",
		"Keyword04": "BuilditStatus",
		"Keyword05": "BuilditTrigger",
		"Keyword06": "BuilditActor",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("aliases %v, want %v", got, want)
	}
	if err := ensureNamespace(ctx, cfg, "ns"); err != nil {
		t.Fatal(err)
	}
	if again, _ := namespaceAliases(ctx, cfg, "ns"); fmt.Sprint(again) != fmt.Sprint(want) {
		t.Fatalf("second pass: aliases %v, want %v", again, want)
	}
}

// The database holds every run's history: it is made readable by its owner
// only, and an older one (made 0644) is made so at start.
func TestSecurityDatabaseFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	check := func(path string) {
		t.Helper()
		cfg, err := prepareDB(path)
		if err != nil {
			t.Fatal(err)
		}
		if c := sqliteCloser(cfg); c != nil {
			_ = c.Close()
		}
		for _, p := range []string{path, path + "-wal"} {
			fi, err := os.Stat(p)
			if err == nil && fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %#o, want 0600", p, fi.Mode().Perm())
			} else if err != nil && p == path {
				t.Fatal(err)
			}
		}
	}
	check(filepath.Join(dir, "new.db"))
	old := filepath.Join(dir, "old.db")
	for _, p := range []string{old, old + "-wal"} {
		if err := os.WriteFile(p, []byte("an older database"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check(old)
}
