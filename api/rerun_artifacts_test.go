package api

import (
	"context"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/workflows"
)

// rerun --failed hands the workflow the artifacts the reused stages kept
// in the original run, from the catalog (and no others), so that the
// stages running again restore them from the blob store.
func TestRerunFailedHandsOverReusedArtifacts(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	src := `pipeline "ci"
stage "lint" { run "touch linted"; }
stage "test" { run "i=0; until [ -f linted ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done; sleep 1; exit 1"; }
`
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "ci", "source": src})
	base := "/orgs/acme/tenants/web/pipelines/ci/runs"
	owner.must(201, "POST", base, nil)
	first := owner.waitRun(base+"/1", ended)
	if first.Status != buildit.RunFailed {
		t.Fatalf("first run %s: %+v", first.Status, first.Stages)
	}
	ctx := context.Background()
	org, err := e.store.Organizations().GetBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	tn, err := e.store.Tenants().Get(ctx, org.ID, "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []db.NewArtifact{
		{Run: first.WorkflowID, StageID: "lint", Name: "lint-report", BlobKey: "k/lint", Size: 10, Digest: "sha256:aa", Files: 1},
		{Run: first.WorkflowID, StageID: "test", Name: "test-report", BlobKey: "k/test", Size: 10, Digest: "sha256:bb", Files: 1},
	} {
		if _, err := e.store.Artifacts().PutArtifact(ctx, tn.ID, a); err != nil {
			t.Fatal(err)
		}
	}
	var rerun apiview.Run
	owner.must(201, "POST", base+"/1/rerun?failed=true", nil).json(t, &rerun)

	iter := e.svc.Client.GetWorkflowHistory(ctx, rerun.WorkflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	ev, err := iter.Next()
	if err != nil {
		t.Fatal(err)
	}
	var in workflows.PipelineRunInput
	payloads := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	if len(payloads) == 0 {
		t.Fatal("the rerun's workflow has no input")
	}
	if err := converter.GetDefaultDataConverter().FromPayload(payloads[0], &in); err != nil {
		t.Fatal(err)
	}
	want := buildit.Artifact{Name: "lint-report", Stage: "lint", RunID: first.WorkflowID, Key: "k/lint", Size: 10, Digest: "sha256:aa", Files: 1}
	if len(in.ReuseArtifacts) != 1 || in.ReuseArtifacts[0] != want {
		t.Errorf("ReuseArtifacts = %+v, want [%+v]", in.ReuseArtifacts, want)
	}
	owner.waitRun(base+"/2", ended)
}
