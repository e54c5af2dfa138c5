package api

import (
	"slices"
	"testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/pipeline"
)

// rerun --failed: a stage a failed one needs is reused when it kept
// artifacts (they are restored) and runs again when it kept none (what it
// made was only in the old workspace), and so, through it, do its needs.
func TestReusableKeepsStagesWithArtifacts(t *testing.T) {
	keeps := []pipeline.ArtifactSpec{{Name: "out", Paths: []string{"out"}}}
	plan := pipeline.Plan{Steps: []pipeline.Step{
		{ID: "lint"},
		{ID: "deps"},
		{ID: "gen", Needs: []string{"deps"}},
		{ID: "build", Artifacts: keeps},
		{ID: "test", Needs: []string{"build", "gen"}},
		{ID: "docs", Needs: []string{"build"}},
	}}
	var stages []apiview.Stage
	for _, id := range []string{"lint", "deps", "gen", "build", "docs"} {
		stages = append(stages, apiview.Stage{ID: id, Status: buildit.StageSucceeded})
	}
	stages = append(stages, apiview.Stage{ID: "test", Status: buildit.StageFailed})
	got := reusable(plan, stages)
	if want := []string{"lint", "build", "docs"}; !slices.Equal(got, want) {
		t.Errorf("reusable = %q, want %q (gen and deps keep no artifacts and run again)", got, want)
	}
}
