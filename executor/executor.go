// Package executor defines how BuildIt runs one attempt of one stage: the
// Executor lifecycle that the host-shell and Docker executors implement, the
// Spec they are given and the LogSink they stream output to.
//
// It imports nothing of BuildIt but the pipeline model.
package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/buildit-ci/buildit/pipeline"
)

// Spec is one attempt of one stage, as an executor sees it.
type Spec struct {
	// RunID identifies the run; with StageID and Attempt it names everything
	// the executor creates, so that names are deterministic and a restarted
	// worker can find them again.
	RunID   string
	StageID string
	Attempt int

	// Image is the container image; "" runs on the host.
	Image string
	// Commands run in order in one script under `Shell -e`.
	Commands []string
	Shell    string
	// Workspace is the host folder shared by every stage of the run; it is
	// mounted at /workspace in containers.
	Workspace string
	// Workdir is relative to the workspace.
	Workdir string
	// Env is the stage's environment; Secrets are added to it and their
	// values are masked in logs by the caller's sink.
	Env      map[string]string
	Secrets  map[string]string
	Services []pipeline.Service
	// Resources limit the stage's container, when set.
	Resources *pipeline.Resources

	// User, when set, is the user a host stage runs as (a worker running
	// as root gives each run's host stages a user of their own).
	User *User
	// Home and TempDir, when set, are HOME and TMPDIR of a host stage:
	// folders of the run's own, where a stage's tools keep their files.
	// A container stage's Home, when set, is bind-mounted at
	// /buildit/home and is its HOME (TempDir is not used).
	Home    string
	TempDir string
}

// User is a numeric user and group ID; it needs no entry in /etc/passwd.
type User struct {
	UID uint32
	GID uint32
}

// Stream says which output stream a log line came from.
type Stream uint8

// The output streams.
const (
	Stdout Stream = 1
	Stderr Stream = 2
)

func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// LogSink receives a stage's output line by line, in order. A line has no
// trailing newline. Implementations must be safe for use by one writer per
// stage concurrently with other stages' writers.
type LogSink interface {
	WriteLine(stage string, stream Stream, line string)
}

// Handle identifies a started stage so that a restarted worker can attach to
// it again (a container ID, or a process ID). It is small and serializable:
// the stage activity records it in its heartbeat details.
type Handle struct {
	ID string `json:"id"`
}

// Executor runs stages. The activity drives it through this lifecycle:
//
//	Prepare → Start (or Attach) → Logs ∥ Wait → Destroy
//
// Destroy is always called, whatever happened before it, and must be safe to
// call after a failed Prepare or Start, and more than once.
type Executor interface {
	// Name identifies the executor in logs ("host", "docker").
	Name() string
	// Prepare makes ready what Start needs: for Docker, the image (pulled
	// when missing), the run's network and the stage's services. It is
	// idempotent.
	Prepare(ctx context.Context, spec *Spec) error
	// Start starts the stage's commands and returns at once with a handle.
	Start(ctx context.Context, spec *Spec) (Handle, error)
	// Attach finds a stage started earlier (by this process or one that
	// died) from its handle. It returns ErrNotFound when nothing is left to
	// attach to, in which case the caller starts the stage again.
	Attach(ctx context.Context, spec *Spec, h Handle) error
	// Logs streams the stage's output to sink until the output ends or ctx
	// is done. After an Attach it may repeat lines already streamed.
	Logs(ctx context.Context, spec *Spec, h Handle, sink LogSink) error
	// Wait blocks until the stage's commands end and returns their exit
	// code. When ctx is done it stops the commands (the whole process group
	// or the container) and returns ctx's error.
	Wait(ctx context.Context, spec *Spec, h Handle) (int, error)
	// Destroy removes everything Prepare and Start created for the stage.
	Destroy(ctx context.Context, spec *Spec) error
}

// ErrNotFound reports that Attach found nothing to attach to.
var ErrNotFound = errors.New("stage not found")

// ExitError reports that a stage's commands ended with a non-zero status.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Result is the outcome of Run.
type Result struct {
	ExitCode int
	Duration time.Duration
}

// Run drives e through the whole lifecycle for spec, streaming logs to sink.
// A non-zero exit comes back as an *ExitError. onStart, if not nil, is called
// with the handle as soon as the stage has started (the activity heartbeats
// it); resume, if set, is tried with Attach first.
func Run(ctx context.Context, e Executor, spec *Spec, sink LogSink, resume *Handle, onStart func(Handle)) (res Result, err error) {
	began := time.Now()
	defer func() {
		// Destroy even when ctx is cancelled: that is when cleanup matters.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := e.Destroy(dctx, spec); derr != nil && err == nil {
			err = fmt.Errorf("clean up: %w", derr)
		}
		res.Duration = time.Since(began)
	}()

	var h Handle
	attached := false
	if resume != nil && resume.ID != "" {
		if aerr := e.Attach(ctx, spec, *resume); aerr == nil {
			h, attached = *resume, true
		} else if !errors.Is(aerr, ErrNotFound) {
			return res, fmt.Errorf("attach: %w", aerr)
		}
	}
	if !attached {
		if err := e.Prepare(ctx, spec); err != nil {
			return res, fmt.Errorf("prepare: %w", err)
		}
		h, err = e.Start(ctx, spec)
		if err != nil {
			return res, fmt.Errorf("start: %w", err)
		}
	}
	if onStart != nil {
		onStart(h)
	}

	logsDone := make(chan error, 1)
	lctx, stopLogs := context.WithCancel(ctx)
	defer stopLogs()
	go func() { logsDone <- e.Logs(lctx, spec, h, sink) }()

	code, werr := e.Wait(ctx, spec, h)
	// Let the log stream drain what the stage printed before it ended.
	select {
	case <-logsDone: //nolint:errcheck // a failed log stream does not change the stage's result
	case <-time.After(5 * time.Second):
		stopLogs()
		<-logsDone //nolint:errcheck // a failed log stream does not change the stage's result
	}
	if werr != nil {
		return res, werr
	}
	res.ExitCode = code
	if code != 0 {
		return res, &ExitError{Code: code}
	}
	return res, nil
}
