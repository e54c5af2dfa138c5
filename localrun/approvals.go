package localrun

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/workflows"
)

// answerApprovals watches the run for approval gates that wait and asks at
// the terminal; without a terminal it rejects them, since nobody could
// answer (pass --approve or --approve-all instead).
func answerApprovals(ctx context.Context, c client.Client, runID string, o Options) {
	asked := map[string]bool{}
	var stdin *bufio.Reader
	if o.Interactive && o.Stdin != nil {
		stdin = bufio.NewReader(o.Stdin)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
		st, err := runclient.State(ctx, c, runID)
		if err != nil {
			continue
		}
		for _, s := range st.Stages {
			if s.Status != buildit.StageWaiting || asked[s.ID] {
				continue
			}
			asked[s.ID] = true
			decision := workflows.ApprovalInput{Stage: s.ID, By: o.Actor}
			approve := false
			if stdin != nil {
				fmt.Fprintf(o.Stderr, "\nApprove stage %q? [y/N] ", s.ID)
				line, _ := stdin.ReadString('\n')
				approve = strings.HasPrefix(strings.ToLower(strings.TrimSpace(line)), "y")
			} else {
				decision.Reason = "no terminal to ask at: pass --approve " + s.Stage + " or --approve-all"
				fmt.Fprintf(o.Stderr, "buildit: stage %q needs approval; %s\n", s.ID, decision.Reason)
			}
			if _, err := runclient.Decide(ctx, c, runID, approve, decision); err != nil {
				o.Logger.Warn("approval decision failed", "stage", s.ID, "error", err)
			}
		}
	}
}
