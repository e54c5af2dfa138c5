package worker

import (
	"slices"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/workflows"
)

// names records what is registered on it.
type names struct{ workflows, activities []string }

func (n *names) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	n.workflows = append(n.workflows, o.Name)
}

func (n *names) RegisterActivityWithOptions(_ any, o activity.RegisterOptions) {
	n.activities = append(n.activities, o.Name)
}

// Every activity the workflows call is registered under the name they
// call it by, whichever part of activities.Activities holds it: recorded
// histories name activities, so a split must not rename one.
func TestRegisterNamesEveryActivity(t *testing.T) {
	var n names
	Register(&n, activities.New(activities.Shared{}))
	want := []string{
		workflows.RunStageActivity, workflows.RunStageLocalActivity,
		workflows.RecordRunActivity, workflows.PrepareWorkspaceActivity, workflows.CleanupWorkspaceActivity, workflows.AwaitTurnActivity,
		workflows.DeployBeginActivity, workflows.DeployApplyActivity, workflows.DeployWaitHealthyActivity, workflows.DeployFinishActivity,
		workflows.ReportStatusActivity,
	}
	slices.Sort(want)
	slices.Sort(n.activities)
	if !slices.Equal(n.activities, want) {
		t.Errorf("activities %v, want %v", n.activities, want)
	}
	if !slices.Equal(n.workflows, []string{workflows.PipelineRunWorkflow, workflows.DeployWorkflow}) {
		t.Errorf("workflows %v", n.workflows)
	}
}
