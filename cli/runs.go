package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newRunsCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, show, follow, cancel, approve and rerun a pipeline's runs on the server, and download their artifacts",
	}
	f.add(cmd)
	cmd.AddCommand(
		newRunsListCommand(a, f),
		newRunsShowCommand(a, f),
		newRunsLogsCommand(a, f),
		newRunsCancelCommand(a, f),
		newRunsApproveCommand(a, f),
		newRunsRerunCommand(a, f),
		newRunsArtifactsCommand(a, f),
		newRunsDownloadCommand(a, f),
	)
	return cmd
}

// runTarget reads PIPELINE NUMBER and connects.
func (f *remoteFlags) runTarget(cmd *cobra.Command, args []string) (*session, int64, error) {
	n, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil || n < 1 {
		return nil, 0, usageError(fmt.Errorf("run number %q: want 1, 2, …", args[1]))
	}
	s, err := f.connect(cmd.Context(), true)
	return s, n, err
}

func newRunsListCommand(a *app, f *remoteFlags) *cobra.Command {
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
	return list
}

func newRunsShowCommand(a *app, f *remoteFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show PIPELINE NUMBER",
		Short: "A run and its stages",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := f.runTarget(cmd, args)
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
}

func newRunsCancelCommand(a *app, f *remoteFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel PIPELINE NUMBER",
		Short: "Cancel a run in progress",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := f.runTarget(cmd, args)
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
}

func newRunsApproveCommand(a *app, f *remoteFlags) *cobra.Command {
	var reason string
	var reject bool
	approve := &cobra.Command{
		Use:   "approve PIPELINE NUMBER STAGE",
		Short: "Approve (or, with --reject, reject) a waiting approval stage",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := f.runTarget(cmd, args)
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
	return approve
}

func newRunsRerunCommand(a *app, f *remoteFlags) *cobra.Command {
	var onlyFailed, follow bool
	rerun := &cobra.Command{
		Use:   "rerun PIPELINE NUMBER",
		Short: "Start the run again; --failed reruns only what did not succeed",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := f.runTarget(cmd, args)
			if err != nil {
				return err
			}
			r, err := s.c.Rerun(cmd.Context(), s.scope, args[0], n, onlyFailed)
			if err != nil {
				return apiError(err)
			}
			if follow {
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
	rerun.Flags().BoolVarP(&follow, "follow", "f", false, "stream the new run's logs until it ends")
	return rerun
}
