// Package host runs stages on the host shell: the stage's commands as one
// `sh -e` script in the workspace, in a process group of its own so that a
// cancel or timeout kills everything the script started; with the stage's
// own environment (a local run adds the user's) and, when the spec names
// one, as the stage's own user.
package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/buildit-ci/buildit/executor"
)

// KillGrace is how long a cancelled stage's process group has between
// SIGTERM and SIGKILL.
const KillGrace = 2 * time.Second

// maxLine bounds one log line; longer lines are split, so that a stage that
// prints without newlines streams in constant memory.
const maxLine = 64 * 1024

// DefaultPath is PATH for a stage that does not inherit its environment.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options configure an Executor.
type Options struct {
	// InheritEnv starts stages with this process's environment under
	// their own, as make does: for buildit run on a person's machine. A
	// worker leaves it off, so that its DATABASE_URL, BUILDIT_SECRET_KEY
	// and the rest never reach a tenant's stage: a stage then starts
	// from PATH (DefaultPath), LANG=C.UTF-8, and HOME and TMPDIR as the
	// spec gives them.
	InheritEnv bool
}

// Executor is the host-shell executor. The zero value is not usable; call
// New.
type Executor struct {
	opts  Options
	mu    sync.Mutex
	procs map[string]*proc
}

type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *os.File
	done           chan struct{}
	code           int
	waitErr        error
}

// New returns a host executor.
func New(opts Options) *Executor {
	return &Executor{opts: opts, procs: map[string]*proc{}}
}

var _ executor.Executor = (*Executor)(nil)

// Name implements executor.Executor.
func (e *Executor) Name() string { return "host" }

func key(s *executor.Spec) string {
	return s.RunID + "\x00" + s.StageID + "\x00" + strconv.Itoa(s.Attempt)
}

// Prepare makes the working directory when it is missing, inside the
// workspace even through symbolic links, owned by the stage's user.
func (e *Executor) Prepare(_ context.Context, spec *executor.Spec) error {
	if spec.Workspace == "" {
		return errors.New("no workspace")
	}
	_, err := executor.MakeWorkspaceDir(spec.Workspace, spec.Workdir, 0o755, spec.User)
	return workdirError(spec, err)
}

// workdir is the real path of the stage's working directory, which must
// still be inside the workspace: the script starts in it, not in the path
// as written, which a symbolic link could point elsewhere.
func workdir(spec *executor.Spec) (string, error) {
	if spec.Workspace == "" {
		return "", errors.New("no workspace")
	}
	dir, err := executor.WorkspacePath(spec.Workspace, spec.Workdir)
	return dir, workdirError(spec, err)
}

func workdirError(spec *executor.Spec, err error) error {
	var esc *executor.EscapeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &esc):
		return fmt.Errorf("workdir %w", err)
	}
	return fmt.Errorf("workdir %q: %w", spec.Workdir, err)
}

// Start starts the script in its own process group, as the spec's user
// when it names one.
func (e *Executor) Start(_ context.Context, spec *executor.Spec) (executor.Handle, error) {
	dir, err := workdir(spec)
	if err != nil {
		return executor.Handle{}, err
	}
	shell := strings.Fields(spec.Shell)
	if len(shell) == 0 {
		shell = []string{"sh"}
	}
	args := append(shell[1:], "-e", "-c", strings.Join(spec.Commands, "\n"))
	cmd := exec.Command(shell[0], args...)
	cmd.Dir = dir
	cmd.Env = e.environ(spec)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if u := spec.User; u != nil {
		// No supplementary groups: root's must not come along.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{}}
	}
	cmd.Stdin = nil

	outR, outW, err := os.Pipe()
	if err != nil {
		return executor.Handle{}, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return executor.Handle{}, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	// The child holds its own copies; ours must close so that reads end
	// when the process group is gone.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return executor.Handle{}, fmt.Errorf("start %s: %w", shell[0], err)
	}
	p := &proc{cmd: cmd, stdout: outR, stderr: errR, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
			if status, ok := ee.Sys().(syscall.WaitStatus); ok && status.Signaled() {
				p.code = 128 + int(status.Signal())
			}
		default:
			p.waitErr = err
		}
		close(p.done)
	}()
	e.mu.Lock()
	e.procs[key(spec)] = p
	e.mu.Unlock()
	return executor.Handle{ID: strconv.Itoa(cmd.Process.Pid)}, nil
}

// environ is the stage's env and secrets on top of a base: this process's
// environment with InheritEnv, else a minimal one. It is sorted so that the
// order does not depend on map iteration.
func (e *Executor) environ(spec *executor.Spec) []string {
	env := map[string]string{}
	if e.opts.InheritEnv {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	} else {
		env["PATH"] = DefaultPath
		env["LANG"] = "C.UTF-8"
	}
	if spec.Home != "" {
		env["HOME"] = spec.Home
	}
	if spec.TempDir != "" {
		env["TMPDIR"] = spec.TempDir
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	for k, v := range spec.Secrets {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (e *Executor) proc(spec *executor.Spec) *proc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.procs[key(spec)]
}

// Attach finds a stage this process started. A host process cannot be
// re-attached from another process (its output pipes died with the worker),
// so after a worker restart Attach reports ErrNotFound and the stage runs
// again.
func (e *Executor) Attach(_ context.Context, spec *executor.Spec, _ executor.Handle) error {
	if e.proc(spec) == nil {
		return executor.ErrNotFound
	}
	return nil
}

// Logs streams stdout and stderr line by line until both end.
func (e *Executor) Logs(ctx context.Context, spec *executor.Spec, _ executor.Handle, sink executor.LogSink) error {
	p := e.proc(spec)
	if p == nil {
		return executor.ErrNotFound
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pump(p.stdout, spec.StageID, executor.Stdout, sink) }()
	go func() { defer wg.Done(); pump(p.stderr, spec.StageID, executor.Stderr, sink) }()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Unblock the readers; the process may have left children that
		// still hold the pipes.
		p.stdout.Close()
		p.stderr.Close()
		<-done
		return ctx.Err()
	}
}

// pump copies r to sink a line at a time, splitting lines over maxLine.
func pump(r io.Reader, stage string, stream executor.Stream, sink executor.LogSink) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			text := strings.TrimSuffix(string(line), "\n")
			sink.WriteLine(stage, stream, strings.TrimSuffix(text, "\r"))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// Wait waits for the script to end. When ctx is done first it kills the
// process group: SIGTERM, then SIGKILL after KillGrace.
func (e *Executor) Wait(ctx context.Context, spec *executor.Spec, _ executor.Handle) (int, error) {
	p := e.proc(spec)
	if p == nil {
		return 0, executor.ErrNotFound
	}
	select {
	case <-p.done:
		return p.code, p.waitErr
	case <-ctx.Done():
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(KillGrace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
	return p.code, ctx.Err()
}

// Destroy kills whatever is left of the stage's process group and forgets
// it. It is safe after a failed Start and when called twice.
func (e *Executor) Destroy(_ context.Context, spec *executor.Spec) error {
	e.mu.Lock()
	p := e.procs[key(spec)]
	delete(e.procs, key(spec))
	e.mu.Unlock()
	if p == nil {
		return nil
	}
	// Background jobs the script left behind belong to the stage.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	p.stdout.Close()
	p.stderr.Close()
	return nil
}
