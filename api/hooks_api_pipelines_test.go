package api

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	tclient "go.temporal.io/sdk/client"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/internal/gittest"
	"github.com/buildit-ci/buildit/triggers"
	"github.com/buildit-ci/buildit/workflows"
)

// A webhook of a connected repository runs, besides its files' pipelines,
// the pipelines stored through the API that name it, when their `on`
// matches: at the event's commit, with their stored source, cloning with
// the repository's token and reporting buildit/<name>. One whose `on`
// does not match, and one that names no repository, do not run; a file
// of an API pipeline's name is "taken" and replaces nothing; a
// redelivery, or the event's workflow run again, starts nothing new. Run
// by hand, it clones the repository.
func TestWebhookStartsAPIPipelines(t *testing.T) {
	t.Parallel()
	gittest.Need(t)
	e := setup(t).withRuns(t)
	e.allowHTTPRepositories()
	e.svc.PublicURL = "https://ci.example.com"
	e.serveHooks(t)

	root := t.TempDir()
	base := gittest.Repo(t, root, "app", map[string]string{"README": "app\n"})
	commit := gittest.Commit(t, filepath.Join(root, "app"), map[string]string{
		".buildit/ci.kdl":     "pipeline \"ci\"\nstage \"test\" { run \"echo from the file\"; }\n",
		".buildit/deploy.kdl": "pipeline \"deploy\"\nstage \"x\" { run \"echo the file replaced the API's source\"; }\n",
		"version":             "9\n",
	})
	clone := gittest.Serve(t, root) + "/app"

	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "PUT", "/orgs/acme/tenants/web/secrets/GITEA_TOKEN", map[string]string{"value": "gitea-token"})
	repo := connect(t, owner, clone)
	pipes := "/orgs/acme/tenants/web/pipelines"
	deploySrc := "pipeline \"deploy\"\non { push branch=\"main\"; manual; }\nstage \"ship\" { run \"echo stored commit=$BUILDIT_COMMIT event=$BUILDIT_EVENT\" \"cat version\"; }\n"
	owner.must(201, "POST", pipes, map[string]any{"name": "deploy", "source": deploySrc, "repository_id": repo.ID})
	owner.must(201, "POST", pipes, map[string]any{"name": "release", "repository_id": repo.ID,
		"source": "pipeline \"release\"\non { tag \"v*\"; }\nstage \"r\" { run \"echo tag=$BUILDIT_TAG\"; }\n"})
	owner.must(201, "POST", pipes, map[string]any{"name": "unlinked", "source": helloKDL})

	push := hookCall{forge: "gitea", repo: repo.ID, secret: repo.WebhookSecret, event: "push", delivery: "44444444-push",
		body: giteaPush(clone, "refs/heads/main", base, commit, "add pipelines", ".buildit/ci.kdl", ".buildit/deploy.kdl", "version")}
	r := e.deliver(push)
	st, wid := hookStatus(t, r)
	if r.status != 202 || st != "accepted" {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	res := e.waitHook(t, wid)
	if fmt.Sprint(res.Runs) != "[ci#1 deploy#1]" || len(res.Failed) != 1 || !strings.Contains(res.Failed[0], "pipeline name deploy is taken") {
		t.Fatalf("the push started %v, failed %q", res.Runs, res.Failed)
	}
	run := owner.waitRun(pipes+"/deploy/runs/1", ended)
	if run.Status != buildit.RunSucceeded || run.Commit != commit || run.Branch != "main" || run.Event != "push" || run.Trigger != "webhook" {
		t.Fatalf("deploy's run: %+v", run)
	}
	var logs apiview.Logs
	owner.must(200, "GET", pipes+"/deploy/runs/1/logs?stage=ship", nil).json(t, &logs)
	if len(logs.Lines) != 2 || logs.Lines[0].Line != "stored commit="+commit+" event=push" || logs.Lines[1].Line != "9" {
		t.Errorf("deploy's log (its stored source, at the commit): %+v", logs.Lines)
	}
	in := e.runInput(t, run.WorkflowID)
	if in.Report == nil || in.Report.Commit != commit || in.Report.Context != "buildit/deploy" || in.Report.RepositoryID != repo.ID {
		t.Errorf("deploy's status report: %+v", in.Report)
	}
	if in.Prepare == nil || in.Prepare.Repository != clone || in.Prepare.Auth == nil || in.Prepare.Auth.Secret != "GITEA_TOKEN" || in.NoSecrets {
		t.Errorf("deploy's clone %+v, no secrets %v", in.Prepare, in.NoSecrets)
	}
	var p apiview.Pipeline
	owner.must(200, "GET", pipes+"/deploy", nil).json(t, &p)
	if p.Source != deploySrc || p.Version != 1 || p.RepositoryPath != "" || p.RepositoryID != repo.ID {
		t.Errorf("the file of deploy's name changed the API's pipeline: %+v", p)
	}
	var list apiview.List[apiview.Run]
	for _, name := range []string{"release", "unlinked"} {
		owner.must(200, "GET", pipes+"/"+name+"/runs", nil).json(t, &list)
		if len(list.Items) != 0 {
			t.Errorf("the push ran %s: %+v", name, list.Items)
		}
	}

	// Redelivered, or its workflow run again: nothing new.
	if r := e.deliver(push); func() string { s, _ := hookStatus(t, r); return s }() != "duplicate" {
		t.Errorf("redelivery: %d %s", r.status, r.body)
	}
	again := e.rerunHook(t, wid)
	if fmt.Sprint(again.Runs) != "[ci#1 deploy#1]" {
		t.Errorf("the event again started %v", again.Runs)
	}
	owner.must(200, "GET", pipes+"/deploy/runs", nil).json(t, &list)
	if len(list.Items) != 1 {
		t.Errorf("deploy has %d runs after the redeliveries, want 1", len(list.Items))
	}

	// A tag: release's `on` matches, deploy's does not.
	tag := push
	tag.delivery, tag.body = "55555555-tag", giteaPush(clone, "refs/tags/v2.0", strings.Repeat("0", 40), commit, "add pipelines")
	r = e.deliver(tag)
	st, wid = hookStatus(t, r)
	if r.status != 202 || st != "accepted" {
		t.Fatalf("tag: %d %s", r.status, r.body)
	}
	if res := e.waitHook(t, wid); fmt.Sprint(res.Runs) != "[release#1]" {
		t.Errorf("the tag started %v (failed %q)", res.Runs, res.Failed)
	}
	if run := owner.waitRun(pipes+"/release/runs/1", ended); run.Status != buildit.RunSucceeded || run.Event != "tag" || run.Commit != commit {
		t.Errorf("release's run: %+v", run)
	}

	// Run by hand, it clones the repository's default branch with the
	// token, as a file's pipeline does.
	var manual apiview.Run
	owner.must(201, "POST", pipes+"/deploy/runs", nil).json(t, &manual)
	if in := e.runInput(t, manual.WorkflowID); in.Prepare == nil || in.Prepare.Repository != clone || in.Prepare.Branch != "main" ||
		in.Prepare.Auth == nil || in.Prepare.Auth.Secret != "GITEA_TOKEN" {
		t.Errorf("the manual run's workspace: %+v", in.Prepare)
	}
	if run := owner.waitRun(pipes+"/deploy/runs/2", ended); run.Status != buildit.RunSucceeded {
		t.Errorf("the manual run: %+v", run)
	}

	// Unlinked, deploy is no longer the repository's to run.
	owner.must(200, "PUT", pipes+"/deploy", map[string]any{"source": deploySrc, "repository_id": nil})
	again2 := push
	again2.delivery, again2.body = "66666666-push", giteaPush(clone, "refs/heads/main", base, commit, "again", "version")
	r = e.deliver(again2)
	_, wid = hookStatus(t, r)
	if res := e.waitHook(t, wid); fmt.Sprint(res.Runs) != "[ci#2]" {
		t.Errorf("after deploy was unlinked the push started %v", res.Runs)
	}
}

// rerunHook runs a delivery's RepositoryEvent workflow again, with the
// input it had (as a retry after its history was lost would), and returns
// what it started.
func (e *env) rerunHook(t *testing.T, workflowID string) triggers.EventResult {
	t.Helper()
	var in triggers.EventInput
	e.historyInput(t, workflowID, &in)
	run, err := e.svc.Client.ExecuteWorkflow(context.Background(),
		tclient.StartWorkflowOptions{ID: "again-" + workflowID, TaskQueue: workflows.ServerTaskQueue(e.svc.TaskQueue)},
		triggers.RepositoryEventWorkflow, in)
	if err != nil {
		t.Fatal(err)
	}
	var res triggers.EventResult
	if err := run.Get(context.Background(), &res); err != nil {
		t.Fatalf("the event again: %v", err)
	}
	return res
}
