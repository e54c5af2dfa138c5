package docker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/docker"
	"github.com/buildit-ci/buildit/executor/docker/dockertest"
	"github.com/buildit-ci/buildit/executor/executortest"
	"github.com/buildit-ci/buildit/pipeline"
)

// fixture is what a test needs: an engine, an executor and a run of its own.
type fixture struct {
	cli   client.APIClient
	exec  *docker.Executor
	image string
	runID string
	ws    string
}

// setup returns a fixture whose run is cleaned up when the test ends.
func setup(t *testing.T) *fixture {
	t.Helper()
	cli := dockertest.Client(t)
	f := &fixture{
		cli:   cli,
		exec:  docker.New(cli, docker.Options{StopGrace: time.Second}),
		image: dockertest.Image(t),
		runID: runID(t),
		ws:    t.TempDir(),
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.exec.CleanupRun(ctx, f.runID); err != nil {
			t.Errorf("CleanupRun: %v", err)
		}
	})
	return f
}

// runID is unique per test and per test process.
func runID(t *testing.T) string {
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	return name + "-" + randomHex(4)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (f *fixture) spec(stage string, commands ...string) *executor.Spec {
	return &executor.Spec{
		RunID:     f.runID,
		StageID:   stage,
		Attempt:   1,
		Image:     f.image,
		Commands:  commands,
		Workspace: f.ws,
	}
}

// run drives spec through executor.Run with a fresh sink.
func (f *fixture) run(t *testing.T, spec *executor.Spec) (*sink, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &sink{}
	_, err := executor.Run(ctx, f.exec, spec, s, nil, nil)
	return s, err
}

// containers lists what is left of the run on the engine.
func (f *fixture) leftovers(t *testing.T) (containers []container.Summary, networks []network.Summary) {
	t.Helper()
	ctx := context.Background()
	args := filters.NewArgs(filters.Arg("label", docker.LabelRun+"="+f.runID))
	containers, err := f.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		t.Fatal(err)
	}
	networks, err = f.cli.NetworkList(ctx, network.ListOptions{Filters: args})
	if err != nil {
		t.Fatal(err)
	}
	return containers, networks
}

func (f *fixture) assertClean(t *testing.T) {
	t.Helper()
	cs, ns := f.leftovers(t)
	for _, c := range cs {
		t.Errorf("container left: %s %v (%s)", c.ID[:12], c.Names, c.State)
	}
	for _, n := range ns {
		t.Errorf("network left: %s", n.Name)
	}
}

type line struct {
	stream executor.Stream
	text   string
	at     time.Time
}

// sink records lines and tells who waits when one arrives.
type sink struct {
	mu    sync.Mutex
	lines []line
	first chan struct{}
	once  sync.Once
}

func (s *sink) WriteLine(_ string, stream executor.Stream, text string) {
	s.mu.Lock()
	s.lines = append(s.lines, line{stream, text, time.Now()})
	s.mu.Unlock()
	if s.first != nil {
		s.once.Do(func() { close(s.first) })
	}
}

func (s *sink) texts(stream executor.Stream) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.lines {
		if l.stream == stream {
			out = append(out, l.text)
		}
	}
	return out
}

func (s *sink) all() []line {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]line(nil), s.lines...)
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") || len(got) != len(want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestEnvSecretsAndWorkdir(t *testing.T) {
	t.Parallel()
	f := setup(t)
	spec := f.spec("env", `echo "$GREETING $TOKEN"`, `pwd`, `echo "$HOME"`)
	spec.Env = map[string]string{"GREETING": "hello", "TOKEN": "not-the-secret"}
	spec.Secrets = map[string]string{"TOKEN": "s3cret"}
	spec.Workdir = "sub/dir"
	s, err := f.run(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "stdout", s.texts(executor.Stdout), []string{"hello s3cret", "/workspace/sub/dir", "/root"})
	f.assertClean(t)
}

func TestWorkdirOutsideWorkspace(t *testing.T) {
	t.Parallel()
	f := setup(t)
	spec := f.spec("escape", "true")
	spec.Workdir = "../etc"
	if _, err := f.run(t, spec); err == nil || !strings.Contains(err.Error(), "outside the workspace") {
		t.Fatalf("err = %v, want outside the workspace", err)
	}
}

