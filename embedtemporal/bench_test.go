package embedtemporal

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/common/dynamicconfig"
)

// BUILDIT_DEVSERVER_BASELINE=1 runs the benchmarks without any of the
// tuning in tuning.go (server defaults, SQLite defaults), to measure what the
// tuning buys.
func init() {
	if os.Getenv("BUILDIT_DEVSERVER_BASELINE") == "1" {
		tuning = dynamicconfig.StaticClient{}
		sqlitePragmas = map[string]string{}
		longPollInMemory, longPollFile = 0, 0
		checksumOnce.Do(func() {}) // the SDK hashes the executable
	}
	// BUILDIT_DEVSERVER_PRAGMAS="journal_mode=wal;synchronous=normal"
	// replaces the SQLite pragmas of the file mode.
	if spec, ok := os.LookupEnv("BUILDIT_DEVSERVER_PRAGMAS"); ok {
		sqlitePragmas = map[string]string{}
		for _, kv := range strings.Split(spec, ";") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				sqlitePragmas[k] = v
			}
		}
	}
	// BUILDIT_DEVSERVER_DC="key=value;key=-" sets (or, with "-", removes)
	// single dynamic-config values, to measure one knob at a time.
	if spec := os.Getenv("BUILDIT_DEVSERVER_DC"); spec != "" {
		tuning = maps.Clone(tuning)
		for _, kv := range strings.Split(spec, ";") {
			k, v, _ := strings.Cut(kv, "=")
			key := dynamicconfig.MakeKey(k)
			switch v {
			case "-":
				delete(tuning, key)
			case "true", "false":
				tuning[key] = v == "true"
			default:
				if n, err := strconv.Atoi(v); err == nil {
					tuning[key] = n
				} else {
					tuning[key] = v
				}
			}
		}
	}
}

// benchEnv is a server with a client and a worker.
type benchEnv struct {
	s *Server
	c client.Client
}

func newBenchEnv(b *testing.B, opts Options) benchEnv {
	b.Helper()
	s := startServer(b, opts)
	c := dial(b, s)
	startWorker(b, c, benchWorkerOptions())
	return benchEnv{s: s, c: c}
}

func (e benchEnv) run(b *testing.B, id string, wf any, args ...any) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out any
	if err := run(ctx, e.c, id, &out, wf, args...); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkServerStart measures Start (in memory) until the frontend
