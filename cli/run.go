package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"golang.org/x/term"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/devserver"
	"github.com/buildit-ci/buildit/engine"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/webui"
	"github.com/buildit-ci/buildit/worker"
	"github.com/buildit-ci/buildit/workflows"
)

// LocalFastPath is how long `buildit run` lets a host stage run as a local
// activity before handing it to a heartbeating regular activity.
const LocalFastPath = 2 * time.Second

// runFlags are the flags of `buildit run`.
type runFlags struct {
	env             []string
	secrets         []string
	only            []string
	workdir         string
	branch          string
	commit          string
	event           string
	json            bool
	executor        string
	approve         []string
	approveAll      bool
	temporalAddress string
	namespace       string
	ui              bool
	uiPort          int
}

func newRunCommand(a *app) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a pipeline on this machine",
		Long: `Run validates a pipeline file, then runs it as a Temporal workflow on an
embedded Temporal server started in this process (or on --temporal-address),
with an in-process worker. Stage output streams to the terminal, prefixed by
stage; a summary table follows.

Stages with an image run in Docker containers; stages without one run on the
host shell. The workspace, shared by every stage (at /workspace in
containers), is the pipeline file's folder unless --workdir says otherwise.

Exit status: 0 when the run succeeded, 1 when it failed, 2 for a bad file or
flag, 130 when interrupted (after the running stages are stopped).`,
		Example: `  buildit run examples/hello.kdl
  buildit run ci.kdl --only test --env GOFLAGS=-race
  buildit run deploy.kdl --approve approve --secret FLY_API_TOKEN
  buildit run ci.kdl --temporal-address localhost:7233 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.run(cmd.Context(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set `K=V` in every stage's environment (repeatable)")
	fl.StringArrayVarP(&f.secrets, "secret", "s", nil, "provide secret `NAME` from the environment, or ask for it (repeatable)")
	fl.StringArrayVar(&f.only, "only", nil, "run only `STAGE` and what it needs (repeatable)")
	fl.StringVar(&f.workdir, "workdir", "", "workspace folder (default: the pipeline file's folder)")
	fl.StringVar(&f.branch, "branch", "", "branch for when conditions (default: the workspace's git branch)")
	fl.StringVar(&f.commit, "commit", "", "commit for BUILDIT_COMMIT (default: the workspace's git HEAD)")
	fl.StringVar(&f.event, "event", "manual", "event for when conditions (push, pull_request, tag, manual, …)")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON on stdout (logs go to stderr)")
	fl.StringVar(&f.executor, "executor", "auto", "where stages run: auto (Docker for stages with an image), local (all on the host) or docker")
	fl.StringArrayVar(&f.approve, "approve", nil, "approve the approval stage `STAGE` without asking (repeatable)")
	fl.BoolVar(&f.approveAll, "approve-all", false, "approve every approval stage without asking")
	fl.StringVar(&f.temporalAddress, "temporal-address", "", "use the Temporal server at `HOST:PORT` instead of an embedded one")
	fl.StringVar(&f.namespace, "namespace", "default", "Temporal namespace")
	fl.BoolVar(&f.ui, "ui", false, "serve the Temporal Web UI, print the run's page, and keep it up after the run until Ctrl-C")
	fl.IntVar(&f.uiPort, "ui-port", 0, "port for --ui (default: a free one)")
	return cmd
}

// run is `buildit run`.
func (a *app) run(ctx context.Context, file string, f *runFlags) error {
	began := time.Now()
	if ctx == nil {
		ctx = context.Background()
	}
	if !slices.Contains([]string{"auto", "local", "docker"}, f.executor) {
		return usageError(fmt.Errorf("unknown --executor %q: want auto, local or docker", f.executor))
	}
	env, err := parseEnvFlags(f.env)
	if err != nil {
		return usageError(err)
	}
	plan, err := a.loadPlan(ctx, file)
	if err != nil {
		return err
	}
	if len(f.only) > 0 {
		if plan, err = plan.Only(f.only...); err != nil {
			return usageError(err)
		}
	}
	workspace := f.workdir
	if workspace == "" {
		workspace = filepath.Dir(file)
	}
	if workspace, err = filepath.Abs(workspace); err != nil {
		return usageError(err)
	}
	if fi, err := os.Stat(workspace); err != nil || !fi.IsDir() {
		return usageError(fmt.Errorf("workspace %s is not a folder", workspace))
	}
	secrets, err := a.collectSecrets(plan, f.secrets)
	if err != nil {
		return usageError(err)
	}
	if f.branch == "" {
		f.branch = gitOutput(workspace, "rev-parse", "--abbrev-ref", "HEAD")
	}
	if f.commit == "" {
		f.commit = gitOutput(workspace, "rev-parse", "HEAD")
	}

	// Ctrl-C (or SIGTERM) cancels the run; a second one exits at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	logs := a.stdout
	if f.json {
		logs = a.stderr
	}
	ids := make([]string, len(plan.Steps))
	for i, st := range plan.Steps {
		ids[i] = st.ID
	}
	sink := newConsoleSink(logs, ids)

	acts := &activities.Activities{Host: host.New(host.Options{InheritEnv: true}), Sink: sink, Secrets: activities.MapSecrets(secrets), Logger: a.logger}
	cleanup, err := a.setUpExecutors(ctx, acts, plan, f.executor)
	if err != nil {
		return err
	}

	hostPort, namespace := f.temporalAddress, f.namespace
	runStarted := false
	embedded := hostPort == ""
	if embedded {
		t0 := time.Now()
		opts := devserver.Options{Namespace: namespace}
		if a.verbose {
			opts.Logger = a.logger
		}
		srv, err := devserver.Start(ctx, opts)
		if err != nil {
			return fmt.Errorf("start embedded Temporal: %w", err)
		}
		// The server keeps everything in memory and the process is about
		// to exit: a graceful stop (about a second of draining pollers)
		// would only delay the exit. Stop it only when the run could not
		// start.
		started := false
		defer func() {
			if !started {
				_ = srv.Stop()
			}
		}()
		defer func() { started = runStarted }()
		hostPort = srv.HostPort()
		a.logger.Debug("embedded Temporal started", "address", hostPort, "took", time.Since(t0))
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  hostPort,
		Namespace: namespace,
		Logger:    tlog.NewStructuredLogger(a.logger),
	})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", hostPort, err)
	}
	defer c.Close()

	searchable := embedded
	if !embedded {
		// Runs on a shared server carry BuildIt's search attributes when
		// the namespace has them or they can be added.
		if _, err := engine.EnsureSearchAttributes(ctx, c, namespace); err != nil {
			fmt.Fprintf(a.stderr, "buildit: the run will not carry search attributes: %v\n", err)
		} else {
			searchable = true
		}
	}

	runID := newRunID(plan.Pipeline)
	var ui *webui.UI
	if f.ui {
		if ui, err = webui.Start(ctx, webui.Options{TemporalAddress: hostPort, Namespace: namespace, Port: f.uiPort}); err != nil {
			return err
		}
		defer ui.Stop()
		fmt.Fprintf(a.stderr, "buildit: Temporal UI: %s\n", ui.WorkflowURL(namespace, runID))
	}
	// A task queue of its own, so that only this process's worker takes the
	// run's tasks even on a shared Temporal server.
	taskQueue := "buildit-local-" + runID
	w := worker.New(c, acts, worker.Options{TaskQueue: taskQueue})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()

	in := workflows.PipelineRunInput{
		RunID:       runID,
		Plan:        *plan,
		Workspace:   workspace,
		Branch:      f.branch,
		Commit:      f.commit,
		Event:       f.event,
		Env:         env,
		AutoApprove: f.approve,
	}
	if f.approveAll {
		in.AutoApprove = []string{"*"}
	}
	// One worker in this process: host stages can take the local fast
	// path (see PipelineRunInput.LocalFastPath).
	in.LocalFastPath = LocalFastPath
	in.ForceHost = acts.ForceHost
	run, err := engine.StartRun(ctx, c, in, engine.RunOptions{
		ID: runID, TaskQueue: taskQueue, SearchAttributes: searchable, Trigger: "local", Actor: os.Getenv("USER"),
	})
	if err != nil {
		return err
	}
	runStarted = true
	a.logger.Debug("run started", "workflow_id", runID, "temporal", hostPort)

	interrupted := false
	waitCtx, stopWaiting := context.WithCancel(context.Background())
	defer stopWaiting()
	go func() {
		select {
		case <-sigs:
		case <-waitCtx.Done():
			return
		}
		interrupted = true
		fmt.Fprintln(a.stderr, "\nbuildit: interrupted; stopping the running stages (Ctrl-C again to quit now)")
		if err := c.CancelWorkflow(context.Background(), runID, ""); err != nil {
			a.logger.Warn("cancel run failed", "error", err)
		}
		select {
		case <-sigs:
			cleanup(context.Background(), runID)
			os.Exit(ExitSignal)
		case <-waitCtx.Done():
		}
	}()
	go a.answerApprovals(waitCtx, c, runID)

	final, err := engine.Wait(waitCtx, run)
	stopWaiting()
	cleanup(context.Background(), runID)
	if err != nil {
		return fmt.Errorf("run %s: %w", runID, err)
	}
	if f.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			RunID string `json:"run_id"`
			workflows.RunState
			DurationMS int64 `json:"duration_ms"`
		}{runID, final, time.Since(began).Milliseconds()})
	} else {
		writeSummary(a.stdout, final, time.Since(began))
	}
	if ui != nil && !interrupted {
		fmt.Fprintf(a.stderr, "buildit: the run's history stays at %s until Ctrl-C\n", ui.WorkflowURL(namespace, runID))
		<-sigs
	}
	switch {
	case interrupted:
		return &ExitError{Code: ExitSignal, Silent: true}
	case final.Status == workflows.RunSucceeded:
		return nil
	}
	return &ExitError{Code: ExitFailed, Silent: true}
}

// answerApprovals watches the run for approval gates that wait and asks at
// the terminal; without a terminal it rejects them, since nobody could
// answer (pass --approve or --approve-all instead).
func (a *app) answerApprovals(ctx context.Context, c client.Client, runID string) {
	asked := map[string]bool{}
	interactive := term.IsTerminal(int(os.Stdin.Fd()))
	stdin := bufio.NewReader(os.Stdin)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
		st, err := engine.State(ctx, c, runID)
		if err != nil {
			continue
		}
		for _, s := range st.Stages {
			if s.Status != workflows.StageWaiting || asked[s.ID] {
				continue
			}
			asked[s.ID] = true
			decision := workflows.ApprovalInput{Stage: s.ID, By: os.Getenv("USER")}
			approve := false
			if interactive {
				fmt.Fprintf(a.stderr, "\nApprove stage %q? [y/N] ", s.ID)
				line, _ := stdin.ReadString('\n')
				approve = strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "y")
			} else {
				decision.Reason = "no terminal to ask at: pass --approve " + s.Stage + " or --approve-all"
				fmt.Fprintf(a.stderr, "buildit: stage %q needs approval; %s\n", s.ID, decision.Reason)
			}
			if _, err := engine.Decide(ctx, c, runID, approve, decision); err != nil {
				a.logger.Warn("approval decision failed", "stage", s.ID, "error", err)
			}
		}
	}
}

// setUpExecutors gives acts a Docker executor when the plan needs one and
// returns the function that removes what a run left behind.
func (a *app) setUpExecutors(ctx context.Context, acts *activities.Activities, plan *pipeline.Plan, mode string) (func(context.Context, string), error) {
	noop := func(context.Context, string) {}
	var images []string
	for _, st := range plan.Steps {
		if st.Image != "" && !slices.Contains(images, st.Image) {
			images = append(images, st.Image)
		}
	}
	if mode == "local" {
		acts.ForceHost = true
		if len(images) > 0 {
			fmt.Fprintf(a.stderr, "buildit: --executor local: running every stage on the host; ignoring images %s\n", strings.Join(images, ", "))
		}
		return noop, nil
	}
	if len(images) == 0 && mode == "auto" {
		return noop, nil
	}
	if mode == "docker" {
		var bare []string
		for _, st := range plan.Steps {
			if st.Image == "" && st.Kind == pipeline.KindRun {
				bare = append(bare, st.ID)
			}
		}
		if len(bare) > 0 {
			return nil, usageError(fmt.Errorf("--executor docker runs every stage in a container, but %s %s no image; set one on the stage or in defaults", plural(len(bare), "stage", "stages")+" "+strings.Join(bare, ", "), plural(len(bare), "has", "have")))
		}
	}
	d, cleanup, err := newDockerExecutor(ctx, a.logger)
	if err != nil {
		what := "stages need Docker (images " + strings.Join(images, ", ") + ")"
		if len(images) == 0 {
			what = "--executor docker needs Docker"
		}
		return nil, usageError(fmt.Errorf("%s but no Docker engine answers: %w; use --executor local to run them on the host", what, err))
	}
	acts.Docker = d
	return func(ctx context.Context, runID string) {
		if err := cleanup(ctx, runID); err != nil {
			a.logger.Warn("docker cleanup failed", "run", runID, "error", err)
		}
	}, nil
}

// collectSecrets resolves the secrets the plan's stages ask for: from
// --secret (the environment, or a prompt), then from the environment.
func (a *app) collectSecrets(plan *pipeline.Plan, flagged []string) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range flagged {
		if v, ok := os.LookupEnv(name); ok {
			out[name] = v
			continue
		}
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return nil, fmt.Errorf("secret %s: not in the environment, and there is no terminal to ask at", name)
		}
		fmt.Fprintf(a.stderr, "Value of secret %s: ", name)
		v, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", name, err)
		}
		out[name] = string(v)
	}
	var missing []string
	for _, st := range plan.Steps {
		for _, name := range st.Secrets {
			if _, ok := out[name]; ok {
				continue
			}
			if v, ok := os.LookupEnv(name); ok {
				out[name] = v
			} else if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("stages need secrets that are not set: %s (export them or pass --secret NAME)", strings.Join(missing, ", "))
	}
	return out, nil
}

func parseEnvFlags(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	env := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: want K=V", kv)
		}
		env[k] = v
	}
	return env, nil
}

var unsafeID = regexp.MustCompile(`[^a-z0-9-]+`)

// newRunID names a local run: the pipeline, the time and a random suffix.
func newRunID(pipelineName string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := strings.Trim(unsafeID.ReplaceAllString(strings.ToLower(pipelineName), "-"), "-")
	if len(name) > 30 {
		name = name[:30]
	}
	return fmt.Sprintf("%s-%s-%s", name, time.Now().UTC().Format("20060102-150405"), hex.EncodeToString(b[:]))
}

// gitOutput runs git in dir and returns its trimmed output, or "" when dir
// is not a git checkout.
func gitOutput(dir string, args ...string) string {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Stderr = io.Discard
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

var _ executor.Executor = (*host.Executor)(nil)
