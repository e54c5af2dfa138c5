package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/remote"
)

// The remote commands talk to a BuildIt server's API with an API key:
// BUILDIT_URL and BUILDIT_TOKEN, or what buildit login saved.

// credentials is what buildit login keeps.
type credentials struct {
	URL    string `json:"url"`
	Token  string `json:"token"`
	Org    string `json:"org,omitempty"`
	Tenant string `json:"tenant,omitempty"`
}

// credentialsPath is where login keeps them: BUILDIT_CONFIG, else
// buildit/credentials.json under the user's config folder.
func credentialsPath() (string, error) {
	if p := os.Getenv("BUILDIT_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "buildit", "credentials.json"), nil
}

func loadCredentials() credentials {
	var c credentials
	if p, err := credentialsPath(); err == nil {
		if b, err := os.ReadFile(p); err == nil {
			_ = json.Unmarshal(b, &c)
		}
	}
	return c
}

func saveCredentials(c credentials) (string, error) {
	p, err := credentialsPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return p, os.WriteFile(p, append(b, '\n'), 0o600)
}

// remoteFlags are the flags every remote command shares.
type remoteFlags struct {
	url, org, tenant string
	json             bool
}

func (f *remoteFlags) add(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.url, "url", "", "the server's base URL (env BUILDIT_URL, else what buildit login saved)")
	pf.StringVar(&f.org, "org", "", "organization slug (env BUILDIT_ORG, else the login's or the key's)")
	pf.StringVar(&f.tenant, "tenant", "", "tenant slug (env BUILDIT_TENANT, else the login's or the key's)")
	pf.BoolVar(&f.json, "json", false, "print JSON for scripts instead of tables")
}

