package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newDeploymentsCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	cmd := &cobra.Command{
		Use:   "deployments",
		Short: "An environment's deployment history on the server, and rollbacks",
	}
	f.add(cmd)
	cmd.AddCommand(newDeploymentsListCommand(a, f), newDeploymentsRollbackCommand(a, f))
	return cmd
}

func newDeploymentsListCommand(a *app, f *remoteFlags) *cobra.Command {
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
	return list
}

func newDeploymentsRollbackCommand(a *app, f *remoteFlags) *cobra.Command {
	return &cobra.Command{
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
}
