package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/remote"
)

// followRun streams the logs of every stage of a run as the stages start,
// each line prefixed with its stage, then prints the summary. It returns an
// exit status error unless the run succeeded.
func (a *app) followRun(ctx context.Context, s *session, pipelineName string, number int64, asJSON bool) error {
	fl := &runFollower{a: a, s: s, pipeline: pipelineName, number: number, asJSON: asJSON,
		followed: map[string]bool{}, errs: make(chan error, 64)}
	run, err := fl.followStages(ctx)
	if err != nil {
		return err
	}
	fl.wg.Wait()
	close(fl.errs)
	for err := range fl.errs {
		fmt.Fprintln(a.stderr, "buildit: following the log of", err)
	}
	if asJSON {
		_ = json.NewEncoder(a.stdout).Encode(map[string]any{"run": run})
	} else {
		a.printRunSummary(run)
	}
	if run.Status != "succeeded" {
		return &ExitError{Code: ExitFailed, Silent: true}
	}
	return nil
}

// runFollower follows the logs of a run's stages, a goroutine a stage.
type runFollower struct {
	a        *app
	s        *session
	pipeline string
	number   int64
	asJSON   bool

	mu       sync.Mutex // serializes print
	print    func(stage string, l apiview.LogLine)
	followed map[string]bool
	wg       sync.WaitGroup
	errs     chan error
}

// followStages polls the run and follows each stage's log once it has
// started, until the run ends; it returns the ended run.
func (fl *runFollower) followStages(ctx context.Context) (apiview.Run, error) {
	for {
		run, err := fl.s.c.Run(ctx, fl.s.scope, fl.pipeline, fl.number)
		if err != nil {
			return run, apiError(err)
		}
		if fl.print == nil && len(run.Stages) > 0 {
			ids := make([]string, len(run.Stages))
			for i, st := range run.Stages {
				ids[i] = st.ID
			}
			fl.print = fl.a.logPrinter(ids, fl.asJSON)
		}
		for _, st := range run.Stages {
			if fl.followed[st.ID] || !st.Started() || st.Status == "skipped" || st.Status == "waiting" && st.StartedAt == nil {
				continue
			}
			fl.followed[st.ID] = true
			fl.wg.Add(1)
			go fl.follow(ctx, st.ID)
		}
		if run.Ended() {
			return run, nil
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// follow prints a stage's log as it comes, until the stage ends.
func (fl *runFollower) follow(ctx context.Context, stage string) {
	defer fl.wg.Done()
	err := fl.s.c.Follow(ctx, fl.s.scope, fl.pipeline, fl.number, stage, func(ev remote.FollowEvent) {
		if ev.Line == nil {
			return
		}
		fl.mu.Lock()
		defer fl.mu.Unlock()
		fl.print(stage, *ev.Line)
	})
	if err != nil && ctx.Err() == nil {
		fl.errs <- fmt.Errorf("stage %s: %w", stage, err)
	}
}

// printRunSummary prints the table of a run's stages and its outcome.
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