func TestWorkspaceSharedBetweenStages(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if _, err := f.run(t, f.spec("write", "echo from-first > /workspace/shared.txt")); err != nil {
		t.Fatal(err)
	}
	s, err := f.run(t, f.spec("read", "cat shared.txt"))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "stdout", s.texts(executor.Stdout), []string{"from-first"})
	if b, err := os.ReadFile(filepath.Join(f.ws, "shared.txt")); err != nil || string(b) != "from-first\n" {
		t.Errorf("host workspace file = %q, %v", b, err)
	}
	f.assertClean(t)
}

// webService serves msg over HTTP on port 8080 under the name "web".
func webService(image, msg string) pipeline.Service {
	return pipeline.Service{
		Name:    "web",
		Image:   image,
		Env:     map[string]string{"MSG": msg},
		Command: []string{"sh", "-c", `mkdir -p /www && echo "$MSG" > /www/index.html && exec httpd -f -p 8080 -h /www`},
	}
}

// fetchWeb retries until the service answers: it starts alongside the stage.
const fetchWeb = `for i in $(seq 1 100); do wget -q -O - http://web:8080/ 2>/dev/null && exit 0; sleep 0.1; done; exit 1`

func TestServiceReachableByName(t *testing.T) {
	t.Parallel()
	f := setup(t)
	spec := f.spec("svc", fetchWeb)
	spec.Services = []pipeline.Service{webService(f.image, "hello-from-web")}
	s, err := f.run(t, spec)
	if err != nil {
		t.Fatalf("%v; output %v", err, s.all())
	}
	equal(t, "stdout", s.texts(executor.Stdout), []string{"hello-from-web"})
	f.assertClean(t)
}

// Two matrix instances of one stage, each with its own "web", run at once on
// the run's network: each must reach its own.
func TestServicesOfParallelStagesDoNotMix(t *testing.T) {
	t.Parallel()
	f := setup(t)
	stages := []string{"test [os=linux, go=1.25]", "test [os=linux, go=1.26]"}
	var wg sync.WaitGroup
	for _, stage := range stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Several fetches, so that a shared alias would show.
			spec := f.spec(stage, fetchWeb, "for i in 1 2 3 4 5 6 7 8; do wget -q -O - http://web:8080/; done")
			spec.Services = []pipeline.Service{webService(f.image, "web of "+stage)}
			s, err := f.run(t, spec)
			if err != nil {
				t.Errorf("%s: %v", stage, err)
				return
			}
			for _, got := range s.texts(executor.Stdout) {
				if got != "web of "+stage {
					t.Errorf("%s reached %q", stage, got)
				}
			}
		}()
	}
	wg.Wait()
	f.assertClean(t)
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tc := range []struct {
		name     string
		commands []string
		code     int
		out      []string
	}{
		{"exit", []string{"echo before", "exit 3"}, 3, []string{"before"}},
		{"errexit", []string{"false", "echo not reached"}, 1, nil},
		{"ok", []string{"true"}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A stage ID with what Docker names do not allow.
			s, err := f.run(t, f.spec("test [os=linux, go=1.25] "+tc.name, tc.commands...))
			var ee *executor.ExitError
			switch {
			case tc.code == 0 && err != nil:
				t.Fatal(err)
			case tc.code != 0 && (!errors.As(err, &ee) || ee.Code != tc.code):
				t.Fatalf("err = %v, want exit status %d", err, tc.code)
			}
			equal(t, "stdout", s.texts(executor.Stdout), tc.out)
		})
	}
	f.assertClean(t)
}

