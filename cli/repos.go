package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/remote"
)

func newReposCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	cmd := &cobra.Command{
		Use:   "repos",
		Short: "Connect a tenant's repositories on GitHub, GitLab or Gitea to a server",
		Long: `A connected repository's webhooks start the pipelines in its .buildit
directory at the pushed commit. Connecting one prints the webhook URL and
secret to give the forge: the secret is shown this once.`,
	}
	f.add(cmd)
	cmd.AddCommand(newReposAddCommand(a, f), newReposListCommand(a, f), newReposShowCommand(a, f), newReposRemoveCommand(a, f))
	return cmd
}

func newReposAddCommand(a *app, f *remoteFlags) *cobra.Command {
	var req remote.ConnectRepository
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Connect a repository and print its webhook URL and secret",
		Example: `  # the forge token first, as a tenant secret (PUT …/secrets/GITEA_TOKEN)
  buildit repos add --forge gitea --url https://git.example.com/acme/app --token-secret GITEA_TOKEN`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			r, err := s.c.ConnectRepository(cmd.Context(), s.scope, req)
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(r)
			}
			fmt.Fprintf(a.stdout, "connected %s (%s) as %s\n", r.URL, r.Forge, r.ID)
			fmt.Fprintf(a.stdout, "webhook URL:    %s\n", r.WebhookURL)
			fmt.Fprintf(a.stdout, "webhook secret: %s\n", r.WebhookSecret)
			fmt.Fprintln(a.stdout, "Add the webhook in the repository's settings (content type application/json; push, pull request and tag events): the secret is not shown again.")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Forge, "forge", "", "github, gitlab or gitea (Forgejo too)")
	fl.StringVar(&req.URL, "url", "", "the repository's https:// clone or web URL")
	fl.StringVar(&req.TokenSecret, "token-secret", "", "the tenant secret holding the forge token (clone and commit statuses)")
	fl.StringVar(&req.PipelinesPath, "pipelines-path", "", "the directory of the pipeline files (default .buildit)")
	fl.BoolVar(&req.ForkSecrets, "fork-secrets", false, "give pull requests from forks the tenant's secrets (off: they run without any)")
	fl.StringVar(&req.APIURL, "api-url", "", "the forge's API base, when it is not derived from the URL")
	for _, name := range []string{"forge", "url", "token-secret"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func newReposListCommand(a *app, f *remoteFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the tenant's connected repositories",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			rs, err := s.c.Repositories(cmd.Context(), s.scope)
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(rs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tFORGE\tURL\tPIPELINES\tFORK SECRETS")
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", r.ID, r.Forge, r.URL, r.PipelinesPath, r.ForkSecrets)
			}
			return tw.Flush()
		},
	}
}

func newReposShowCommand(a *app, f *remoteFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a connected repository (its webhook URL, not its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			r, err := s.c.Repository(cmd.Context(), s.scope, args[0])
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(r)
			}
			printRepository(a, r)
			return nil
		},
	}
}

func printRepository(a *app, r apiview.Repository) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id:\t%s\n", r.ID)
	fmt.Fprintf(tw, "forge:\t%s\n", r.Forge)
	fmt.Fprintf(tw, "url:\t%s\n", r.URL)
	if r.APIURL != "" {
		fmt.Fprintf(tw, "api url:\t%s\n", r.APIURL)
	}
	fmt.Fprintf(tw, "token secret:\t%s\n", r.TokenSecret)
	fmt.Fprintf(tw, "pipelines path:\t%s\n", r.PipelinesPath)
	fmt.Fprintf(tw, "fork secrets:\t%v\n", r.ForkSecrets)
	if r.DefaultBranch != "" {
		fmt.Fprintf(tw, "default branch:\t%s\n", r.DefaultBranch)
	}
	fmt.Fprintf(tw, "webhook url:\t%s\n", r.WebhookURL)
	fmt.Fprintf(tw, "connected:\t%s by %s\n", r.CreatedAt.Local().Format(time.DateTime), r.CreatedBy)
	_ = tw.Flush()
}

func newReposRemoveCommand(a *app, f *remoteFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Disconnect a repository (its pipelines and runs stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			if err := s.c.DisconnectRepository(cmd.Context(), s.scope, args[0]); err != nil {
				return apiError(err)
			}
			fmt.Fprintf(a.stdout, "disconnected repository %s\n", args[0])
			return nil
		},
	}
}