// serves; Stop is not timed.
func BenchmarkServerStart(b *testing.B) {
	for b.Loop() {
		s, err := Start(context.Background(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/start")
}

// BenchmarkServerStop measures Stop of an in-memory server.
func BenchmarkServerStop(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		s, err := Start(context.Background(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/stop")
}

// benchChain runs a chain of 20 stages per iteration on one warm server
// and reports the wall time per stage.
func benchChain(b *testing.B, opts Options, wf any) {
	e := newBenchEnv(b, opts)
	e.run(b, "warm-up", wf, 20)
	i := 0
	for b.Loop() {
		i++
		e.run(b, fmt.Sprintf("chain-%d", i), wf, 20)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20/1e6, "ms/stage")
}

// BenchmarkChain20: a workflow running 20 no-op activities in sequence.
func BenchmarkChain20(b *testing.B) { benchChain(b, Options{}, ChainWorkflow) }

// BenchmarkChain20Local: the same chain as local activities.
func BenchmarkChain20Local(b *testing.B) { benchChain(b, Options{}, LocalChainWorkflow) }

// BenchmarkChain20File: the chain on a database file (`buildit dev`).
func BenchmarkChain20File(b *testing.B) {
	benchChain(b, Options{DBFile: filepath.Join(b.TempDir(), "bench.db")}, ChainWorkflow)
}

// BenchmarkChain20Cold is what `buildit run` sees: the first workflow on a
// fresh server and worker. Only the workflow is timed.
func BenchmarkChain20Cold(b *testing.B) {
	i := 0
	for b.Loop() {
		i++
		b.StopTimer()
		s, err := Start(context.Background(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		c := dialOrFatal(b, s)
		w := worker.New(c, testTaskQueue, benchWorkerOptions())
		register(w)
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var out int
		err = run(ctx, c, fmt.Sprintf("cold-%d", i), &out, ChainWorkflow, 20)
		cancel()
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		w.Stop()
		c.Close()
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20/1e6, "ms/stage")
}

// BenchmarkRunOneStage is `buildit run` of a one-stage pipeline minus the
// process start: Start, client, worker, a workflow with one activity, done.
// Stop is not timed.
func BenchmarkRunOneStage(b *testing.B) {
	i := 0
	for b.Loop() {
		i++
		s, err := Start(context.Background(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		c := dialOrFatal(b, s)
		w := worker.New(c, testTaskQueue, benchWorkerOptions())
		register(w)
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var out int
		err = run(ctx, c, fmt.Sprintf("one-%d", i), &out, ChainWorkflow, 1)
		cancel()
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		w.Stop()
		c.Close()
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/run")
}

// BenchmarkFanOut8: a workflow running 8 no-op activities in parallel; the
// wall time of the workflow is ns/op.
func BenchmarkFanOut8(b *testing.B) {
	e := newBenchEnv(b, Options{})
	e.run(b, "warm-up", FanOutWorkflow, 8)
	i := 0
	for b.Loop() {
		i++
		e.run(b, fmt.Sprintf("fan-%d", i), FanOutWorkflow, 8)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/run")
}

func dialOrFatal(b *testing.B, s *Server) client.Client {
	c, err := client.Dial(client.Options{HostPort: s.HostPort(), Namespace: s.Namespace(), Logger: quietSDKLogger})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// benchWorkerOptions are the worker options of the benchmarks, changed by
// BUILDIT_DEVSERVER_WORKER="key=value,...": eager (reservations per
// workflow task), actpollers, wfpollers, noeager (1 disables eager
// activities).
func benchWorkerOptions() worker.Options {
	var o worker.Options
	for _, kv := range strings.Split(os.Getenv("BUILDIT_DEVSERVER_WORKER"), ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, _ := strconv.Atoi(v)
		switch k {
		case "eager":
			o.MaxEagerActivityReservationsPerWorkflowTask = &n
		case "actpollers":
			o.MaxConcurrentActivityTaskPollers = n
		case "wfpollers":
			o.MaxConcurrentWorkflowTaskPollers = n
		case "noeager":
			o.DisableEagerActivities = n == 1
		}
	}
	return o
}

// startChildEnv makes TestStartChild start a server, report, stop and exit.
const startChildEnv = "BUILDIT_DEVSERVER_START_CHILD"

// TestStartChild is the child process of BenchmarkServerStartProcess.
func TestStartChild(t *testing.T) {
	if os.Getenv(startChildEnv) == "" {
		t.Skip("child process of BenchmarkServerStartProcess")
	}
	t0 := time.Now()
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("READY %d\n", time.Since(t0).Nanoseconds())
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkServerStartProcess measures what `buildit run` pays before its
// first workflow: a new process (this test binary, which embeds the server
// like the buildit binary) until its first Start returns. "start-ms" is the
// Start call alone, which includes one-time costs of the process that
// BenchmarkServerStart (many starts in one process) does not see.
func BenchmarkServerStartProcess(b *testing.B) {
	var startNs int64
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStartChild$")
		cmd.Env = append(os.Environ(), startChildEnv+"=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		var ns int64
		for sc := bufio.NewScanner(out); sc.Scan(); {
			if _, err := fmt.Sscanf(sc.Text(), "READY %d", &ns); err == nil {
				break
			}
		}
		b.StopTimer()
		if err := cmd.Wait(); err != nil || ns == 0 {
			b.Fatalf("child: %v", err)
		}
		startNs += ns
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/process")
	b.ReportMetric(float64(startNs)/float64(b.N)/1e6, "start-ms")
}