// session is a remote command's client and the tenant it is about.
type session struct {
	c     *remote.Client
	scope remote.Scope
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// connect resolves the server, the key and the tenant from flags, the
// environment and the saved login, asking the server for what the key
// implies (its organization, its tenant) when they are not given.
func (f *remoteFlags) connect(ctx context.Context, needTenant bool) (*session, error) {
	saved := loadCredentials()
	c := &remote.Client{
		BaseURL: firstOf(f.url, os.Getenv("BUILDIT_URL"), saved.URL),
		Token:   firstOf(os.Getenv("BUILDIT_TOKEN"), saved.Token),
	}
	if c.BaseURL == "" || c.Token == "" {
		return nil, usageError(errors.New("not logged in: run buildit login, or set BUILDIT_URL and BUILDIT_TOKEN (an API key)"))
	}
	s := &session{c: c, scope: remote.Scope{
		Org:    firstOf(f.org, os.Getenv("BUILDIT_ORG"), saved.Org),
		Tenant: firstOf(f.tenant, os.Getenv("BUILDIT_TENANT"), saved.Tenant),
	}}
	if needTenant && (s.scope.Org == "" || s.scope.Tenant == "") {
		me, err := c.Me(ctx)
		if err != nil {
			return nil, apiError(err)
		}
		if s.scope.Org == "" && len(me.Organizations) == 1 {
			s.scope.Org = me.Organizations[0].Slug
		}
		if s.scope.Tenant == "" && me.APIKey != nil {
			s.scope.Tenant = me.APIKey.Tenant
		}
		if s.scope.Org == "" || s.scope.Tenant == "" {
			return nil, usageError(errors.New("which tenant? pass --org and --tenant (or set BUILDIT_ORG and BUILDIT_TENANT, or log in with them)"))
		}
	}
	return s, nil
}

// apiError makes an API failure exit 1 (2 for the caller's mistakes the
// API reports as 4xx other than conflicts and limits), with the problems of
// an invalid pipeline listed.
func apiError(err error) error {
	var e *remote.Error
	if !errors.As(err, &e) {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	msg := e.Message
	for _, p := range e.Problems() {
		msg += fmt.Sprintf("\n  %d:%d: %s: %s", p.Line, p.Column, p.Severity, p.Message)
	}
	code := ExitFailed
	if e.Status == 400 || e.Status == 404 || e.Status == 422 {
		code = ExitUsage
	}
	return &ExitError{Code: code, Err: errors.New(msg)}
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newLoginCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	var tokenStdin bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Save the server's URL and an API key for the remote commands",
		Long: `Login checks an API key against a BuildIt server and saves both, with the
organization and tenant to use by default, in buildit/credentials.json under
your config folder (readable by you only; BUILDIT_CONFIG names another file).

The key comes from BUILDIT_TOKEN, from standard input with --token-stdin, or
from a prompt. Create one with POST /api/v1/orgs/ORG/api-keys.`,
		Example: `  buildit login --url http://127.0.0.1:8080 --org acme --tenant web
  echo "$KEY" | buildit login --url https://ci.example.com --token-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			saved := loadCredentials()
			creds := credentials{
				URL:    strings.TrimRight(firstOf(f.url, os.Getenv("BUILDIT_URL"), saved.URL), "/"),
				Token:  os.Getenv("BUILDIT_TOKEN"),
				Org:    firstOf(f.org, os.Getenv("BUILDIT_ORG")),
				Tenant: firstOf(f.tenant, os.Getenv("BUILDIT_TENANT")),
			}
			if creds.URL == "" {
				return usageError(errors.New("which server? pass --url (or set BUILDIT_URL)"))
			}
			if tokenStdin || creds.Token == "" {
				tok, err := readToken(cmd.InOrStdin(), a.stderr, !tokenStdin)
				if err != nil {
					return usageError(err)
				}
				creds.Token = tok
			}
			c := &remote.Client{BaseURL: creds.URL, Token: creds.Token}
			me, err := c.Me(cmd.Context())
			if err != nil {
				return &ExitError{Code: ExitFailed, Err: fmt.Errorf("the server refused the key: %w", err)}
			}
			if creds.Org == "" && len(me.Organizations) == 1 {
				creds.Org = me.Organizations[0].Slug
			}
			if creds.Tenant == "" && me.APIKey != nil {
				creds.Tenant = me.APIKey.Tenant
			}
			path, err := saveCredentials(creds)
			if err != nil {
				return fmt.Errorf("save the login: %w", err)
			}
			who := "a user session"
			if me.APIKey != nil {
				who = "API key " + me.APIKey.Name
			}
			fmt.Fprintf(a.stdout, "logged in to %s as %s (org %q, tenant %q); saved in %s\n", creds.URL, who, creds.Org, creds.Tenant, path)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&tokenStdin, "token-stdin", false, "read the API key from standard input")
	return cmd
}

// readToken reads a key from in: without echo when it is a terminal.
func readToken(in io.Reader, prompt io.Writer, ask bool) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if ask {
			fmt.Fprint(prompt, "API key: ")
		}
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if line = strings.TrimSpace(line); line == "" {
		return "", errors.New("no API key given: set BUILDIT_TOKEN or pipe it with --token-stdin")
	}
	return line, nil
}

var pipelineNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

func newPipelinesCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	cmd := &cobra.Command{
		Use:   "pipelines",
		Short: "Push and list a tenant's pipelines on a server",
	}
	f.add(cmd)
	var name string
	push := &cobra.Command{
		Use:   "push FILE",
		Short: "Create or replace a pipeline from a KDL file",
		Long: `Push validates FILE here (the same messages as buildit validate) and then
creates or replaces the tenant's pipeline of that name: --name, else the
name in the file's pipeline node, else the file's name without .kdl.

A file over one of the default limits (buildit validate --help) is pushed
all the same, for the server to decide: its operator may have raised them.`,
		Example: `  buildit pipelines push examples/simple.kdl`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := os.ReadFile(args[0])
			if err != nil {
				return usageError(err)
			}
			p, diags := pipeline.Load(args[0], src)
			if diags.HasErrors() {
				for _, d := range diags {
					fmt.Fprintln(a.stderr, d.String())
				}
				if !diags.OnlyLimits() {
					return &ExitError{Code: ExitUsage, Silent: true}
				}
				fmt.Fprintln(a.stderr, "buildit: over the default limits; pushing for the server to decide")
			}
			n := name
			if p != nil {
				n = firstOf(name, p.Name)
			}
			if !pipelineNameRE.MatchString(n) {
				n = strings.TrimSuffix(filepath.Base(args[0]), filepath.Ext(args[0]))
			}
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			got, err := s.c.PutPipeline(cmd.Context(), s.scope, n, string(src))
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(got)
			}
			fmt.Fprintf(a.stdout, "pushed pipeline %s (version %d) to %s/%s\n", got.Name, got.Version, s.scope.Org, s.scope.Tenant)
			return nil
		},
	}
	push.Flags().StringVar(&name, "name", "", "the pipeline's name on the server")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's pipelines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			ps, err := s.c.Pipelines(cmd.Context(), s.scope)
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(ps)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tUPDATED")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", p.Name, p.Version, p.UpdatedAt.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(push, list)
	return cmd
}

func newTriggerCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	var req remote.TriggerRequest
	var envs []string
	var follow bool
	cmd := &cobra.Command{
		Use:   "trigger PIPELINE",
		Short: "Start a run of a pipeline on the server",
		Long: `Trigger starts a run of the tenant's pipeline and prints its number and its
page in the Temporal UI. With --follow it streams every stage's log as the
stages run, prints a summary, and exits like buildit run: 0 when the run
succeeded, 1 when it failed or was cancelled.`,
		Example: `  buildit trigger simple --branch main --follow
  buildit trigger app --env DEPLOY=1 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := parseEnv(envs)
			if err != nil {
				return err
			}
			req.Env = env
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			run, err := s.c.Trigger(cmd.Context(), s.scope, args[0], req)
			if err != nil {
				return apiError(err)
			}
			if !follow {
				if f.json {
					return a.printJSON(run)
				}
				fmt.Fprintf(a.stdout, "run %d of %s started\n", run.Number, args[0])
				if run.TemporalURL != "" {
					fmt.Fprintf(a.stdout, "  %s\n", run.TemporalURL)
				}
				return nil
			}
			if !f.json {
				fmt.Fprintf(a.stderr, "run %d of %s started", run.Number, args[0])
				if run.TemporalURL != "" {
					fmt.Fprintf(a.stderr, ": %s", run.TemporalURL)
				}
				fmt.Fprintln(a.stderr)
			}
			return a.followRun(cmd.Context(), s, args[0], run.Number, f.json)
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&req.Branch, "branch", "", "the branch, for when conditions and BUILDIT_BRANCH")
	fl.StringVar(&req.Commit, "commit", "", "the commit to check out")
	fl.StringVar(&req.Event, "event", "", "the event (default api)")
	fl.StringVar(&req.Repository, "repository", "", "the git repository the workers clone into the workspace: an https://, ssh:// or user@host:path URL")
	fl.StringArrayVar(&envs, "env", nil, "set a variable for every stage, `K=V` (repeatable)")
	fl.BoolVarP(&follow, "follow", "f", false, "stream the logs until the run ends")
	return cmd
}

func parseEnv(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	env := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError(fmt.Errorf("--env %q: want K=V", kv))
		}
		env[k] = v
	}
	return env, nil
}

