package buildit_test

import (
	"testing"

	"github.com/buildit-ci/buildit"
)

func TestTerminal(t *testing.T) {
	runs := map[buildit.RunStatus]bool{
		buildit.RunQueued: false, buildit.RunRunning: false, buildit.RunWaiting: false,
		buildit.RunSucceeded: true, buildit.RunFailed: true, buildit.RunCancelled: true,
	}
	for s, want := range runs {
		if !s.Valid() || s.Terminal() != want {
			t.Errorf("run status %s: valid %v, terminal %v, want terminal %v", s, s.Valid(), s.Terminal(), want)
		}
	}
	stages := map[buildit.StageStatus]bool{
		buildit.StagePending: false, buildit.StageRunning: false, buildit.StageWaiting: false,
		buildit.StageSucceeded: true, buildit.StageFailed: true, buildit.StageSkipped: true, buildit.StageCancelled: true,
	}
	for s, want := range stages {
		if !s.Valid() || s.Terminal() != want {
			t.Errorf("stage status %s: valid %v, terminal %v, want terminal %v", s, s.Valid(), s.Terminal(), want)
		}
	}
	deploys := map[buildit.DeployStatus]bool{
		buildit.DeployPending: false, buildit.DeployRunning: false, buildit.DeploySucceeded: true,
		buildit.DeployFailed: true, buildit.DeployCancelled: true, buildit.DeployRolledBack: true,
	}
	for s, want := range deploys {
		if !s.Valid() || s.Terminal() != want {
			t.Errorf("deploy status %s: valid %v, terminal %v, want terminal %v", s, s.Valid(), s.Terminal(), want)
		}
	}
	if buildit.RunStatus("exploded").Valid() || buildit.StageStatus("").Valid() || buildit.DeployStatus("done").Valid() {
		t.Error("an unknown status is valid")
	}
}
