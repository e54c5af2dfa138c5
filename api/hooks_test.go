package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/internal/gittest"
	"github.com/buildit-ci/buildit/triggers"
	"github.com/buildit-ci/buildit/workflows"
)

// hookCall is one webhook delivery.
type hookCall struct {
	forge, repo string
	// secret signs the body; "" sends no signature.
	secret, event, delivery string
	body                    []byte
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// deliver posts h as its forge would: Gitea's and GitHub's headers, as
// their documentation gives them.
func (e *env) deliver(h hookCall) resp {
	e.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "POST", e.srv.URL+"/api/v1/hooks/"+h.forge+"/"+h.repo, bytes.NewReader(h.body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	switch h.forge {
	case "gitea":
		req.Header.Set("X-Gitea-Event", h.event)
		if h.delivery != "" {
			req.Header.Set("X-Gitea-Delivery", h.delivery)
		}
		if h.secret != "" {
			req.Header.Set("X-Gitea-Signature", sign(h.secret, h.body))
		}
	case "github":
		req.Header.Set("X-GitHub-Event", h.event)
		if h.delivery != "" {
			req.Header.Set("X-GitHub-Delivery", h.delivery)
		}
		if h.secret != "" {
			req.Header.Set("X-Hub-Signature-256", "sha256="+sign(h.secret, h.body))
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return resp{status: res.StatusCode, body: b.Bytes(), header: res.Header}
}

// hookStatus is a webhook answer's status.
func hookStatus(t *testing.T, r resp) (status, workflowID string) {
	t.Helper()
	var a struct {
		Status     string `json:"status"`
		WorkflowID string `json:"workflow_id"`
	}
	r.json(t, &a)
	return a.Status, a.WorkflowID
}

// giteaPush is a Gitea push payload (as Gitea's webhook documentation
// gives it) of one commit to ref.
func giteaPush(clone, ref, before, after, message string, changed ...string) []byte {
	commit := map[string]any{
		"id": after, "message": message, "author": map[string]any{"name": "Dev", "username": "dev"},
		"added": changed, "removed": []string{}, "modified": []string{},
	}
	b, _ := json.Marshal(map[string]any{
		"ref": ref, "before": before, "after": after,
		"commits": []any{commit}, "head_commit": commit, "total_commits": 1,
		"repository": map[string]any{"name": "app", "full_name": "acme/app", "clone_url": clone, "html_url": clone, "default_branch": "main", "fork": false},
		"pusher":     map[string]any{"login": "dev", "username": "dev"},
		"sender":     map[string]any{"login": "dev", "username": "dev"},
	})
	return b
}

// giteaPR is a Gitea pull_request payload whose head is in headClone.
func giteaPR(clone, headClone, action string, number int, head, base, sha string) []byte {
	repo := func(u string) map[string]any {
		full := "acme/app"
		if u != clone {
			full = "stranger/app"
		}
		return map[string]any{"name": "app", "full_name": full, "clone_url": u, "html_url": u, "default_branch": "main"}
	}
	b, _ := json.Marshal(map[string]any{
		"action": action, "number": number,
		"pull_request": map[string]any{
			"number": number, "title": "Change", "user": map[string]any{"login": "stranger", "username": "stranger"},
			"head": map[string]any{"ref": head, "sha": sha, "repo": repo(headClone)},
			"base": map[string]any{"ref": base, "sha": sha, "repo": repo(clone)},
		},
		"repository": repo(clone),
		"sender":     map[string]any{"login": "stranger", "username": "stranger"},
	})
	return b
}

// fakeHooks stands in for Temporal in the route's tests: it records the
// events it is asked to start, once per delivery as Temporal's workflow
// IDs do, or fails while fail is set.
type fakeHooks struct {
	mu       sync.Mutex
	started  []triggers.EventInput
	fail     bool
	failures int
}

func (f *fakeHooks) StartEvent(_ context.Context, in triggers.EventInput) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		f.failures++
		return "", errors.New("temporal is down")
	}
	id := "hook/" + in.RepositoryID + "/" + in.Event.Delivery
	for _, s := range f.started {
		if s.RepositoryID == in.RepositoryID && s.Event.Delivery == in.Event.Delivery {
			return id, nil
		}
	}
	f.started = append(f.started, in)
	return id, nil
}

func (f *fakeHooks) setFail(fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

// snapshot returns the events started and the failed starts so far.
func (f *fakeHooks) snapshot() ([]triggers.EventInput, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.started), f.failures
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
	}
}

// dispatch gives the webhook route a dispatcher over starter, run until
// the test ends (or stop), whose sweeper looks every 50 ms for deliveries
// older than 100 ms that have not started.
func (e *env) dispatch(t testing.TB, starter triggers.EventStarter, queue int) (d *triggers.Dispatcher, stop func()) {
	t.Helper()
	d = triggers.NewDispatcher(starter, e.store, slog.New(slog.DiscardHandler), 0, queue)
	d.SweepEvery, d.HandOff = 50*time.Millisecond, 100*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	e.api.cfg.Hooks = d
	return d, stop
}

// The webhook route without Temporal: signatures, ping, ignored events,
// [skip ci], redeliveries, and a workflow service that is down (the
// delivery is accepted and started when it is back). GitHub's payloads
// here are stand-ins following GitHub's webhook documentation.
func TestSecurityWebhookRoute(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hooks := &fakeHooks{}
	e.dispatch(t, hooks, 0)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "PUT", "/orgs/acme/tenants/web/secrets/GITEA_TOKEN", map[string]string{"value": "tok"})
	var repo apiview.Repository
	owner.must(201, "POST", "/orgs/acme/tenants/web/repositories", map[string]any{
		"forge": "github", "url": "https://github.com/acme/app", "token_secret": "GITEA_TOKEN",
	}).json(t, &repo)
	sha := strings.Repeat("a", 40)
	push := func(msg string) []byte {
		b, _ := json.Marshal(map[string]any{
			"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": sha,
			"repository":  map[string]any{"clone_url": "https://github.com/acme/app.git", "default_branch": "main"},
			"head_commit": map[string]any{"id": sha, "message": msg, "author": map[string]any{"name": "Dev", "username": "dev"}, "added": []string{}, "removed": []string{}, "modified": []string{}},
			"commits":     []any{},
		})
		return b
	}
	call := hookCall{forge: "github", repo: repo.ID, secret: repo.WebhookSecret, event: "push", delivery: "d-1", body: push("change")}

	// Refused before anything is parsed: no signature, a wrong one, a
	// body that is not what was signed.
	for name, h := range map[string]hookCall{
		"no signature":    {forge: "github", repo: repo.ID, event: "push", delivery: "x", body: call.body},
		"wrong secret":    {forge: "github", repo: repo.ID, secret: "not-the-secret", event: "push", delivery: "x", body: call.body},
		"not JSON signed": {forge: "github", repo: repo.ID, secret: "nope", event: "push", delivery: "x", body: []byte("{")},
	} {
		if r := e.deliver(h); r.status != 401 || r.code() != CodeUnauthenticated {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if strings.Contains(e.logs.String(), "change") || strings.Contains(e.logs.String(), repo.WebhookSecret) {
		t.Error("a refused webhook's body or the secret is in the log")
	}
	if !strings.Contains(e.logs.String(), repo.ID) {
		t.Error("a refused webhook is not logged with its repository")
	}
	// Unknown repositories, forges and ids: 404.
	for name, h := range map[string]hookCall{
		"other forge":  {forge: "gitea", repo: repo.ID, secret: repo.WebhookSecret, event: "push", body: call.body},
		"no forge":     {forge: "svn", repo: repo.ID, body: call.body},
		"not a UUID":   {forge: "github", repo: "nope", body: call.body},
		"unknown repo": {forge: "github", repo: "00000000-0000-4000-8000-000000000000", secret: "x", event: "push", body: call.body},
	} {
		if r := e.deliver(h); r.status != 404 || r.code() != CodeNotFound {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}

	ping := call
	ping.event, ping.delivery, ping.body = "ping", "p-1", []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
	if r := e.deliver(ping); r.status != 200 || func() string { s, _ := hookStatus(t, r); return s }() != "pong" {
		t.Errorf("ping: %d %s", r.status, r.body)
	}
	ignored := call
	ignored.event, ignored.delivery, ignored.body = "issues", "i-1", []byte(`{"action":"opened","issue":{"number":1}}`)
	if r := e.deliver(ignored); r.status != 202 || func() string { s, _ := hookStatus(t, r); return s }() != "ignored" {
		t.Errorf("an issue event: %d %s", r.status, r.body)
	}
	skip := call
	skip.delivery, skip.body = "s-1", push("docs only [skip ci]")
	if r := e.deliver(skip); r.status != 202 || func() string { s, _ := hookStatus(t, r); return s }() != "skipped" {
		t.Errorf("[skip ci]: %d %s", r.status, r.body)
	}
	if started, _ := hooks.snapshot(); len(started) != 0 {
		t.Fatalf("started %d events for nothing to do", len(started))
	}

	// A push is started once; its redelivery is a duplicate.
	r := e.deliver(call)
	if st, wid := hookStatus(t, r); r.status != 202 || st != "accepted" || wid != "hook/"+repo.ID+"/d-1" {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	if r := e.deliver(call); r.status != 202 || func() string { s, _ := hookStatus(t, r); return s }() != "duplicate" {
		t.Errorf("redelivery: %d %s", r.status, r.body)
	}
	var started []triggers.EventInput
	waitFor(t, "the push's start", func() bool { started, _ = hooks.snapshot(); return len(started) > 0 })
	if len(started) != 1 {
		t.Fatalf("started %d events, want 1", len(started))
	}
	ev := started[0]
	if ev.TenantID == "" || ev.OrgID == "" || ev.RepositoryID != repo.ID || ev.Event.Commit != sha || ev.Event.Branch != "main" || ev.Event.Delivery != "d-1" {
		t.Errorf("started %+v", ev)
	}

	// Without a delivery header the body's hash is the delivery: the
	// same body twice is one delivery.
	anon := call
	anon.delivery, anon.body = "", push("another")
	sum := sha256.Sum256(anon.body)
	if r := e.deliver(anon); r.status != 202 || func() string { _, w := hookStatus(t, r); return w }() != "hook/"+repo.ID+"/sha256-"+hex.EncodeToString(sum[:]) {
		t.Errorf("no delivery header: %d %s", r.status, r.body)
	}
	if r := e.deliver(anon); func() string { s, _ := hookStatus(t, r); return s }() != "duplicate" {
		t.Errorf("no delivery header, again: %d %s", r.status, r.body)
	}

	// Temporal down: the delivery is accepted all the same, its start
	// fails and is retried (with a backoff) until Temporal is back.
	hooks.setFail(true)
	down := call
	down.delivery = "d-2"
	if r := e.deliver(down); r.status != 202 || func() string { s, _ := hookStatus(t, r); return s }() != "accepted" {
		t.Errorf("Temporal down: %d %s", r.status, r.body)
	}
	var attempts int
	var startedAt *time.Time
	waitFor(t, "a failed start recorded", func() bool {
		if err := e.store.Pool().QueryRow(context.Background(), "SELECT attempts, started_at FROM webhook_deliveries WHERE delivery_id = 'd-2'").Scan(&attempts, &startedAt); err != nil {
			t.Fatal(err)
		}
		return attempts > 0
	})
	if startedAt != nil {
		t.Errorf("a delivery whose start failed is marked started at %v", startedAt)
	}
	hooks.setFail(false)
	waitFor(t, "d-2's start after Temporal came back", func() bool {
		started, _ := hooks.snapshot()
		return slices.ContainsFunc(started, func(in triggers.EventInput) bool { return in.Event.Delivery == "d-2" })
	})
	if r := e.deliver(down); func() string { s, _ := hookStatus(t, r); return s }() != "duplicate" {
		t.Errorf("the forge's redelivery of d-2: %d %s", r.status, r.body)
	}
}

// Deliveries accepted while no starter drains the queue (a full queue, a
// server that stopped before starting them) are started by the next
// dispatcher's sweeper, once each.
func TestWebhookDeliveriesSurviveARestart(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "PUT", "/orgs/acme/tenants/web/secrets/GITEA_TOKEN", map[string]string{"value": "tok"})
	var repo apiview.Repository
	owner.must(201, "POST", "/orgs/acme/tenants/web/repositories", map[string]any{
		"forge": "gitea", "url": "https://gitea.example/acme/app", "token_secret": "GITEA_TOKEN",
	}).json(t, &repo)
	sha := strings.Repeat("b", 40)
	body := giteaPush("https://gitea.example/acme/app.git", "refs/heads/main", sha, sha, "change")

	// A dispatcher that is stopped at once: its queue takes one delivery
	// and nothing drains it; the others do not fit.
	first := &fakeHooks{}
	_, stop := e.dispatch(t, first, 1)
	stop()
	for i := range 5 {
		call := hookCall{forge: "gitea", repo: repo.ID, secret: repo.WebhookSecret, event: "push", delivery: fmt.Sprintf("r-%d", i), body: body}
		if r := e.deliver(call); r.status != 202 || func() string { s, _ := hookStatus(t, r); return s }() != "accepted" {
			t.Fatalf("delivery %d: %d %s", i, r.status, r.body)
		}
	}
	if started, _ := first.snapshot(); len(started) != 0 {
		t.Fatalf("a stopped dispatcher started %d", len(started))
	}
	// The next server's dispatcher.
	next := &fakeHooks{}
	e.dispatch(t, next, 0)
	waitFor(t, "the sweeper's starts", func() bool { started, _ := next.snapshot(); return len(started) == 5 })
	var pending int
	waitFor(t, "every delivery marked started", func() bool {
		if err := e.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM webhook_deliveries WHERE started_at IS NULL OR input IS NOT NULL").Scan(&pending); err != nil {
			t.Fatal(err)
		}
		return pending == 0
	})
}

// allowHTTPRepositories lets the API, the run service and the workers'
// clones take http:// repositories (the tests' git http-backend).
func (e *env) allowHTTPRepositories() {
	e.svc.Repositories.AllowHTTP = true
	e.acts.Server.Clone.Repositories.AllowHTTP = true
	e.api.cfg.Repositories.AllowHTTP = true
}

// serveHooks gives e the server's own worker (the RepositoryEvent
// workflow) on the run service's server queue, and the webhook route a
// dispatcher starting workflows on it, as buildit server wires them.
func (e *env) serveHooks(t testing.TB) {
	t.Helper()
	// At most 4 activities at once, as buildit server's worker.
	w := sdkworker.New(e.svc.Client, workflows.ServerTaskQueue(e.svc.TaskQueue), sdkworker.Options{MaxConcurrentActivityExecutionSize: 4})
	triggers.Register(w, &triggers.Deps{Store: e.store, Runs: e.svc, Client: e.svc.Client, Log: slog.New(slog.DiscardHandler)})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	e.dispatch(t, triggers.Starter{Client: e.svc.Client, TaskQueue: e.svc.TaskQueue}, 0)
}

// waitHook waits for a delivery's RepositoryEvent workflow (which the
// dispatcher starts after the route has answered) and returns what it
// started.
func (e *env) waitHook(t *testing.T, workflowID string) triggers.EventResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var res triggers.EventResult
	for {
		err := e.svc.Client.GetWorkflow(ctx, workflowID, "").Get(ctx, &res)
		var missing *serviceerror.NotFound
		if errors.As(err, &missing) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("workflow %s: %v", workflowID, err)
		}
		return res
	}
}

