package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/apiview"
)

func newTriggerCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	var req apiview.TriggerRequest
	var envs, inputs []string
	var follow bool
	cmd := &cobra.Command{
		Use:   "trigger PIPELINE",
		Short: "Start a run of a pipeline on the server",
		Long: `Trigger starts a run of the tenant's pipeline and prints its number and its
page in the Temporal UI. With --follow it streams every stage's log as the
stages run, prints a summary, and exits like buildit run: 0 when the run
succeeded, 1 when it failed or was cancelled.`,
		Example: `  buildit trigger simple --branch main --follow
  buildit trigger app --env DEPLOY=1 --json
  buildit trigger deploy -i environment=production -i replicas=3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := parseEnvFlags(envs)
			if err != nil {
				return err
			}
			req.Env = env
			if req.Inputs, err = parseInputFlags(inputs); err != nil {
				return err
			}
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
	fl.StringArrayVarP(&inputs, "input", "i", nil, "give the pipeline's input `NAME=VALUE` (repeatable); a wrong one is refused naming it")
	fl.BoolVarP(&follow, "follow", "f", false, "stream the logs until the run ends")
	return cmd
}
