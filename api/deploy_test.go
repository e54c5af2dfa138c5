package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/deploy/fly/flytest"
)

// Deploys in server mode, to flytest (a local stand-in for Fly's Machines
// API: no Fly account is reachable here): the tenant's target with its
// token as a tenant secret, an environment that wants an approval and the
// main branch, the deployment history, and a rollback through the API.
func TestDeployThroughTheAPI(t *testing.T) {
	t.Parallel()
	const token = "fo1_tenant-secret-token"
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	tb := "/orgs/acme/tenants/web"
	owner.must(201, "PUT", tb+"/secrets/FLY_TOKEN", map[string]string{"value": token})
	owner.must(201, "POST", tb+"/targets", map[string]any{"name": "fly", "kind": "fly", "credentials_secret": "FLY_TOKEN",
		"settings": map[string]string{"app": "acme-api", "region": "ams", "api-url": srv.URL}})
	owner.must(201, "POST", tb+"/environments", map[string]any{"name": "production", "require_approval": true, "allowed_branches": []string{"main"}})
	if r := owner.do("POST", tb+"/environments", map[string]any{"name": "production"}); r.status != 409 || !strings.Contains(string(r.body), "an environment named production already") {
		t.Errorf("a second environment named production: %d %s", r.status, r.body)
	}
	if r := owner.do("POST", tb+"/targets", map[string]any{"name": "fly", "kind": "kubernetes"}); r.status != 409 {
		t.Errorf("a second target named fly: %d %s", r.status, r.body)
	}
	src := `pipeline "cd"
stage "ship" { approval; }
deploy "api" needs="ship" {
    target "fly"
    environment "production"
    image "registry.example.com/api:${BUILDIT_COMMIT}"
    replicas 2
    port 8080
    health-check path="/healthz" timeout="20s"
}
target "fly"
`
	owner.must(201, "POST", tb+"/pipelines", map[string]string{"name": "cd", "source": src})
	base := tb + "/pipelines/cd/runs"
	deployRun := func(n int, body map[string]any) apiview.Run {
		owner.must(201, "POST", base, body)
		path := fmt.Sprintf("%s/%d", base, n)
		owner.waitRun(path, stageIs("ship", buildit.StageWaiting))
		owner.must(200, "POST", path+"/stages/ship/approve", nil)
		return owner.waitRun(path, ended)
	}

	first := deployRun(1, map[string]any{"branch": "main", "commit": "aaaa1111"})
	if first.Status != buildit.RunSucceeded {
		t.Fatalf("first deploy run: %s %+v", first.Status, first.Stages)
	}
	second := deployRun(2, map[string]any{"branch": "main", "commit": "bbbb2222"})
	if second.Status != buildit.RunSucceeded {
		t.Fatalf("second deploy run: %s %+v", second.Status, second.Stages)
	}
	var logs apiview.Logs
	owner.must(200, "GET", base+"/2/logs?stage=api", nil).json(t, &logs)
	var lines []string
	for _, l := range logs.Lines {
		lines = append(lines, l.Line)
	}
	if got := strings.Join(lines, "\n"); !strings.Contains(got, "as revision 2 to fly (revision 1, registry.example.com/api:aaaa1111, is live)") || !strings.Contains(got, "deploy succeeded") {
		t.Errorf("deploy log:\n%s", got)
	}

	// The environment's protection: another branch is refused.
	dev := deployRun(3, map[string]any{"branch": "dev", "commit": "cccc3333"})
	if dev.Status != buildit.RunFailed || !strings.Contains(stageOf(dev, "api").Error, "takes deploys from branches [main] only") {
		t.Errorf("deploy from dev: %s %+v", dev.Status, dev.Stages)
	}

	var history apiview.List[apiview.Deployment]
	owner.must(200, "GET", tb+"/environments/production/deployments", nil).json(t, &history)
	if len(history.Items) != 2 {
		t.Fatalf("history %+v", history.Items)
	}
	h2, h1 := history.Items[0], history.Items[1]
	if h2.Revision != 2 || h2.Status != buildit.DeploySucceeded || h2.Image != "registry.example.com/api:bbbb2222" || h2.Service != "api" ||
		h2.Actor != "owner@acme.test" || h2.Target != "fly" || *h2.PreviousRevision != 1 || h1.Revision != 1 {
		t.Errorf("history %+v / %+v", h2, h1)
	}

	// Roll back to revision 1: a new revision with its image.
	owner.must(202, "POST", tb+"/deployments/"+h1.ID.String()+"/rollback", nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		owner.must(200, "GET", tb+"/environments/production/deployments", nil).json(t, &history)
		if len(history.Items) == 3 && history.Items[0].Status != buildit.DeployRunning && history.Items[0].Status != buildit.DeployPending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollback did not finish: %+v", history.Items)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := history.Items[0]; r.Revision != 3 || r.Status != buildit.DeploySucceeded || r.Image != "registry.example.com/api:aaaa1111" || r.Stage != "rollback" {
		t.Errorf("rollback deployment %+v", r)
	}
	for id, img := range srv.Images("acme-api") {
		if img != "registry.example.com/api:aaaa1111" {
			t.Errorf("machine %s runs %s after the rollback", id, img)
		}
	}
	// Rolling back to a deployment that did not succeed is refused.
	if r := owner.do("POST", tb+"/deployments/00000000-0000-0000-0000-000000000000/rollback", nil); r.status != 404 {
		t.Errorf("rollback of no deployment: %d", r.status)
	}
	if strings.Contains(e.logs.String(), token) || strings.Contains(e.seen.String(), token) {
		t.Error("the Fly token is in the server's log or an answer")
	}
}