// historyInput decodes the input a workflow was started with into v.
func (e *env) historyInput(t *testing.T, workflowID string, v any) {
	t.Helper()
	it := e.svc.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, 0)
	ev, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	payload := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0]
	if err := json.Unmarshal(payload.GetData(), v); err != nil {
		t.Fatal(err)
	}
}

// runInput is the input a run's workflow was started with.
func (e *env) runInput(t *testing.T, workflowID string) workflows.PipelineRunInput {
	t.Helper()
	var in workflows.PipelineRunInput
	e.historyInput(t, workflowID, &in)
	return in
}

// A connected repository's webhooks start its pipelines at the commit:
// a Gitea push starts the pipelines whose `on` matches (not the one on
// tags), an invalid file is a failed run with its file:line:col, a
// redelivery starts nothing, a tag push starts the tag's pipeline, and a
// pull request from a fork runs without the tenant's secrets. Real
// Postgres, the embedded Temporal, and a git repository served by git's
// http-backend; the webhooks follow Gitea's documented payloads.
func TestWebhookStartsRepositoryRuns(t *testing.T) {
	t.Parallel()
	gittest.Need(t)
	e := setup(t).withRuns(t)
	e.allowHTTPRepositories()
	e.svc.PublicURL = "https://ci.example.com"
	e.serveHooks(t)

	root := t.TempDir()
	base := gittest.Repo(t, root, "app", map[string]string{"README": "app\n"})
	commit := gittest.Commit(t, filepath.Join(root, "app"), map[string]string{
		".buildit/ci.kdl":    "pipeline \"ci\"\nstage \"test\" {\n    secrets \"DEPLOY_TOKEN\"\n    run \"echo commit=$BUILDIT_COMMIT event=$BUILDIT_EVENT\" \"cat version\"\n}\n",
		".buildit/other.kdl": "pipeline \"other\"\non { tag \"v*\"; }\nstage \"release\" { run \"echo tag=$BUILDIT_TAG\"; }\n",
		".buildit/bad.kdl":   "pipeline \"bad\"\nstage \"x\" {\n    nonsense 1\n}\n",
		"version":            "7\n",
	})
	clone := gittest.Serve(t, root) + "/app"

	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "PUT", "/orgs/acme/tenants/web/secrets/GITEA_TOKEN", map[string]string{"value": "gitea-token"})
	owner.must(201, "PUT", "/orgs/acme/tenants/web/secrets/DEPLOY_TOKEN", map[string]string{"value": "deploy"})
	repo := connect(t, owner, clone)

	push := hookCall{forge: "gitea", repo: repo.ID, secret: repo.WebhookSecret, event: "push", delivery: "11111111-push",
		body: giteaPush(clone, "refs/heads/main", base, commit, "add pipelines", ".buildit/ci.kdl", ".buildit/other.kdl", ".buildit/bad.kdl", "version")}
	r := e.deliver(push)
	st, wid := hookStatus(t, r)
	if r.status != 202 || st != "accepted" {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	res := e.waitHook(t, wid)
	if fmt.Sprint(res.Runs) != "[ci#1]" || len(res.Failed) != 1 {
		t.Fatalf("the push started %v, failed %q", res.Runs, res.Failed)
	}
	runs := "/orgs/acme/tenants/web/pipelines/"
	run := owner.waitRun(runs+"ci/runs/1", ended)
	if run.Status != buildit.RunSucceeded || run.Commit != commit || run.Branch != "main" || run.Event != "push" || run.Trigger != "webhook" {
		t.Fatalf("ci run: %+v", run)
	}
	var logs apiview.Logs
	owner.must(200, "GET", runs+"ci/runs/1/logs?stage=test", nil).json(t, &logs)
	if len(logs.Lines) != 2 || logs.Lines[0].Line != "commit="+commit+" event=push" || logs.Lines[1].Line != "7" {
		t.Errorf("ci's log: %+v", logs.Lines)
	}
	in := e.runInput(t, run.WorkflowID)
	if in.Report == nil || in.Report.Commit != commit || in.Report.Context != "buildit/ci" || in.Report.RepositoryID != repo.ID ||
		in.Report.TargetURL != "https://ci.example.com/api/v1/orgs/acme/tenants/web/pipelines/ci/runs/1" {
		t.Errorf("the run's status report: %+v", in.Report)
	}
	if in.Prepare == nil || in.Prepare.Auth == nil || in.Prepare.Auth.Secret != "GITEA_TOKEN" || in.NoSecrets {
		t.Errorf("the run's clone auth %+v, no secrets %v", in.Prepare, in.NoSecrets)
	}
	bad := owner.waitRun(runs+"bad/runs/1", ended)
	if bad.Status != buildit.RunFailed || !strings.Contains(bad.Error, ".buildit/bad.kdl:3:5:") || bad.Commit != commit {
		t.Errorf("the invalid file's run: %s %q", bad.Status, bad.Error)
	}
	owner.must(404, "GET", runs+"other", nil)

	// A redelivery is a duplicate; the event's workflow run again (say a
	// retry after its history was lost) makes no second run either.
	if r := e.deliver(push); func() string { s, _ := hookStatus(t, r); return s }() != "duplicate" {
		t.Errorf("redelivery: %d %s", r.status, r.body)
	}
	var evIn triggers.EventInput
	e.historyInput(t, wid, &evIn)
	again, err := e.svc.Client.ExecuteWorkflow(context.Background(),
		tclient.StartWorkflowOptions{ID: "again-" + wid, TaskQueue: workflows.ServerTaskQueue(e.svc.TaskQueue)},
		triggers.RepositoryEventWorkflow, evIn)
	if err != nil {
		t.Fatal(err)
	}
	var res2 triggers.EventResult
	if err := again.Get(context.Background(), &res2); err != nil || fmt.Sprint(res2.Runs) != "[ci#1]" {
		t.Errorf("the event again: %v %v", res2.Runs, err)
	}
	var list apiview.List[apiview.Run]
	owner.must(200, "GET", runs+"ci/runs", nil).json(t, &list)
	if len(list.Items) != 1 {
		t.Errorf("ci has %d runs after redeliveries, want 1", len(list.Items))
	}
	owner.must(200, "GET", runs+"bad/runs", nil).json(t, &list)
	if len(list.Items) != 1 {
		t.Errorf("bad has %d runs after redeliveries, want 1", len(list.Items))
	}

	// A tag push starts the tag's pipeline only.
	tag := push
	tag.delivery, tag.body = "22222222-tag", giteaPush(clone, "refs/tags/v1.0", strings.Repeat("0", 40), commit, "add pipelines")
	r = e.deliver(tag)
	st, wid = hookStatus(t, r)
	if r.status != 202 || st != "accepted" {
		t.Fatalf("tag: %d %s", r.status, r.body)
	}
	if res := e.waitHook(t, wid); fmt.Sprint(res.Runs) != "[other#1]" {
		t.Errorf("the tag started %v", res.Runs)
	}
	if run := owner.waitRun(runs+"other/runs/1", ended); run.Status != buildit.RunSucceeded || run.Event != "tag" || run.Commit != commit {
		t.Errorf("other's run: %+v", run)
	}
	owner.must(200, "GET", runs+"other/runs/1/logs?stage=release", nil).json(t, &logs)
	if len(logs.Lines) != 1 || logs.Lines[0].Line != "tag=v1.0" {
		t.Errorf("other's log: %+v", logs.Lines)
	}

	// A pull request from a fork runs without the tenant's secrets.
	pr := push
	pr.event, pr.delivery = "pull_request", "33333333-pr"
	pr.body = giteaPR(clone, "http://fork.example/stranger/app.git", "opened", 7, "feature", "main", commit)
	r = e.deliver(pr)
	st, wid = hookStatus(t, r)
	if r.status != 202 || st != "accepted" {
		t.Fatalf("pull request: %d %s", r.status, r.body)
	}
	if res := e.waitHook(t, wid); fmt.Sprint(res.Runs) != "[ci#2]" {
		t.Fatalf("the pull request started %v (failed %q)", res.Runs, res.Failed)
	}
	prRun := owner.waitRun(runs+"ci/runs/2", ended)
	if prRun.Event != "pull_request" || prRun.Commit != commit {
		t.Errorf("the pull request's run: %+v", prRun)
	}
	if in := e.runInput(t, prRun.WorkflowID); !in.NoSecrets || in.PR != 7 || !in.Fork || in.Base != "main" {
		t.Errorf("the fork's run: no secrets %v, trigger %+v", in.NoSecrets, in.Trigger)
	}

	// A manual run of the repository's pipeline clones the repository's
	// default branch (the webhooks told it) with the token.
	var manual apiview.Run
	owner.must(201, "POST", runs+"ci/runs", nil).json(t, &manual)
	if in := e.runInput(t, manual.WorkflowID); in.Prepare == nil || in.Prepare.Repository != clone || in.Prepare.Branch != "main" ||
		in.Prepare.Auth == nil || in.Prepare.Auth.Secret != "GITEA_TOKEN" || in.NoSecrets {
		t.Errorf("the manual run's workspace: %+v", in.Prepare)
	}
	if run := owner.waitRun(runs+"ci/runs/3", ended); run.Status != buildit.RunSucceeded {
		t.Errorf("the manual run: %+v", run)
	}
}