func TestLogsInOrderAndLive(t *testing.T) {
	t.Parallel()
	f := setup(t)
	spec := f.spec("logs",
		"echo out1", "sleep 0.2", "echo err1 >&2", "sleep 0.2", "echo out2", "printf 'crlf\\r\\n'",
		"sleep 0.2", "echo err2 >&2", "sleep 2", "echo late", "printf 'no newline'")
	s := &sink{first: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var started time.Time
	done := make(chan error, 1)
	go func() {
		_, err := executor.Run(ctx, f.exec, spec, s, nil, func(executor.Handle) { started = time.Now() })
		done <- err
	}()
	select {
	case <-s.first:
		// The stage sleeps 2 s before its last line: the first must not
		// wait for the container's end.
		select {
		case err := <-done:
			t.Fatalf("first line came only with the end of the stage (%v)", err)
		default:
		}
	case err := <-done:
		t.Fatalf("stage ended (%v) before any line arrived", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	all := s.all()
	var got []string
	for _, l := range all {
		got = append(got, l.stream.String()+":"+l.text)
	}
	equal(t, "lines", got, []string{"stdout:out1", "stderr:err1", "stdout:out2", "stdout:crlf", "stderr:err2", "stdout:late", "stdout:no newline"})
	if len(all) > 0 && all[0].at.Sub(started) > 1500*time.Millisecond {
		t.Errorf("first line arrived %v after start", all[0].at.Sub(started))
	}
}

func TestLongLineSplit(t *testing.T) {
	t.Parallel()
	f := setup(t)
	s, err := f.run(t, f.spec("long", "head -c 150000 /dev/zero | tr '\\0' a", "echo", "echo after"))
	if err != nil {
		t.Fatal(err)
	}
	out := s.texts(executor.Stdout)
	var lens []int
	for _, l := range out {
		lens = append(lens, len(l))
	}
	if len(out) != 4 || lens[0] != 65536 || lens[1] != 65536 || lens[2] != 150000-2*65536 || out[3] != "after" {
		t.Fatalf("line lengths %v, last %q", lens, out[len(out)-1])
	}
	if strings.Trim(out[0]+out[1]+out[2], "a") != "" {
		t.Error("split lines lost bytes")
	}
}

func TestCancelStopsContainer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled time.Time
	onStart := func(executor.Handle) {
		time.AfterFunc(300*time.Millisecond, func() { cancelled = time.Now(); cancel() })
	}
	_, err := executor.Run(ctx, f.exec, f.spec("sleepy", "echo sleeping", "sleep 300"), &sink{}, nil, onStart)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(cancelled); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
	f.assertClean(t)
}

func TestReattachFromNewExecutor(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := f.spec("reattach", "echo started", "sleep 2", "echo done")
	if err := f.exec.Prepare(ctx, spec); err != nil {
		t.Fatal(err)
	}
	h, err := f.exec.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	// The worker dies here; a new one resumes from the recorded handle.
	restarted := docker.New(f.cli, docker.Options{})
	s := &sink{}
	var resumed executor.Handle
	res, err := executor.Run(ctx, restarted, spec, s, &h, func(h executor.Handle) {
		resumed = h
		cs, _ := f.leftovers(t)
		if len(cs) != 1 || cs[0].ID != h.ID {
			t.Errorf("containers of the run after re-attach: %d", len(cs))
		}
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run = %+v, %v", res, err)
	}
	if resumed != h {
		t.Errorf("resumed with %v, want %v", resumed, h)
	}
	equal(t, "stdout", s.texts(executor.Stdout), []string{"started", "done"})
	f.assertClean(t)
}

// A stage that ended while no worker was watching: its result is read, not
// run again.
func TestReattachAfterEnd(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := f.spec("ended", "echo once >> /workspace/count", "exit 7")
	if err := f.exec.Prepare(ctx, spec); err != nil {
		t.Fatal(err)
	}
	h, err := f.exec.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := f.exec.Wait(ctx, spec, h); err != nil || code != 7 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	_, err = executor.Run(ctx, docker.New(f.cli, docker.Options{}), spec, &sink{}, &executor.Handle{ID: "gone-id"}, nil)
	var ee *executor.ExitError
	if !errors.As(err, &ee) || ee.Code != 7 {
		t.Fatalf("err = %v, want exit status 7", err)
	}
	if b, _ := os.ReadFile(filepath.Join(f.ws, "count")); string(b) != "once\n" {
		t.Errorf("stage ran %d times", strings.Count(string(b), "once"))
	}
	f.assertClean(t)
}

func TestAttachMissing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	err := f.exec.Attach(context.Background(), f.spec("never", "true"), executor.Handle{ID: "0123456789ab"})
	if !errors.Is(err, executor.ErrNotFound) {
		t.Fatalf("Attach = %v, want ErrNotFound", err)
	}
}

func TestStartReusesExistingContainer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	spec := f.spec("twice", "echo once >> /workspace/count")
	if err := f.exec.Prepare(ctx, spec); err != nil {
		t.Fatal(err)
	}
	h1, err := f.exec.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := docker.New(f.cli, docker.Options{}).Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 {
		t.Errorf("second Start made %v, want %v", h2, h1)
	}
	if code, err := f.exec.Wait(ctx, spec, h2); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	if b, _ := os.ReadFile(filepath.Join(f.ws, "count")); string(b) != "once\n" {
		t.Errorf("count = %q", b)
	}
	if err := f.exec.Destroy(ctx, spec); err != nil {
		t.Fatal(err)
	}
	f.assertClean(t)
}

func TestMissingImageFailsFast(t *testing.T) {
	t.Parallel()
	f := setup(t)
	spec := f.spec("noimage", "true")
	spec.Image = "buildit-test/no-such-image:1"
	began := time.Now()
	_, err := f.run(t, spec)
	want := `image "buildit-test/no-such-image:1" is not available locally and could not be pulled: `
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q…", err, want)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	f.assertClean(t)
}

func TestDestroyAfterFailedStart(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	// Destroy before anything was made.
	if err := f.exec.Destroy(ctx, f.spec("nothing", "true")); err != nil {
		t.Fatalf("Destroy of nothing: %v", err)
	}
	spec := f.spec("badmount", "true")
	if err := f.exec.Prepare(ctx, spec); err != nil {
		t.Fatal(err)
	}
	spec.Workspace = filepath.Join(f.ws, "does", "not", "exist")
	if _, err := f.exec.Start(ctx, spec); err == nil {
		t.Fatal("Start with a missing workspace succeeded")
	}
	for i := 0; i < 2; i++ {
		if err := f.exec.Destroy(ctx, spec); err != nil {
			t.Fatalf("Destroy #%d: %v", i+1, err)
		}
	}
	f.assertClean(t)
}

func TestResourceLimits(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	spec := f.spec("limited", "true")
	spec.Resources = &pipeline.Resources{CPU: "500m", Memory: "64Mi"}
	if err := f.exec.Prepare(ctx, spec); err != nil {
		t.Fatal(err)
	}
	h, err := f.exec.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	info, err := f.cli.ContainerInspect(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.HostConfig.NanoCPUs != 5e8 || info.HostConfig.Memory != 64<<20 {
		t.Errorf("NanoCPUs %d, Memory %d", info.HostConfig.NanoCPUs, info.HostConfig.Memory)
	}
	if want := docker.ContainerName(f.runID, "limited", 1); info.Name != "/"+want {
		t.Errorf("name %q, want %q", info.Name, want)
	}
	for k, want := range map[string]string{docker.LabelRun: f.runID, docker.LabelStage: "limited", docker.LabelAttempt: "1", docker.LabelManaged: "true"} {
		if got := info.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if err := f.exec.Destroy(ctx, spec); err != nil {
		t.Fatal(err)
	}
	f.assertClean(t)

	spec.Resources = &pipeline.Resources{Memory: "lots"}
	if err := f.exec.Prepare(ctx, spec); err == nil || !strings.Contains(err.Error(), `memory "lots"`) {
		t.Errorf("Prepare with a bad memory = %v", err)
	}
}

// Stages of one run racing through Prepare make one network, and the last
// Destroy removes it.
func TestNetworkSharedByRun(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	const n = 6
	specs := make([]*executor.Spec, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range specs {
		specs[i] = f.spec("stage-"+string(rune('a'+i)), "true")
		// Half through other executors of this process (a restarted
		// in-process worker): the process creates one network per run.
		e := f.exec
		if i%2 == 1 {
			e = docker.New(f.cli, docker.Options{})
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = e.Prepare(ctx, specs[i]) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	_, nets := f.leftovers(t)
	if len(nets) != 1 || nets[0].Name != docker.NetworkName(f.runID) {
		t.Fatalf("networks after Prepare: %v", nets)
	}
	h, err := f.exec.Start(ctx, specs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.exec.Wait(ctx, specs[0], h); err != nil {
		t.Fatal(err)
	}
	for i := n - 1; i >= 1; i-- {
		if err := f.exec.Destroy(ctx, specs[i]); err != nil {
			t.Fatal(err)
		}
	}
	// The first stage's container is still there: the network stays.
	if _, nets := f.leftovers(t); len(nets) != 1 {
		t.Fatalf("network removed while a stage still had a container")
	}
	if err := f.exec.Destroy(ctx, specs[0]); err != nil {
		t.Fatal(err)
	}
	f.assertClean(t)
}

func TestCleanupRun(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	spec := f.spec("abandoned", "sleep 300")
	spec.Services = []pipeline.Service{{Name: "sidecar", Image: f.image, Command: []string{"sleep", "300"}}}
	if err := f.exec.Prepare(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := f.exec.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	cs, ns := f.leftovers(t)
	if len(cs) != 2 || len(ns) != 1 {
		t.Fatalf("before cleanup: %d containers, %d networks", len(cs), len(ns))
	}
	// A crashed worker: a fresh executor knows nothing of the run.
	if err := docker.New(f.cli, docker.Options{}).CleanupRun(ctx, f.runID); err != nil {
		t.Fatal(err)
	}
	f.assertClean(t)
}

func TestKeepRunNetwork(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.exec = docker.New(f.cli, docker.Options{KeepRunNetwork: true})
	for _, stage := range []string{"first", "second"} {
		if _, err := f.run(t, f.spec(stage, "true")); err != nil {
			t.Fatal(err)
		}
		cs, ns := f.leftovers(t)
		if len(cs) != 0 || len(ns) != 1 {
			t.Fatalf("after %s: %d containers, %d networks", stage, len(cs), len(ns))
		}
	}
	if err := f.exec.CleanupRun(context.Background(), f.runID); err != nil {
		t.Fatal(err)
	}
	f.assertClean(t)
}

// Not parallel: it measures the heap. 100 MB of output streams through
// the executor in constant memory.
func TestHugeOutputConstantMemory(t *testing.T) {
	f := setup(t)
	const lines, size = 1_250_000, 84 // 100 MiB with the newlines
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := &executortest.CountSink{}
	spec := f.spec("huge", "yes "+strings.Repeat("x", size-1)+" | head -n "+strconv.Itoa(lines), "printf last")
	var err error
	grew := executortest.HeapGrowth(func() {
		_, err = executor.Run(ctx, f.exec, spec, s, nil, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Lines.Load(), int64(lines+1); got != want {
		t.Errorf("%d lines, want %d", got, want)
	}
	// CountSink counts a newline per line.
	if got, want := s.Bytes.Load(), int64(lines*size+len("last")+1); got != want {
		t.Errorf("%d bytes, want %d", got, want)
	}
	if grew > 32<<20 {
		t.Errorf("heap grew by %d MiB while 100 MiB streamed; want constant memory", grew>>20)
	}
	t.Logf("heap in use grew by at most %d KiB", grew>>10)
}

// After a re-attach the output comes from the engine's log, whose follow
// mode often drops a last line without a newline.
func TestLogsTailAfterReattach(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := range 4 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			spec := f.spec("tail-"+strconv.Itoa(i), "echo first", "echo err >&2", "printf last")
			if err := f.exec.Prepare(ctx, spec); err != nil {
				t.Fatal(err)
			}
			h, err := f.exec.Start(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			// The worker dies now, with the stage's output unread.
			restarted := docker.New(f.cli, docker.Options{})
			s := &sink{}
			if _, err := executor.Run(ctx, restarted, spec, s, &h, nil); err != nil {
				t.Fatal(err)
			}
			equal(t, "stdout", s.texts(executor.Stdout), []string{"first", "last"})
			equal(t, "stderr", s.texts(executor.Stderr), []string{"err"})
			if err := f.exec.Destroy(ctx, spec); err != nil {
				t.Errorf("Destroy: %v", err)
			}
		})
	}
}

// Another worker's Destroy removes the run's network between this worker's
// Prepare and Start: Start makes it again.
func TestNetworkRemovedBeforeStart(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	spec := f.spec("late", "echo ok")
	if err := f.exec.Prepare(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := f.cli.NetworkRemove(ctx, docker.NetworkName(f.runID)); err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	if _, err := executor.Run(ctx, f.exec, spec, s, nil, nil); err != nil {
		t.Fatal(err)
	}
	equal(t, "stdout", s.texts(executor.Stdout), []string{"ok"})
	f.assertClean(t)
}
