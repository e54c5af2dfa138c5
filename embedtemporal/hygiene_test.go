package embedtemporal

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// TestStopReleases: after Stop every port of the server is free, the
// in-memory database is closed, and what stays behind is only the server's
// own leak (gRPC client connections of its internal clients, which it never
// closes), bounded per server.
func TestStopReleases(t *testing.T) {
	openers := func() int { return countGoroutines("database/sql.(*DB).connectionOpener") }
	before, beforeOpeners := runtime.NumGoroutine(), openers()

	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: s.HostPort(), Namespace: s.Namespace(), Logger: quietSDKLogger})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, testTaskQueue, worker.Options{})
	register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := run(context.Background(), c, "one", &n, ChainWorkflow, 1); err != nil {
		t.Fatal(err)
	}
	w.Stop()
	c.Close()
	if openers() <= beforeOpeners {
		t.Fatal("no database/sql connection opener while the server runs: the goroutine check below proves nothing")
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	for _, p := range s.ports {
		l, err := net.Listen("tcp", hostPort(loopback, p))
		if err != nil {
			t.Errorf("port %d still taken after Stop: %v", p, err)
			continue
		}
		l.Close()
	}
	// Goroutines wind down asynchronously after Stop.
	deadline := time.Now().Add(5 * time.Second)
	for openers() > beforeOpeners && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := openers(); got > beforeOpeners {
		t.Errorf("in-memory database still open after Stop (%d connection openers, %d before)", got, beforeOpeners)
	}
	const maxLeak = 40 // 1.32.1 leaves ~28 idle gRPC goroutines per server
	for runtime.NumGoroutine()-before > maxLeak && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if leak := runtime.NumGoroutine() - before; leak > maxLeak {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines left after Stop (at most %d expected):\n%s", leak, maxLeak, buf[:runtime.Stack(buf, true)])
	}
}

func countGoroutines(frame string) int {
	buf := make([]byte, 1<<22)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), frame)
}

// crashChildEnv names the database of the child process of TestCrashRecovery.
const crashChildEnv = "BUILDIT_DEVSERVER_CRASH_DB"

// TestCrashRecovery: a process starts a workflow on a database file and is
// killed with SIGKILL; a server started on the file afterwards has the
// workflow and runs it to completion.
func TestCrashRecovery(t *testing.T) {
	if db := os.Getenv(crashChildEnv); db != "" {
		crashChild(db)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	db := filepath.Join(t.TempDir(), "crash.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashRecovery$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+db)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	runID := ""
	for sc := bufio.NewScanner(out); sc.Scan(); {
		if id, ok := strings.CutPrefix(sc.Text(), "STARTED "); ok {
			runID = id
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if runID == "" {
		t.Fatal("child process did not start the workflow")
	}

	s := startServer(t, Options{DBFile: db})
	c := dial(t, s)
	desc, err := c.DescribeWorkflowExecution(ctx, "crash", runID)
	if err != nil {
		t.Fatalf("workflow lost in the crash: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("after the crash: status %v, want running", st)
	}
	startWorker(t, c, worker.Options{})
	if err := c.SignalWorkflow(ctx, "crash", runID, "go", 1); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := c.GetWorkflow(ctx, "crash", runID).Get(ctx, &v); err != nil || v != 2 {
		t.Fatalf("after the crash: result %d, %v; want 2", v, err)
	}
}

// crashChild starts a server on db, starts a GateWorkflow, reports its run
// ID on stdout and waits to be killed.
func crashChild(db string) {
	ctx := context.Background()
	s, err := Start(ctx, Options{DBFile: db})
	if err != nil {
		panic(err)
	}
	c, err := client.Dial(client.Options{HostPort: s.HostPort(), Namespace: s.Namespace(), Logger: quietSDKLogger})
	if err != nil {
		panic(err)
	}
	r, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "crash", TaskQueue: testTaskQueue}, GateWorkflow)
	if err != nil {
		panic(err)
	}
	os.Stdout.WriteString("STARTED " + r.GetRunID() + "\n")
	select {}
}
