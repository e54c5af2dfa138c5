package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/localrun"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/workflows"
)

// runFlags are the flags of `buildit run`.
type runFlags struct {
	env             []string
	secrets         []string
	only            []string
	workdir         string
	branch          string
	commit          string
	event           string
	inputs          []string
	tag             string
	pr              int
	base            string
	json            bool
	executor        string
	approve         []string
	approveAll      bool
	temporalAddress string
	namespace       string
	ui              bool
	uiPort          int
	blobURL         string
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
  buildit run ci.kdl --temporal-address localhost:7233 --json
  buildit run deploy.kdl -i environment=production -i dry-run=true
  buildit run ci.kdl --pr 12 --branch feature/x --base main`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("event") {
				switch {
				case f.pr > 0:
					f.event = buildit.EventPullRequest
				case f.tag != "":
					f.event = buildit.EventTag
				}
			}
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
	fl.StringVar(&f.event, "event", "manual", "event for when conditions (push, pull_request, tag, manual, schedule; default tag with --tag, pull_request with --pr)")
	fl.StringArrayVarP(&f.inputs, "input", "i", nil, "give the pipeline's input `NAME=VALUE` (repeatable)")
	fl.StringVar(&f.tag, "tag", "", "the tag, for BUILDIT_TAG (and event tag)")
	fl.IntVar(&f.pr, "pr", 0, "the pull request's `NUMBER`, for BUILDIT_PR (and event pull_request)")
	fl.StringVar(&f.base, "base", "", "a pull request's target `BRANCH`, for BUILDIT_BASE_BRANCH")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON on stdout (logs go to stderr)")
	fl.StringVar(&f.executor, "executor", "auto", "where stages run: auto (Docker for stages with an image), local (all on the host) or docker")
	fl.StringArrayVar(&f.approve, "approve", nil, "approve the approval stage `STAGE` without asking (repeatable)")
	fl.BoolVar(&f.approveAll, "approve-all", false, "approve every approval stage without asking")
	fl.StringVar(&f.temporalAddress, "temporal-address", "", "use the Temporal server at `HOST:PORT` instead of an embedded one")
	fl.StringVar(&f.namespace, "namespace", "default", "Temporal namespace")
	fl.BoolVar(&f.ui, "ui", false, "serve the Temporal Web UI, print the run's page, and keep it up after the run until Ctrl-C")
	fl.IntVar(&f.uiPort, "ui-port", 0, "port for --ui (default: a free one)")
	fl.StringVar(&f.blobURL, "blob-url", "", "blob store of artifacts and caches: file://DIR, s3://BUCKET?endpoint=…, gs://, azblob:// (default: $"+localrun.BlobURLEnv+", else a folder under the user's cache folder)")
	return cmd
}

// run is `buildit run`: it reads the flags into localrun's options,
// runs, and prints the result.
func (a *app) run(ctx context.Context, file string, f *runFlags) error {
	began := time.Now()
	if ctx == nil {
		ctx = context.Background()
	}
	opts, err := a.runOptions(ctx, file, f)
	if err != nil {
		return err
	}
	// Ctrl-C (or SIGTERM) cancels the run; a second one quits at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	opts.Interrupt = sigs

	logs := a.stdout
	if f.json {
		logs = a.stderr
	}
	ids := make([]string, len(opts.Plan.Steps))
	for i, st := range opts.Plan.Steps {
		ids[i] = st.ID
	}
	opts.Sink = newConsoleSink(logs, ids)

	res, err := localrun.Run(ctx, opts)
	var usage *localrun.UsageError
	if errors.As(err, &usage) {
		return usageError(usage.Err)
	}
	if err != nil {
		return err
	}
	if res.UI != nil {
		defer res.UI.Stop()
	}
	if res.Quit {
		return &ExitError{Code: ExitSignal, Silent: true}
	}
	a.printRunResult(res, f.json, time.Since(began))
	if res.Artifacts != "" {
		fmt.Fprintf(a.stderr, "buildit: artifacts in %s\n", res.Artifacts)
	}
	if res.UI != nil && !res.Interrupted {
		fmt.Fprintf(a.stderr, "buildit: the run's history stays at %s until Ctrl-C\n", res.UIURL)
		<-sigs
	}
	switch {
	case res.Interrupted:
		return &ExitError{Code: ExitSignal, Silent: true}
	case res.State.Status == buildit.RunSucceeded:
		return nil
	}
	return &ExitError{Code: ExitFailed, Silent: true}
}

// runOptions checks run's flags and reads them, the pipeline file and the
// secrets into localrun's options.
func (a *app) runOptions(ctx context.Context, file string, f *runFlags) (localrun.Options, error) {
	var usage *localrun.UsageError
	if err := localrun.CheckExecutor(f.executor); errors.As(err, &usage) {
		return localrun.Options{}, usageError(usage.Err)
	}
	env, err := parseEnvFlags(f.env)
	if err != nil {
		return localrun.Options{}, err
	}
	inputs, err := parseInputFlags(f.inputs)
	if err != nil {
		return localrun.Options{}, err
	}
	if f.pr < 0 {
		return localrun.Options{}, usageError(fmt.Errorf("--pr must be a pull request number, got %d", f.pr))
	}
	plan, err := a.loadPlan(ctx, file)
	if err != nil {
		return localrun.Options{}, err
	}
	if len(f.only) > 0 {
		if plan, err = plan.Only(f.only...); err != nil {
			return localrun.Options{}, usageError(err)
		}
	}
	workspace := f.workdir
	if workspace == "" {
		workspace = filepath.Dir(file)
	}
	if workspace, err = filepath.Abs(workspace); err != nil {
		return localrun.Options{}, usageError(err)
	}
	if fi, err := os.Stat(workspace); err != nil || !fi.IsDir() {
		return localrun.Options{}, usageError(fmt.Errorf("workspace %s is not a folder", workspace))
	}
	secrets, err := a.collectSecrets(plan, f.secrets)
	if err != nil {
		return localrun.Options{}, usageError(err)
	}
	opts := localrun.Options{
		Plan: plan, Workspace: workspace,
		Trigger: buildit.Trigger{Branch: f.branch, Commit: f.commit, Event: f.event, Tag: f.tag, PR: f.pr, Base: f.base},
		Env:     env, Inputs: inputs, Secrets: secrets, AutoApprove: f.approve, Executor: f.executor,
		TemporalAddress: f.temporalAddress, Namespace: f.namespace, UI: f.ui, UIPort: f.uiPort,
		Actor: os.Getenv("USER"), Stderr: a.stderr, Stdin: os.Stdin,
		Interactive: term.IsTerminal(int(os.Stdin.Fd())), Logger: a.logger,
		BlobURL: f.blobURL, ArtifactsDir: artifactsDir(file),
	}
	if f.approveAll {
		opts.AutoApprove = []string{"*"}
	}
	if a.verbose {
		opts.TemporalLogger = a.logger
	}
	return opts, nil
}

// printRunResult prints a run's summary table, or its JSON with --json.
func (a *app) printRunResult(res localrun.Result, asJSON bool, took time.Duration) {
	if !asJSON {
		writeSummary(a.stdout, res.State, took)
		return
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(struct {
		RunID string `json:"run_id"`
		workflows.RunState
		DurationMS int64 `json:"duration_ms"`
	}{res.RunID, res.State, took.Milliseconds()})
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

// artifactsDir is where `buildit run` unpacks a run's artifacts:
// .buildit/artifacts next to the pipeline file.
func artifactsDir(file string) string {
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	return filepath.Join(filepath.Dir(file), ".buildit", "artifacts")
}
