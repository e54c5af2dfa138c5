// Package activities holds BuildIt's Temporal activities: methods on
// Stages, ServerMode and Deploys, each carrying the dependencies of its
// concern (executors, stores, deploy backends), which the wiring (cli)
// hands in. worker/ registers them; workflows refer to them by name.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/artifact"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/workflows"
)

// SecretSource looks up secret values by name, for a run: ref names the
// run in the platform's database (its tenant's secrets apply), or is nil in
// a local run. Values never enter workflow history: the workflow carries
// names, the activity resolves them.
type SecretSource interface {
	Secrets(ctx context.Context, ref *buildit.RunRef, names []string) (map[string]string, error)
}

// MapSecrets is a SecretSource over a fixed map (a local run's --secret
// values).
type MapSecrets map[string]string

// Secrets implements SecretSource.
func (m MapSecrets) Secrets(_ context.Context, _ *buildit.RunRef, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	for _, n := range names {
		if v, ok := m[n]; ok {
			out[n] = v
		}
	}
	return out, nil
}

// Activities are the engine's activities, by concern, each part with the
// dependencies of its own: the stages (with the local fast path), what
// only server-mode runs use (records, turns, workspaces) and deploys.
// worker/ registers every part's methods under the names workflows know.
// Make it with New, which shares one Shared between the parts.
type Activities struct {
	// Shared is the parts' common dependencies: setting one of its
	// fields sets it for every part.
	*Shared
	Stages  *Stages
	Server  *ServerMode
	Deploys *Deploys
}

// New returns the activities with shared as the stage and deploy
// activities' common dependencies and nothing else set: the caller gives
// each part its executors, stores and backends.
func New(shared Shared) *Activities {
	sh := &shared
	sh.present = &present{}
	return &Activities{Shared: sh, Stages: &Stages{Shared: sh}, Server: &ServerMode{present: sh.present}, Deploys: &Deploys{Shared: sh}}
}

// Shared is what the stage and the deploy activities both need: where
// their log lines go, the secrets, the logger and the heartbeat period.
type Shared struct {
	// Sink receives every stage's log lines (those of runs without a
	// Record, or every run's when Logs is nil).
	Sink executor.LogSink
	// Logs stores the logs of server-mode runs (those with a Record).
	Logs LogStore
	// Secrets resolves the secrets stages ask for and the credentials of
	// deploy targets; nil means none exist.
	Secrets SecretSource
	// HeartbeatEvery is how often a running stage or deploy heartbeats;
	// the worker's throttle decides how often that reaches the server.
	HeartbeatEvery time.Duration
	// Logger receives the activities' own messages; nil discards them.
	Logger *slog.Logger

	// present is what this process knows to be in its workspaces
	// (artifacts.go); New makes it.
	present *present
}

// Stages runs command stages: RunStage, and RunStageLocal for the local
// fast path (which keeps the stages it started in this process, to be
// followed by a RunStage with Resume). Its Shared must be set, as New
// does.
type Stages struct {
	*Shared
	// Host runs stages without an image.
	Host executor.Executor
	// Docker runs stages with an image; nil when no engine is available.
	Docker executor.Executor
	// ForceHost runs every stage on the host, ignoring images.
	ForceHost bool
	// AllowHostStages lets stages without an image of server-mode runs
	// (those with a Record) run on the host: for a single-tenant
	// self-hosted worker (--allow-host-stages). Without it such a stage
	// fails with a configuration error, whatever the API let through.
	// Local runs (buildit run) do not need it.
	AllowHostStages bool
	// Artifacts saves and restores the stages' artifacts and caches; nil
	// means this worker keeps none (a stage that declares some fails with
	// a configuration error).
	Artifacts *artifact.Service

	mu      sync.Mutex
	flights map[string]*flight
}

// heartbeat is what a stage activity records while its stage runs, so that
// an attempt retried on another worker can attach to it.
type heartbeat struct {
	Handle executor.Handle `json:"handle"`
}

// RunStage runs one attempt of one command stage. A stage whose commands
// fail or time out is a result, not an error; errors are for the machinery.
// It heartbeats while the stage runs, with the executor's handle as details,
// so that an attempt retried after a lost worker attaches to the stage.
func (a *Stages) RunStage(ctx context.Context, in workflows.StageInput) (workflows.StageResult, error) {
	if in.Resume {
		if fl := a.inflight(in); fl != nil {
			return a.follow(ctx, fl, in)
		}
		// The worker that started it is gone: run the stage again.
	}
	var resume *executor.Handle
	if activity.HasHeartbeatDetails(ctx) {
		var hb heartbeat
		if err := activity.GetHeartbeatDetails(ctx, &hb); err == nil && hb.Handle.ID != "" {
			resume = &hb.Handle
		}
	}
	var mu sync.Mutex
	current := heartbeat{}
	if resume != nil {
		current.Handle = *resume
	}
	stopBeat := a.heartbeatLoop(ctx, func() heartbeat {
		mu.Lock()
		defer mu.Unlock()
		return current
	})
	defer stopBeat()
	// The handle reaches the server with the loop's first heartbeat, not
	// at once: the first heartbeat of an activity is a synchronous call,
	// which short stages would all pay. A worker lost before then loses
	// nothing the executor cannot find again by the attempt's
	// deterministic names (Docker); host processes die with their worker.
	return a.execute(ctx, in, resume, func(h executor.Handle) {
		mu.Lock()
		current.Handle = h
		mu.Unlock()
	})
}

