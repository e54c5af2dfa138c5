package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/apiview"
)

func newSchedulesCommand(a *app) *cobra.Command {
	f := &remoteFlags{}
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "The tenant's pipeline schedules on the server: list, pause, resume, trigger, backfill",
	}
	f.add(cmd)
	cmd.AddCommand(newSchedulesListCommand(a, f),
		newScheduleSteerCommand(a, f, "pause", "Pause a schedule (with --note)"),
		newScheduleSteerCommand(a, f, "resume", "Resume a paused schedule (with --note)"),
		newScheduleSteerCommand(a, f, "trigger", "Run a schedule now, under its overlap policy"),
		newScheduleBackfillCommand(a, f))
	return cmd
}

func newSchedulesListCommand(a *app, f *remoteFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Every schedule of the tenant's pipelines, with its next and last runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			list, err := s.c.Schedules(cmd.Context(), s.scope)
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PIPELINE\tSCHEDULE\tCRON\tTIMEZONE\tBRANCH\tOVERLAP\tSTATE\tNEXT\tLAST")
			for _, v := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Pipeline, v.Name, v.Cron, orDash(v.Timezone), orDash(v.Branch), v.Overlap, scheduleState(v), nextRun(v), lastRun(v))
			}
			return tw.Flush()
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func scheduleState(v apiview.Schedule) string {
	switch {
	case v.Warning != "":
		return "unknown"
	case v.Paused:
		return "paused"
	case v.Running > 0:
		return "running"
	}
	return "active"
}

func nextRun(v apiview.Schedule) string {
	if len(v.NextRuns) == 0 {
		return "-"
	}
	return v.NextRuns[0].Local().Format(time.DateTime)
}

func lastRun(v apiview.Schedule) string {
	if len(v.RecentRuns) == 0 {
		return "-"
	}
	return v.RecentRuns[len(v.RecentRuns)-1].StartedAt.Local().Format(time.DateTime)
}

func newScheduleSteerCommand(a *app, f *remoteFlags, action, short string) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:   action + " PIPELINE SCHEDULE",
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			v, err := s.c.SteerSchedule(cmd.Context(), s.scope, args[0], args[1], action, note)
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(v)
			}
			fmt.Fprintf(a.stdout, "schedule %s of %s: %s (next %s)\n", v.Name, v.Pipeline, scheduleState(v), nextRun(v))
			return nil
		},
	}
	if action != "trigger" {
		cmd.Flags().StringVar(&note, "note", "", "why, shown in the list and the Temporal UI")
	}
	return cmd
}

func newScheduleBackfillCommand(a *app, f *remoteFlags) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "backfill PIPELINE SCHEDULE --from TIME --to TIME",
		Short: "Run a schedule for every time it fires from --from to --to (RFC 3339, both included), one run after the other",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			start, err := time.Parse(time.RFC3339, from)
			if err != nil {
				return usageError(fmt.Errorf("--from: want an RFC 3339 time such as 2026-01-02T03:00:00Z: %w", err))
			}
			end, err := time.Parse(time.RFC3339, to)
			if err != nil {
				return usageError(fmt.Errorf("--to: want an RFC 3339 time such as 2026-01-02T03:00:00Z: %w", err))
			}
			s, err := f.connect(cmd.Context(), true)
			if err != nil {
				return err
			}
			v, err := s.c.Backfill(cmd.Context(), s.scope, args[0], args[1], start, end)
			if err != nil {
				return apiError(err)
			}
			if f.json {
				return a.printJSON(v)
			}
			fmt.Fprintf(a.stdout, "backfilling schedule %s of %s from %s to %s\n", v.Name, v.Pipeline, start.Format(time.RFC3339), end.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the range's start (RFC 3339)")
	cmd.Flags().StringVar(&to, "to", "", "the range's end (RFC 3339)")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}
