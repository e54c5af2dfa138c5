package localrun

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/pipeline"
)

// The tests are not parallel: each boots an embedded Temporal server.

// lines is a log sink that keeps every line.
type lines struct {
	mu  sync.Mutex
	out []string
}

func (l *lines) WriteLine(stage string, _ executor.Stream, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out = append(l.out, stage+" | "+line)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.out, "\n")
}

// setup plans src and returns options that run it in a folder of its own.
func setup(t *testing.T, src string) (Options, *lines) {
	t.Helper()
	p, diags := pipeline.Load("test.kdl", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	plan, err := p.Plan(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sink := &lines{}
	return Options{Plan: plan, Workspace: t.TempDir(), Executor: "local", Sink: sink, Actor: "tester"}, sink
}

func TestRunSucceeds(t *testing.T) {
	o, sink := setup(t, `pipeline "ok"
stage "a" { run "echo a=$X"; }
stage "b" needs="a" { run "echo b"; }
`)
	o.Env = map[string]string{"X": "42"}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.State.Status != buildit.RunSucceeded || res.Interrupted || res.Quit || !strings.HasPrefix(res.RunID, "ok-") {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(sink.String(), "a | a=42") {
		t.Errorf("log:\n%s", sink)
	}
}

// waitForFile waits for a stage to write its pid into the workspace.
func waitForFile(t *testing.T, path string) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
			return pid
		}
	}
	t.Fatalf("no %s", path)
	return 0
}

// alive reports whether process pid runs (a zombie does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return !strings.Contains(string(stat), ") Z ")
}

const sleepy = `pipeline "long"
stage "sleepy" { run "echo $$ > sleepy.pid; sleep 60"; }
`

// One interrupt cancels the run: Run waits for the stage to stop and
// returns the cancelled run. Run it under -race: the interrupt is handled
// on a goroutine of its own.
func TestRunInterrupted(t *testing.T) {
	o, _ := setup(t, sleepy)
	interrupt := make(chan os.Signal, 2)
	o.Interrupt = interrupt
	go func() {
		waitForFile(t, filepath.Join(o.Workspace, "sleepy.pid"))
		interrupt <- os.Interrupt
	}()
	began := time.Now()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Quit || res.State.Status != buildit.RunCancelled || len(res.State.Stages) != 1 || res.State.Stages[0].Status != buildit.StageCancelled {
		t.Errorf("result %+v", res)
	}
	pid := waitForFile(t, filepath.Join(o.Workspace, "sleepy.pid"))
	if alive(pid) {
		t.Errorf("stage process %d still runs after the interrupt", pid)
	}
	t.Logf("interrupt to return: %s after start", time.Since(began))
}

// A second interrupt quits at once: Run returns Quit without the run's
// final state.
func TestRunQuitOnSecondInterrupt(t *testing.T) {
	o, _ := setup(t, sleepy)
	interrupt := make(chan os.Signal, 2)
	o.Interrupt = interrupt
	go func() {
		waitForFile(t, filepath.Join(o.Workspace, "sleepy.pid"))
		interrupt <- os.Interrupt
		interrupt <- os.Interrupt
	}()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || !res.Quit || res.State.Status != "" {
		t.Errorf("result %+v", res)
	}
}

func TestRunRefusesUnknownExecutor(t *testing.T) {
	o, _ := setup(t, sleepy)
	o.Executor = "k8s"
	_, err := Run(context.Background(), o)
	if ue := (*UsageError)(nil); !errors.As(err, &ue) || !strings.Contains(err.Error(), `unknown --executor "k8s"`) {
		t.Errorf("err = %v", err)
	}
}