// RunStageLocal runs a host stage as a local activity: it starts the stage
// and waits up to in.LocalBudget. A stage still running then is left running
// and reported Pending; RunStage with Resume follows it from there with
// heartbeats.
func (a *Stages) RunStageLocal(ctx context.Context, in workflows.StageInput) (workflows.StageResult, error) {
	fl := a.launch(in)
	budget := time.NewTimer(in.LocalBudget)
	defer budget.Stop()
	select {
	case <-fl.done:
		a.forget(in)
		return fl.res, fl.err
	case <-budget.C:
		return workflows.StageResult{Pending: true}, nil
	case <-ctx.Done():
		fl.cancel()
		<-fl.done
		a.forget(in)
		return workflows.StageResult{}, ctx.Err()
	}
}

// flight is a stage started by RunStageLocal that runs on in this process.
type flight struct {
	done   chan struct{}
	res    workflows.StageResult
	err    error
	cancel context.CancelFunc
}

func flightKey(in workflows.StageInput) string {
	return in.RunID + "\x00" + in.Step.ID + "\x00" + strconv.Itoa(in.Attempt)
}

// launch starts the stage in the background, detached from the local
// activity's context so that it can outlive it.
func (a *Stages) launch(in workflows.StageInput) *flight {
	ctx, cancel := context.WithCancel(context.Background())
	fl := &flight{done: make(chan struct{}), cancel: cancel}
	a.mu.Lock()
	if a.flights == nil {
		a.flights = map[string]*flight{}
	}
	a.flights[flightKey(in)] = fl
	a.mu.Unlock()
	go func() {
		defer close(fl.done)
		defer cancel()
		fl.res, fl.err = a.execute(ctx, in, nil, nil)
	}()
	return fl
}

func (a *Stages) inflight(in workflows.StageInput) *flight {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.flights[flightKey(in)]
}

func (a *Stages) forget(in workflows.StageInput) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.flights, flightKey(in))
}

// follow waits for a launched stage while heartbeating; a cancel of the
// activity stops the stage.
func (a *Stages) follow(ctx context.Context, fl *flight, in workflows.StageInput) (workflows.StageResult, error) {
	defer a.forget(in)
	stopBeat := a.heartbeatLoop(ctx, func() heartbeat { return heartbeat{} })
	defer stopBeat()
	select {
	case <-fl.done:
		return fl.res, fl.err
	case <-ctx.Done():
		fl.cancel()
		<-fl.done
		return workflows.StageResult{}, ctx.Err()
	}
}