// followRun streams the logs of every stage of a run as the stages start,
// each line prefixed with its stage, then prints the summary. It returns an
// exit status error unless the run succeeded.
func (a *app) followRun(ctx context.Context, s *session, pipelineName string, number int64, asJSON bool) error {
	var mu sync.Mutex
	var sink *consoleSink
	followed := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	enc := json.NewEncoder(a.stdout)
	var run remote.Run
	for {
		var err error
		run, err = s.c.Run(ctx, s.scope, pipelineName, number)
		if err != nil {
			return apiError(err)
		}
		if sink == nil && len(run.Stages) > 0 {
			ids := make([]string, len(run.Stages))
			for i, st := range run.Stages {
				ids[i] = st.ID
			}
			sink = newConsoleSink(a.stdout, ids)
		}
		for _, st := range run.Stages {
			if followed[st.ID] || !st.Started() || st.Status == "skipped" || st.Status == "waiting" && st.StartedAt == nil {
				continue
			}
			followed[st.ID] = true
			wg.Add(1)
			go func(stage string) {
				defer wg.Done()
				err := s.c.Follow(ctx, s.scope, pipelineName, number, stage, func(ev remote.FollowEvent) {
					if ev.Line == nil {
						return
					}
					mu.Lock()
					defer mu.Unlock()
					if asJSON {
						_ = enc.Encode(map[string]any{"stage": stage, "stream": ev.Line.Stream, "line": ev.Line.Line, "at": ev.Line.At})
						return
					}
					stream := executor.Stdout
					if ev.Line.Stream == "stderr" {
						stream = executor.Stderr
					}
					sink.WriteLine(stage, stream, ev.Line.Line)
				})
				if err != nil && ctx.Err() == nil {
					errs <- fmt.Errorf("stage %s: %w", stage, err)
				}
			}(st.ID)
		}
		if run.Ended() {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintln(a.stderr, "buildit: following the log of", err)
	}
	if asJSON {
		_ = enc.Encode(map[string]any{"run": run})
	} else {
		a.printRunSummary(run)
	}
	if run.Status != "succeeded" {
		return &ExitError{Code: ExitFailed, Silent: true}
	}
	return nil
}

func (a *app) printRunSummary(run remote.Run) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGE\tSTATUS\tATTEMPT\tDURATION\tNOTE")
	for _, st := range run.Stages {
		d := ""
		if st.DurationMS != nil {
			d = (time.Duration(*st.DurationMS) * time.Millisecond).Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", st.ID, st.Status, st.Attempt, d, st.Error)
	}
	_ = tw.Flush()
	line := fmt.Sprintf("run %d %s", run.Number, run.Status)
	if run.Error != "" {
		line += ": " + run.Error
	}
	fmt.Fprintln(a.stdout, line)
}

func newRunsCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, show, follow, cancel, approve and rerun a pipeline's runs on the server",
	}
	f.add(cmd)
	// runTarget reads PIPELINE NUMBER and connects.
	runTarget := func(cmd *cobra.Command, args []string) (*session, int64, error) {
		n, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || n < 1 {
			return nil, 0, usageError(fmt.Errorf("run number %q: want 1, 2, …", args[1]))
		}
		s, err := f.connect(cmd.Context(), true)
		return s, n, err
	}
	var status, branch string
	var limit int
	list := &cobra.Command{
		Use:   "list PIPELINE",
		Short: "A pipeline's runs, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			rs, err := s.c.Runs(cmd.Context(), s.scope, args[0], status, branch, limit)
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(rs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN\tSTATUS\tBRANCH\tTRIGGER\tACTOR\tCREATED\tDURATION")
			for _, r := range rs {
				d := ""
				if r.StartedAt != nil && r.EndedAt != nil {
					d = r.EndedAt.Sub(*r.StartedAt).Round(10 * time.Millisecond).String()
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Number, r.Status, r.Branch, r.Trigger, r.Actor, r.CreatedAt.Local().Format(time.DateTime), d)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&status, "status", "", "only runs with this status")
	list.Flags().StringVar(&branch, "branch", "", "only runs of this branch")
	list.Flags().IntVar(&limit, "limit", 20, "at most this many runs")
	show := &cobra.Command{
		Use:   "show PIPELINE NUMBER",
		Short: "A run and its stages",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := runTarget(cmd, args)
			if err != nil {
				return err
			}
			r, err := s.c.Run(cmd.Context(), s.scope, args[0], n)
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(r)
			}
			fmt.Fprintf(a.stdout, "run %d of %s: %s", r.Number, args[0], r.Status)
			if r.Branch != "" {
				fmt.Fprintf(a.stdout, " (branch %s)", r.Branch)
			}
			fmt.Fprintf(a.stdout, ", by %s via %s\n", r.Actor, r.Trigger)
			if r.TemporalURL != "" {
				fmt.Fprintf(a.stdout, "  %s\n", r.TemporalURL)
			}
			a.printRunSummary(r)
			return nil
		},
	}
	var stage string
	var followLogs bool
	logs := &cobra.Command{
		Use:   "logs PIPELINE NUMBER",
		Short: "A run's logs: every stage's, or --stage's; -f follows them live",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := runTarget(cmd, args)
			if err != nil {
				return err
			}
			if followLogs && stage == "" {
				return a.followRun(cmd.Context(), s, args[0], n, f.json)
			}
			r, err := s.c.Run(cmd.Context(), s.scope, args[0], n)
			if err != nil {
				return apiError(err)
			}
			var ids []string
			for _, st := range r.Stages {
				if stage == "" || st.ID == stage {
					ids = append(ids, st.ID)
				}
			}
			if len(ids) == 0 {
				return usageError(fmt.Errorf("run %d has no stage %q", n, stage))
			}
			sink := newConsoleSink(a.stdout, ids)
			enc := json.NewEncoder(a.stdout)
			printLine := func(id string, l remote.LogLine) {
				if f.json {
					_ = enc.Encode(map[string]any{"stage": id, "stream": l.Stream, "line": l.Line, "at": l.At})
					return
				}
				stream := executor.Stdout
				if l.Stream == "stderr" {
					stream = executor.Stderr
				}
				sink.WriteLine(id, stream, l.Line)
			}
			if followLogs {
				return apiErrorOrNil(s.c.Follow(cmd.Context(), s.scope, args[0], n, stage, func(ev remote.FollowEvent) {
					if ev.Line != nil {
						printLine(stage, *ev.Line)
					}
				}))
			}
			for _, id := range ids {
				after := int64(0)
				for {
					page, err := s.c.Logs(cmd.Context(), s.scope, args[0], n, id, 0, after)
					if remote.IsNotFound(err) {
						break // a stage not started yet has no log
					}
					if err != nil {
						return apiError(err)
					}
					for _, l := range page.Lines {
						printLine(id, l)
					}
					if len(page.Lines) == 0 {
						break
					}
					after = page.Next
				}
			}
			return nil
		},
	}
	logs.Flags().StringVar(&stage, "stage", "", "only this stage's log")
	logs.Flags().BoolVarP(&followLogs, "follow", "f", false, "follow the logs until the run (or the stage) ends")
	cancel := &cobra.Command{
		Use:   "cancel PIPELINE NUMBER",
		Short: "Cancel a run in progress",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := runTarget(cmd, args)
			if err != nil {
				return err
			}
			if err := s.c.Cancel(cmd.Context(), s.scope, args[0], n); err != nil {
				return apiError(err)
			}
			fmt.Fprintf(a.stdout, "run %d of %s: cancel requested\n", n, args[0])
			return nil
		},
	}
	var reason string
	var reject bool
	approve := &cobra.Command{
		Use:   "approve PIPELINE NUMBER STAGE",
		Short: "Approve (or, with --reject, reject) a waiting approval stage",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := runTarget(cmd, args)
			if err != nil {
				return err
			}
			out, err := s.c.Decide(cmd.Context(), s.scope, args[0], n, args[2], !reject, reason)
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(out)
			}
			verb := "approved"
			if reject {
				verb = "rejected"
			}
			fmt.Fprintf(a.stdout, "run %d of %s: stage %s %s\n", n, args[0], args[2], verb)
			return nil
		},
	}
	approve.Flags().StringVar(&reason, "reason", "", "why, for the record")
	approve.Flags().BoolVar(&reject, "reject", false, "reject instead of approving")
	var onlyFailed, followRerun bool
	rerun := &cobra.Command{
		Use:   "rerun PIPELINE NUMBER",
		Short: "Start the run again; --failed reruns only what did not succeed",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := runTarget(cmd, args)
			if err != nil {
				return err
			}
			r, err := s.c.Rerun(cmd.Context(), s.scope, args[0], n, onlyFailed)
			if err != nil {
				return apiError(err)
			}
			if followRerun {
				return a.followRun(cmd.Context(), s, args[0], r.Number, f.json)
			}
			if f.json {
				return a.printJSON(r)
			}
			fmt.Fprintf(a.stdout, "run %d of %s started, rerunning run %d", r.Number, args[0], n)
			if len(r.Reused) > 0 {
				fmt.Fprintf(a.stdout, " (reusing %s)", strings.Join(r.Reused, ", "))
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	rerun.Flags().BoolVar(&onlyFailed, "failed", false, "rerun only the stages that did not succeed (and what they need)")
	rerun.Flags().BoolVarP(&followRerun, "follow", "f", false, "stream the new run's logs until it ends")
	cmd.AddCommand(list, show, logs, cancel, approve, rerun)
	return cmd
}

func apiErrorOrNil(err error) error {
	if err == nil {
		return nil
	}
	return apiError(err)
}

func newDeploymentsCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	cmd := &cobra.Command{
		Use:   "deployments",
		Short: "An environment's deployment history on the server, and rollbacks",
	}
	f.add(cmd)
	var service string
	var limit int
	list := &cobra.Command{
		Use:   "list ENVIRONMENT",
		Short: "The environment's deployments, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			ds, err := s.c.Deployments(cmd.Context(), s.scope, args[0], limit)
			if err != nil {
				return apiError(err)
			}
			if service != "" {
				kept := ds[:0]
				for _, d := range ds {
					if d.Service == service {
						kept = append(kept, d)
					}
				}
				ds = kept
			}
			if f.json {
				return a.printJSON(ds)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSERVICE\tREVISION\tSTATUS\tIMAGE\tBY\tCREATED\tNOTE")
			for _, d := range ds {
				note := d.Message
				if d.RolledBackTo != nil {
					note = fmt.Sprintf("rolled back to %d", *d.RolledBackTo)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Service, d.Revision, d.Status, d.Image, d.Actor, d.CreatedAt.Local().Format(time.DateTime), note)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&service, "service", "", "only this service's deployments")
	list.Flags().IntVar(&limit, "limit", 20, "at most this many deployments")
	rollback := &cobra.Command{
		Use:   "rollback DEPLOYMENT-ID",
		Short: "Deploy a succeeded deployment's image and settings again, as a new revision",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			out, err := s.c.Rollback(cmd.Context(), s.scope, args[0])
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(out)
			}
			fmt.Fprintf(a.stdout, "rolling %v in %v back to revision %v (%v)\n", out["service"], out["environment"], out["to_revision"], out["image"])
			return nil
		},
	}
	cmd.AddCommand(list, rollback)
	return cmd
}