// A tenant that holds its own webhook secret is a hostile sender. Its
// deliveries are batched with other tenants' (the route's two queries),
// and none of that crosses: each delivery is checked against its own
// repository's secret (another tenant's secret on this tenant's route is
// a 401), recorded with its own tenant, and a repository whose secret
// will not open fails only its own deliveries. What it sends is bounded:
// a huge commit message is cut, an event over the bound even cut is a
// 413 that records nothing.
func TestSecurityWebhookBatchesKeepTenantsApart(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hooks := &fakeHooks{}
	e.dispatch(t, hooks, 0)
	type side struct {
		repo   apiview.Repository
		tenant string
	}
	connectAs := func(email, org string) side {
		c := e.signup(email, org)
		slug := strings.ToLower(org)
		c.must(201, "POST", "/orgs/"+slug+"/tenants", map[string]string{"name": "web"})
		c.must(201, "PUT", "/orgs/"+slug+"/tenants/web/secrets/GITEA_TOKEN", map[string]string{"value": "tok"})
		var s side
		c.must(201, "POST", "/orgs/"+slug+"/tenants/web/repositories", map[string]any{
			"forge": "gitea", "url": "https://gitea.example/" + slug + "/app", "token_secret": "GITEA_TOKEN",
		}).json(t, &s.repo)
		if err := e.store.Pool().QueryRow(context.Background(), "SELECT tenant_id::text FROM repositories WHERE id = $1", s.repo.ID).Scan(&s.tenant); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := connectAs("a@acme.test", "Acme"), connectAs("b@evil.test", "Evil")
	sha := strings.Repeat("c", 40)
	body := giteaPush("https://gitea.example/x/app.git", "refs/heads/main", sha, sha, "change")

	// Concurrent deliveries of both, and B's signed with A's secret.
	type sent struct {
		call hookCall
		want int
	}
	var calls []sent
	for i := range 20 {
		calls = append(calls,
			sent{hookCall{forge: "gitea", repo: a.repo.ID, secret: a.repo.WebhookSecret, event: "push", delivery: fmt.Sprintf("a-%d", i), body: body}, 202},
			sent{hookCall{forge: "gitea", repo: b.repo.ID, secret: b.repo.WebhookSecret, event: "push", delivery: fmt.Sprintf("b-%d", i), body: body}, 202},
			sent{hookCall{forge: "gitea", repo: b.repo.ID, secret: a.repo.WebhookSecret, event: "push", delivery: fmt.Sprintf("x-%d", i), body: body}, 401})
	}
	deliverAll := func(calls []sent) {
		var wg sync.WaitGroup
		for _, s := range calls {
			wg.Go(func() {
				if r := e.deliver(s.call); r.status != s.want {
					t.Errorf("%s: %d %s, want %d", s.call.delivery, r.status, r.body, s.want)
				}
			})
		}
		wg.Wait()
	}
	deliverAll(calls)
	var started []triggers.EventInput
	waitFor(t, "40 starts", func() bool { started, _ = hooks.snapshot(); return len(started) >= 40 })
	for _, in := range started {
		want := map[string]string{a.repo.ID: a.tenant, b.repo.ID: b.tenant}[in.RepositoryID]
		if in.TenantID != want || strings.HasPrefix(in.Event.Delivery, "x-") {
			t.Errorf("started %s of repository %s as tenant %s", in.Event.Delivery, in.RepositoryID, in.TenantID)
		}
	}
	if len(started) != 40 {
		t.Errorf("%d starts, want 40", len(started))
	}

	// B's repository's secret no longer opens (a key lost, say): B's
	// deliveries fail, A's batched with them do not.
	if _, err := e.store.Pool().Exec(context.Background(), "UPDATE repositories SET webhook_ciphertext = '\\x00' WHERE id = $1", b.repo.ID); err != nil {
		t.Fatal(err)
	}
	calls = calls[:0]
	for i := range 20 {
		calls = append(calls,
			sent{hookCall{forge: "gitea", repo: a.repo.ID, secret: a.repo.WebhookSecret, event: "push", delivery: fmt.Sprintf("a2-%d", i), body: body}, 202},
			sent{hookCall{forge: "gitea", repo: b.repo.ID, secret: b.repo.WebhookSecret, event: "push", delivery: fmt.Sprintf("b2-%d", i), body: body}, 500})
	}
	deliverAll(calls)

	// Bounds: a 1 MiB message is cut; a 1 MiB branch name is refused.
	long := hookCall{forge: "gitea", repo: a.repo.ID, secret: a.repo.WebhookSecret, event: "push", delivery: "long",
		body: giteaPush("https://gitea.example/x/app.git", "refs/heads/main", sha, sha, strings.Repeat("m", 1<<20))}
	if r := e.deliver(long); r.status != 202 {
		t.Errorf("a long message: %d %s", r.status, r.body)
	}
	var size int
	if err := e.store.Pool().QueryRow(context.Background(), "SELECT octet_length(input::text) FROM webhook_deliveries WHERE delivery_id = 'long'").Scan(&size); err != nil || size > triggers.MaxEventInput {
		t.Errorf("the long message's recorded input: %d bytes, %v", size, err)
	}
	huge := hookCall{forge: "gitea", repo: a.repo.ID, secret: a.repo.WebhookSecret, event: "push", delivery: "huge",
		body: giteaPush("https://gitea.example/x/app.git", "refs/heads/"+strings.Repeat("b", 1<<20), sha, sha, "x")}
	if r := e.deliver(huge); r.status != 413 || r.code() != CodeTooLarge {
		t.Errorf("a huge branch: %d %s", r.status, r.body)
	}
	var n int
	if err := e.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM webhook_deliveries WHERE delivery_id = 'huge'").Scan(&n); err != nil || n != 0 {
		t.Errorf("the refused event was recorded: %d %v", n, err)
	}
}
