package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/remote"
)

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
	var run apiview.Run
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

func (a *app) printRunSummary(run apiview.Run) {
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
