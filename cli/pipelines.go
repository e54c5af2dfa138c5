package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/pipeline"
)

var pipelineNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

func newPipelinesCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	cmd := &cobra.Command{
		Use:   "pipelines",
		Short: "Push and list a tenant's pipelines on a server",
	}
	f.add(cmd)
	cmd.AddCommand(newPipelinesPushCommand(a, f), newPipelinesListCommand(a, f))
	return cmd
}

func newPipelinesPushCommand(a *app, f *remoteFlags) *cobra.Command {
	var name, repository string
	push := &cobra.Command{
		Use:   "push FILE",
		Short: "Create or replace a pipeline from a KDL file",
		Long: `Push validates FILE here (the same messages as buildit validate) and then
creates or replaces the tenant's pipeline of that name: --name, else the
name in the file's pipeline node, else the file's name without .kdl.

A file over one of the default limits (buildit validate --help) is pushed
all the same, for the server to decide: its operator may have raised them.

--repository ID links the pipeline to a connected repository of the tenant
(buildit repos list): the repository's webhooks then run it, with the
source pushed here, when its on matches, and its runs clone the repository
and report their status to its commits. --repository "" unlinks it; without
the flag the pipeline keeps its repository. A pipeline read from a
repository's .buildit file cannot be pushed: push to the repository.`,
		Example: `  buildit pipelines push examples/simple.kdl
  buildit pipelines push ci.kdl --repository 7d0c…   # run by that repository's webhooks`,
		Args: cobra.ExactArgs(1),
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
			var repo *string
			if cmd.Flags().Changed("repository") {
				repo = &repository
			}
			got, err := s.c.PutPipeline(cmd.Context(), s.scope, n, string(src), repo)
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
	push.Flags().StringVar(&repository, "repository", "", `the id of a connected repository whose webhooks run the pipeline ("" for none)`)
	return push
}

// pipelineRepository is what the list shows of a pipeline's repository:
// its id, and the file when the pipeline is read from one.
func pipelineRepository(p apiview.Pipeline) string {
	switch {
	case p.RepositoryID == "" && p.RepositoryPath == "":
		return "-"
	case p.RepositoryPath == "":
		return p.RepositoryID
	case p.RepositoryID == "":
		return "(disconnected) " + p.RepositoryPath
	}
	return p.RepositoryID + " " + p.RepositoryPath
}

func newPipelinesListCommand(a *app, f *remoteFlags) *cobra.Command {
	return &cobra.Command{
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
			fmt.Fprintln(tw, "NAME\tVERSION\tUPDATED\tREPOSITORY")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", p.Name, p.Version, p.UpdatedAt.Local().Format(time.DateTime), pipelineRepository(p))
			}
			return tw.Flush()
		},
	}
}
