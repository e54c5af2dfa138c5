package localrun

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.temporal.io/sdk/client"

	"github.com/buildit-ci/buildit/runclient"
)

// wait waits for the run to end, answering its approval gates, and
// cancels it on the first interrupt. cleanup removes what the run left
// behind (its containers and network) once the wait is over.
func wait(c client.Client, run client.WorkflowRun, o Options, cleanup func(context.Context, string), res Result) (Result, error) {
	// The interrupt goroutine and this one share these two flags.
	var interrupted, quit atomic.Bool
	// Not the caller's context: an interrupt cancels the run, and the wait
	// goes on until its stages have stopped.
	waitCtx, stopWaiting := context.WithCancel(context.Background())
	defer stopWaiting()
	go func() {
		select {
		case <-o.Interrupt:
		case <-waitCtx.Done():
			return
		}
		interrupted.Store(true)
		fmt.Fprintln(o.Stderr, "\nbuildit: interrupted; stopping the running stages (Ctrl-C again to quit now)")
		if err := c.CancelWorkflow(context.Background(), res.RunID, ""); err != nil {
			o.Logger.Warn("cancel run failed", "error", err)
		}
		select {
		case <-o.Interrupt:
			// Quit now: stop waiting for the stages to stop. The wait
			// below returns at once; Run removes the run's containers
			// and returns Quit, which the CLI turns into exit status
			// 130 on its normal path (no os.Exit here, so deferred
			// clean-ups run). A host stage's process is killed when
			// the worker stops.
			quit.Store(true)
			stopWaiting()
		case <-waitCtx.Done():
		}
	}()
	go answerApprovals(waitCtx, c, res.RunID, o)

	final, err := runclient.Wait(waitCtx, run)
	stopWaiting()
	cleanup(context.Background(), res.RunID)
	res.Interrupted = interrupted.Load()
	if quit.Load() {
		res.Quit = true
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("run %s: %w", res.RunID, err)
	}
	res.State = final
	return res, nil
}
