package workflows

import (
	"log/slog"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistory replays runs and deploys recorded on a real
// server (runclient's TestRecordHistory): a change to PipelineRun or Deploy
// that is not deterministic against them fails here.
func TestReplayRecordedHistory(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(PipelineRun, workflow.RegisterOptions{Name: PipelineRunWorkflow})
	r.RegisterWorkflowWithOptions(Deploy, workflow.RegisterOptions{Name: DeployWorkflow})
	logger := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
	for _, file := range []string{"pipeline_run_history.json", "pipeline_run_local_history.json", "pipeline_run_server_history.json",
		"pipeline_run_report_history.json",
		"deploy_history.json", "deploy_timeout_history.json",
		"deploy_supersede_history.json", "pipeline_run_superseded_history.json", "pipeline_run_queued_deploy_history.json"} {
		if err := r.ReplayWorkflowHistoryFromJSONFile(logger, filepath.Join("testdata", file)); err != nil {
			t.Errorf("replay %s: %v", file, err)
		}
	}
}