// execute runs one attempt through its executor. resume, if set, is tried
// with Attach first; onStart is called with the handle once it runs.
func (a *Stages) execute(ctx context.Context, in workflows.StageInput, resume *executor.Handle, onStart func(executor.Handle)) (workflows.StageResult, error) {
	st := in.Step
	sink := a.Sink
	if in.Record != nil && a.Logs != nil {
		log, err := a.Logs.OpenLog(ctx, *in.Record, st.ID, in.Attempt)
		if err != nil {
			return workflows.StageResult{}, err
		}
		// The attempt ends once its log is stored (or the activity is
		// given up on): a reader who sees the stage ended sees its log.
		defer func() {
			if err := log.Close(ctx); err != nil {
				a.logger().Warn("stage log not stored in full", "stage", st.ID, "attempt", in.Attempt, "error", err)
			}
		}()
		sink = log
	}
	// configError fails the attempt for good, saying why in its log too.
	configError := func(msg string) (workflows.StageResult, error) {
		sink.WriteLine(st.ID, executor.Stderr, "buildit: "+msg)
		return workflows.StageResult{}, temporal.NewNonRetryableApplicationError(msg, workflows.ErrTypeConfig, nil)
	}
	exec, err := a.executorFor(in)
	if err != nil {
		return configError(err.Error())
	}
	names := st.Secrets
	if in.NoSecrets && len(names) > 0 {
		// A pull request from a fork: its code is not the tenant's to
		// trust with the tenant's secrets.
		sink.WriteLine(st.ID, executor.Stderr, withheldLine(names))
		names = nil
	}
	secrets, missing, err := a.resolveSecrets(ctx, in.Record, names)
	switch {
	case err != nil: // the store failed: worth retrying, unless it says not
		return workflows.StageResult{}, err
	case len(missing) > 0:
		return configError("secrets not provided: " + strings.Join(missing, ", "))
	}
	spec := &executor.Spec{
		RunID:     in.RunID,
		StageID:   st.ID,
		Attempt:   in.Attempt,
		Image:     st.Image,
		Commands:  st.Run,
		Shell:     st.Shell,
		Workspace: in.Workspace,
		Workdir:   st.Workdir,
		Env:       in.Vars(),
		Secrets:   secrets,
		Services:  st.Services,
		Resources: st.Resources,
	}
	if a.ForceHost {
		spec.Image = ""
		spec.Services = nil
	}
	if exec == a.Host && in.Record != nil {
		if err := isolate(in, spec); err != nil {
			return configError(err.Error())
		}
	}
	var store *stageStore
	if usesArtifacts(in) {
		if store, err = a.newStageStore(in, spec, exec == a.Host, sink); err != nil {
			return configError(err.Error())
		}
	}

	// The stage's own timeout: a result, so that `retry` applies to it.
	sctx, cancel := context.WithTimeout(ctx, st.Timeout)
	defer cancel()

	// Secret values, and their encoded forms, are masked in the stage's
	// log and in the errors of the attempt.
	mask := newMasker(secrets)
	if mask != nil {
		sink = &maskingSink{next: sink, k: mask}
	}
	logger := a.logger().With("stage", st.ID, "attempt", in.Attempt, "executor", exec.Name())
	if store != nil && resume == nil {
		// An attempt that attaches to its running stage restored
		// everything before it started.
		if err := store.restore(sctx); err != nil {
			if ctx.Err() != nil {
				return workflows.StageResult{}, ctx.Err()
			}
			return workflows.StageResult{}, err
		}
	}
	logger.Debug("stage starting")
	res, err := executor.Run(sctx, exec, spec, sink, resume, onStart)
	var exitErr *executor.ExitError
	var result workflows.StageResult
	switch {
	case err == nil:
		logger.Debug("stage succeeded", "duration", res.Duration)
	case errors.As(err, &exitErr):
		logger.Debug("stage failed", "exit_code", exitErr.Code, "duration", res.Duration)
		result = workflows.StageResult{ExitCode: exitErr.Code}
	case ctx.Err() != nil:
		// Cancelled by the workflow (or the worker is stopping).
		return workflows.StageResult{}, ctx.Err()
	case sctx.Err() != nil:
		sink.WriteLine(st.ID, executor.Stderr, fmt.Sprintf("buildit: stage timed out after %s", st.Timeout))
		result = workflows.StageResult{ExitCode: -1, TimedOut: true}
	}
	if err == nil || result.ExitCode != 0 {
		if store != nil {
			// Saved under the activity's context: the stage's own may
			// have timed out.
			kept, serr := store.save(ctx, err == nil)
			result.Artifacts = kept
			if serr != nil && err == nil {
				return workflows.StageResult{}, serr
			}
		}
		return result, nil
	}
	// The machinery failed (an image that cannot be pulled, an engine that
	// went away): say so in the stage's log too, where people look.
	err = mask.maskError(err)
	sink.WriteLine(st.ID, executor.Stderr, "buildit: "+err.Error())
	return workflows.StageResult{}, err
}

func (a *Stages) executorFor(in workflows.StageInput) (executor.Executor, error) {
	if in.Step.Image == "" || a.ForceHost {
		if in.Record != nil && !a.AllowHostStages {
			return nil, fmt.Errorf("stage %q has no image, and this worker runs the stages of server-mode runs only in containers: set `image` on the stage or in `defaults` (a single-tenant worker may run them on its host with --allow-host-stages)", in.Step.ID)
		}
		if a.Host == nil {
			return nil, errors.New("no host executor on this worker")
		}
		return a.Host, nil
	}
	if a.Docker == nil {
		return nil, fmt.Errorf("stage %q needs a container (image %q) but this worker has no Docker engine; use --executor local to run it on the host", in.Step.ID, in.Step.Image)
	}
	return a.Docker, nil
}

// withheldLine is the line a stage's log gets when its secrets are
// withheld (StageInput.NoSecrets).
func withheldLine(names []string) string {
	return "buildit: secrets withheld because this run is a pull request from a fork: " + strings.Join(names, ", ") +
		" (not set; the repository may allow them to forks)"
}

// resolveSecrets looks up the secrets a stage names; it returns those the
// source does not have in missing.
func (a *Stages) resolveSecrets(ctx context.Context, ref *buildit.RunRef, names []string) (values map[string]string, missing []string, err error) {
	if len(names) == 0 {
		return nil, nil, nil
	}
	values = map[string]string{}
	if a.Secrets != nil {
		if values, err = a.Secrets.Secrets(ctx, ref, names); err != nil {
			// Returned as it is: Temporal reads a non-retryable error
			// only when it is not wrapped.
			return nil, nil, err
		}
	}
	for _, name := range names {
		if _, ok := values[name]; !ok {
			missing = append(missing, name)
		}
	}
	return values, missing, nil
}

// heartbeatLoop heartbeats until stopped, so that a cancellation reaches
// the stage within the worker's heartbeat throttle.
func (a *Shared) heartbeatLoop(ctx context.Context, details func() heartbeat) (stop func()) {
	every := a.HeartbeatEvery
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				// Every heartbeat replaces the details, so always send them.
				activity.RecordHeartbeat(ctx, details())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (a *Shared) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}
