package api

import (
	"testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
)

const adminGateKDL = `pipeline "gated"
stage "gate" {
    approval { approvers "admin"; }
}
stage "ship" needs="gate" { run "echo shipped"; }
`

const openGateKDL = `pipeline "gated"
stage "gate" {
    approval { message "anyone"; }
}
stage "ship" needs="gate" { run "echo shipped"; }
`

// Finding 4: the approvers of a gate were read from the pipeline as it is
// now, so a member who may edit the pipeline dropped them and approved.
func TestSecurityApproversComeFromTheRun(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "gated", "source": adminGateKDL})
	dev, _ := e.joined(owner, "acme", "dev@acme.test", "member")
	owner.must(201, "POST", "/orgs/acme/tenants/web/members", map[string]string{"email": "dev@acme.test", "role": "member"})
	lead, _ := e.joined(owner, "acme", "lead@acme.test", "member")
	owner.must(201, "POST", "/orgs/acme/tenants/web/members", map[string]string{"email": "lead@acme.test", "role": "admin"})
	const pipe = "/orgs/acme/tenants/web/pipelines/gated"

	dev.must(201, "POST", pipe+"/runs", nil)
	dev.waitRun(pipe+"/runs/1", stageIs("gate", buildit.StageWaiting))
	if r := dev.do("POST", pipe+"/runs/1/stages/gate/approve", nil); r.status != 403 {
		t.Fatalf("a member approves an admins' gate: %d %s", r.status, r.body)
	}
	// The member edits the pipeline to drop the approvers...
	dev.must(200, "PUT", pipe, map[string]string{"source": openGateKDL})
	// ...which changes later runs, not the one waiting.
	for _, action := range []string{"approve", "reject"} {
		if r := dev.do("POST", pipe+"/runs/1/stages/gate/"+action, nil); r.status != 403 {
			t.Errorf("a member decides (%s) after dropping the approvers: %d %s", action, r.status, r.body)
		}
	}
	if v := dev.waitRun(pipe+"/runs/1", func(apiview.Run) bool { return true }); stageOf(v, "gate").Status != buildit.StageWaiting {
		t.Errorf("the gate after the member's attempts: %+v", stageOf(v, "gate"))
	}
	lead.must(200, "POST", pipe+"/runs/1/stages/gate/approve", nil)
	if v := lead.waitRun(pipe+"/runs/1", ended); v.Status != buildit.RunSucceeded {
		t.Errorf("run 1 after the tenant admin approved: %s", v.Status)
	}

	// A run started after the edit has the gate as it is now.
	dev.must(201, "POST", pipe+"/runs", nil)
	dev.waitRun(pipe+"/runs/2", stageIs("gate", buildit.StageWaiting))
	dev.must(200, "POST", pipe+"/runs/2/stages/gate/approve", nil)
	dev.waitRun(pipe+"/runs/2", ended)
}

// A run started before gates were recorded in its params is decided by a
// tenant admin, whatever its pipeline says now.
func TestSecurityRunWithoutRecordedGatesNeedsATenantAdmin(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "gated", "source": openGateKDL})
	dev, _ := e.joined(owner, "acme", "dev@acme.test", "member")
	owner.must(201, "POST", "/orgs/acme/tenants/web/members", map[string]string{"email": "dev@acme.test", "role": "member"})
	const pipe = "/orgs/acme/tenants/web/pipelines/gated"
	devKey := e.withKey(owner.apiKey("acme", map[string]any{"name": "ci", "scopes": []string{ScopeRunsWrite, ScopeRunsRead}, "tenant": "web"}))

	dev.must(201, "POST", pipe+"/runs", nil)
	dev.waitRun(pipe+"/runs/1", stageIs("gate", buildit.StageWaiting))
	// As an older BuildIt recorded it: no gates in the params.
	tag, err := e.store.Pool().Exec(t.Context(), "UPDATE pipeline_runs SET params = params - 'gates' WHERE number = 1 AND params ? 'gates'")
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("removing the recorded gates: %v, %d rows", err, tag.RowsAffected())
	}
	for name, c := range map[string]*client{"tenant member": dev, "key": devKey} {
		if r := c.do("POST", pipe+"/runs/1/stages/gate/approve", nil); r.status != 403 {
			t.Errorf("%s approves a run without recorded gates: %d %s", name, r.status, r.body)
		}
	}
	owner.must(200, "POST", pipe+"/runs/1/stages/gate/approve", nil)
	owner.waitRun(pipe+"/runs/1", ended)
}

// An approver named as a key, "key:NAME", is matched by the key's name,
// which is not unique: a key made after the run started, under that name,
// must not decide it; the key that existed before may. An approver's email
// matches whatever its case or width.
func TestSecurityKeyApproverMadeAfterTheRunCannotDecide(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	const src = `pipeline "gated"
stage "gate" {
    approval { approvers "key:release-bot" "OWNER@ACME.TEST"; }
}
stage "ship" needs="gate" { run "echo shipped"; }
`
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "gated", "source": src})
	const pipe = "/orgs/acme/tenants/web/pipelines/gated"
	scopes := []string{ScopeRunsWrite, ScopeRunsRead}
	bot := e.withKey(owner.apiKey("acme", map[string]any{"name": "release-bot", "scopes": scopes, "tenant": "web"}))

	owner.must(201, "POST", pipe+"/runs", nil)
	owner.waitRun(pipe+"/runs/1", stageIs("gate", buildit.StageWaiting))
	impostor := e.withKey(owner.apiKey("acme", map[string]any{"name": "release-bot", "scopes": scopes, "tenant": "web"}))
	if r := impostor.do("POST", pipe+"/runs/1/stages/gate/approve", nil); r.status != 403 {
		t.Fatalf("a key named release-bot made after the run started approves it: %d %s", r.status, r.body)
	}
	bot.must(200, "POST", pipe+"/runs/1/stages/gate/approve", nil)
	if v := owner.waitRun(pipe+"/runs/1", ended); v.Status != buildit.RunSucceeded {
		t.Errorf("run 1 after the bot approved: %s", v.Status)
	}

	owner.must(201, "POST", pipe+"/runs", nil)
	owner.waitRun(pipe+"/runs/2", stageIs("gate", buildit.StageWaiting))
	owner.must(200, "POST", pipe+"/runs/2/stages/gate/approve", nil)
	owner.waitRun(pipe+"/runs/2", ended)
}
