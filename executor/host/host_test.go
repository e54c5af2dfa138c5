package host_test

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

	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/executortest"
	"github.com/buildit-ci/buildit/executor/host"
)

type sink struct {
	mu    sync.Mutex
	lines []string
}

func (s *sink) WriteLine(_ string, stream executor.Stream, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, stream.String()+":"+line)
}

func (s *sink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func spec(t *testing.T, cmds ...string) *executor.Spec {
	return &executor.Spec{RunID: "r", StageID: "s", Attempt: 1, Commands: cmds, Workspace: t.TempDir()}
}

func TestRunOutputEnvAndWorkdir(t *testing.T) {
	sp := spec(t, "mkdir -p sub", "cd sub && pwd", "echo \"$GREETING $TOKEN\"", "echo oops >&2")
	sp.Env = map[string]string{"GREETING": "hi"}
	sp.Secrets = map[string]string{"TOKEN": "s3cret"}
	var s sink
	if _, err := executor.Run(context.Background(), host.New(host.Options{InheritEnv: true}), sp, &s, nil, nil); err != nil {
		t.Fatal(err)
	}
	// The two streams are read apart, so only each one's order is kept.
	want := []string{"stdout:" + filepath.Join(sp.Workspace, "sub"), "stdout:hi s3cret", "stderr:oops"}
	var got []string
	for _, prefix := range []string{"stdout:", "stderr:"} {
		for _, l := range s.all() {
			if strings.HasPrefix(l, prefix) {
				got = append(got, l)
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// Commands run under sh -e: the first failing one ends the stage with its
// status, and what follows does not run.
func TestExitCodeStopsAtFirstFailure(t *testing.T) {
	var s sink
	_, err := executor.Run(context.Background(), host.New(host.Options{InheritEnv: true}), spec(t, "echo one", "exit 3", "echo never"), &s, nil, nil)
	var ee *executor.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("err = %v, want exit status 3", err)
	}
	if got := s.all(); len(got) != 1 || got[0] != "stdout:one" {
		t.Errorf("lines %q", got)
	}
}

func TestWorkdirOutsideWorkspaceIsRefused(t *testing.T) {
	sp := spec(t, "true")
	sp.Workdir = "../elsewhere"
	_, err := executor.Run(context.Background(), host.New(host.Options{InheritEnv: true}), sp, &sink{}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "workspace") {
		t.Fatalf("err = %v, want a workdir error", err)
	}
}

// Cancelling kills the whole process group, background jobs included.
func TestCancelKillsTheProcessGroup(t *testing.T) {
	sp := spec(t, "sleep 60 & echo $! > bg.pid", "wait")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := executor.Run(ctx, host.New(host.Options{InheritEnv: true}), sp, &sink{}, nil, nil)
		done <- err
	}()
	pidFile := filepath.Join(sp.Workspace, "bg.pid")
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stage did not start its background job")
		}
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(host.KillGrace + 5*time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// A killed job whose parent died is reaped by init, eventually; a
	// zombie still answers signal 0, so look at its state too.
	for deadline := time.Now().Add(5 * time.Second); !gone(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("background job %d still alive", pid)
		}
	}
}

func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err != nil || strings.Contains(string(stat), ") Z ")
}

// Destroy is safe when Start never happened, and twice.
func TestDestroyWithoutStart(t *testing.T) {
	e := host.New(host.Options{InheritEnv: true})
	sp := spec(t, "true")
	for range 2 {
		if err := e.Destroy(context.Background(), sp); err != nil {
			t.Fatal(err)
		}
	}
}

// A stage that prints 100 MB streams through in constant memory: the heap
// never grows by more than a few buffers, whatever the output's size. One
// run prints 100-byte lines, the other one line with no newline at all.
func TestHundredMegabytesInConstantMemory(t *testing.T) {
	const total = 100 << 20
	for name, cmd := range map[string]string{
		"short lines": "yes 012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678 | head -c " + strconv.Itoa(total),
		"no newline":  "yes | tr -d '\\n' | head -c " + strconv.Itoa(total),
	} {
		t.Run(name, func(t *testing.T) {
			var c executortest.CountSink
			var err error
			grew := executortest.HeapGrowth(func() {
				_, err = executor.Run(context.Background(), host.New(host.Options{InheritEnv: true}), spec(t, cmd), &c, nil, nil)
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Bytes.Load(); got < total {
				t.Errorf("sink saw %d bytes, want ≥ %d", got, total)
			}
			if c.Longest.Load() > 64*1024 {
				t.Errorf("a line of %d bytes reached the sink; lines are split at 64 KiB", c.Longest.Load())
			}
			t.Logf("%d lines, heap in use grew by at most %d KiB", c.Lines.Load(), grew>>10)
			if grew > 32<<20 {
				t.Errorf("heap grew by %d MiB while 100 MiB streamed; want constant memory", grew>>20)
			}
		})
	}
}
