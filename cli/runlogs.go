package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/remote"
)

func newRunsLogsCommand(a *app, f *remoteFlags) *cobra.Command {
	var stage string
	var follow bool
	logs := &cobra.Command{
		Use:   "logs PIPELINE NUMBER",
		Short: "A run's logs: every stage's, or --stage's; -f follows them live",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, n, err := f.runTarget(cmd, args)
			if err != nil {
				return err
			}
			if follow && stage == "" {
				return a.followRun(cmd.Context(), s, args[0], n, f.json)
			}
			return a.printRunLogs(cmd.Context(), s, args[0], n, stage, follow, f.json)
		},
	}
	logs.Flags().StringVar(&stage, "stage", "", "only this stage's log")
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "follow the logs until the run (or the stage) ends")
	return logs
}

// printRunLogs prints the stored logs of the run's stages (or of stage
// alone), or follows stage's log live.
func (a *app) printRunLogs(ctx context.Context, s *session, pipelineName string, n int64, stage string, follow, asJSON bool) error {
	r, err := s.c.Run(ctx, s.scope, pipelineName, n)
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
	printLine := a.logPrinter(ids, asJSON)
	if follow {
		return apiErrorOrNil(s.c.Follow(ctx, s.scope, pipelineName, n, stage, func(ev remote.FollowEvent) {
			if ev.Line != nil {
				printLine(stage, *ev.Line)
			}
		}))
	}
	for _, id := range ids {
		after := int64(0)
		for {
			page, err := s.c.Logs(ctx, s.scope, pipelineName, n, id, 0, after)
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
}

// logPrinter returns the function that prints a stage's log line: as the
// console sink of the stages ids does, or as a JSON object a line.
func (a *app) logPrinter(ids []string, asJSON bool) func(stage string, l apiview.LogLine) {
	sink := newConsoleSink(a.stdout, ids)
	enc := json.NewEncoder(a.stdout)
	return func(id string, l apiview.LogLine) {
		if asJSON {
			_ = enc.Encode(map[string]any{"stage": id, "stream": l.Stream, "line": l.Line, "at": l.At})
			return
		}
		stream := executor.Stdout
		if l.Stream == "stderr" {
			stream = executor.Stderr
		}
		sink.WriteLine(id, stream, l.Line)
	}
}
