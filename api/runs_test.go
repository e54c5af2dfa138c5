package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/deploy/backends"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/executor/executortest"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/internal/gittest"
	"github.com/buildit-ci/buildit/internal/temporaltest"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/worker"
	"github.com/buildit-ci/buildit/workerstore"
)

type discardSink struct{}

func (discardSink) WriteLine(string, executor.Stream, string) {}

// withRuns gives e a runclient.Service on the embedded Temporal server and a
// worker (shared and host queue) that records runs and stores logs in e's
// database, as `buildit worker` does. Both allow host stages, as a
// single-tenant server started with --allow-host-stages.
func (e *env) withRuns(t testing.TB) *env {
	t.Helper()
	return e.withRunsAnd(t, nil)
}

// withRunsAnd is withRuns with the worker's activities changed by change,
// when not nil, before the workers start.
func (e *env) withRunsAnd(t testing.TB, change func(*activities.Activities)) *env {
	t.Helper()
	te := temporaltest.Start(t, temporaltest.Options{})
	acts := activities.New(activities.Shared{Sink: discardSink{}})
	acts.Stages.Host, acts.Stages.AllowHostStages = host.New(host.Options{}), true
	acts.Server.WorkRoot, acts.Server.HostQueue = executortest.ReachableDir(t), worker.HostQueue(te.TaskQueue, "h1")
	acts.Deploys.Backends = backends.For
	workerstore.WorkerActivities(acts, e.store, slog.New(slog.DiscardHandler))
	if change != nil {
		change(acts)
	}
	e.acts = acts
	te.Serve(t, acts, true)
	notifier := db.NewLogNotifier(e.store.Pool(), nil)
	nctx, stopNotifier := context.WithCancel(context.Background())
	notified := make(chan struct{})
	go func() { notifier.Run(nctx); close(notified) }()
	t.Cleanup(func() { stopNotifier(); <-notified })
	e.api.cfg.Logs = notifier
	e.svc = &runclient.Service{
		Store: e.store, Client: te.Client, Namespace: te.Server.Namespace(), TaskQueue: te.TaskQueue,
		SearchAttributes: true, UIURL: "http://ui.test:8233",
		HostQueueTimeout: 10 * time.Second,
		AllowHostStages:  true,
	}
	e.api.cfg.Runs = e.svc
	return e
}

// waitRun polls a run until done says so, and returns it.
func (c *client) waitRun(path string, done func(apiview.Run) bool) apiview.Run {
	c.e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var v apiview.Run
		c.must(200, "GET", path, nil).json(c.e.t, &v)
		if done(v) {
			return v
		}
		if time.Now().After(deadline) {
			c.e.t.Fatalf("GET %s: still %s: %+v", path, v.Status, v.Stages)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bigEnv is a trigger env of n variables of size bytes each.
func bigEnv(n, size int) map[string]string {
	env := map[string]string{}
	for i := range n {
		env[fmt.Sprintf("V%d", i)] = strings.Repeat("x", size)
	}
	return env
}

func ended(v apiview.Run) bool { return v.Status.Terminal() }

func stageOf(v apiview.Run, id string) apiview.Stage {
	for _, s := range v.Stages {
		if s.ID == id {
			return s
		}
	}
	return apiview.Stage{}
}

func stageIs(id string, st buildit.StageStatus) func(apiview.Run) bool {
	return func(v apiview.Run) bool { return stageOf(v, id).Status == st }
}

const flowKDL = `pipeline "app"
stage "build" {
    run "echo building for $GREETING" "echo warning >&2"
}
stage "test" needs="build" {
    run "echo testing; test \"$GREETING\" = hi"
}
`

func TestRunThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": flowKDL})
	base := "/orgs/acme/tenants/web/pipelines/app/runs"

	var started apiview.Run
	r := owner.must(201, "POST", base, map[string]any{"branch": "main", "commit": "abc123", "env": map[string]string{"GREETING": "hi"}})
	r.json(t, &started)
	if started.Number != 1 || started.Status != buildit.RunQueued || started.Branch != "main" || started.Actor != "owner@acme.test" || started.Trigger != "api" {
		t.Errorf("started run %+v", started)
	}
	if loc := r.header.Get("Location"); loc != "/api/v1"+base+"/1" {
		t.Errorf("Location %q", loc)
	}
	if !strings.HasPrefix(started.WorkflowID, "run/") || !strings.HasSuffix(started.WorkflowID, "/1") {
		t.Errorf("workflow ID %q: want run/<tenant>/<pipeline>/1", started.WorkflowID)
	}
	if !strings.HasPrefix(started.TemporalURL, "http://ui.test:8233/namespaces/") || !strings.Contains(started.TemporalURL, "WorkflowId") {
		t.Errorf("temporal_url %q", started.TemporalURL)
	}

	done := owner.waitRun(base+"/1", ended)
	if done.Status != buildit.RunSucceeded || done.StartedAt == nil || done.EndedAt == nil || done.Error != "" {
		t.Fatalf("run ended %s (%s): %+v", done.Status, done.Error, done.Stages)
	}
	if len(done.Stages) != 2 {
		t.Fatalf("stages %+v", done.Stages)
	}
	for _, id := range []string{"build", "test"} {
		s := stageOf(done, id)
		if s.Status != buildit.StageSucceeded || s.Attempt != 1 || s.ExitCode == nil || *s.ExitCode != 0 || s.StartedAt == nil || s.EndedAt == nil || s.DurationMS == nil {
			t.Errorf("stage %s: %+v", id, s)
		}
	}
	if b, tt := stageOf(done, "build"), stageOf(done, "test"); tt.StartedAt.Before(*b.EndedAt) {
		t.Errorf("test started %v before build ended %v", tt.StartedAt, b.EndedAt)
	}

	// The run can be found in Temporal by its search attributes.
	desc, err := e.svc.Client.DescribeWorkflowExecution(context.Background(), done.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{}
	for name, p := range desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields() {
		var v string
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
		attrs[name] = v
	}
	want := map[string]string{"BuilditTenant": "acme/web", "BuilditPipeline": "app", "BuilditStatus": "succeeded", "BuilditTrigger": "api", "BuilditActor": "owner@acme.test"}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("search attribute %s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
		}
	}

	// The stored log, in order, with streams.
	var logs apiview.Logs
	owner.must(200, "GET", base+"/1/logs?stage=build", nil).json(t, &logs)
	var got []string
	for _, l := range logs.Lines {
		got = append(got, l.Stream+":"+l.Line)
	}
	// stdout and stderr are two pipes: their lines keep their order within
	// a stream only.
	slices.Sort(got)
	if want := []string{"stderr:warning", "stdout:building for hi"}; !slices.Equal(got, want) || !logs.Ended || logs.Attempt != 1 {
		t.Errorf("logs %+v, want lines %v", logs, want)
	}
	second := logs.Lines[1]
	owner.must(200, "GET", fmt.Sprintf("%s/1/logs?stage=build&after=%d", base, logs.Lines[0].Seq), nil).json(t, &logs)
	if len(logs.Lines) != 1 || logs.Lines[0] != second {
		t.Errorf("logs after the first line: %+v", logs.Lines)
	}
	// Following an ended stage's log sends its lines and the end.
	events := follow(t, e, owner, base+"/1/logs?stage=test&follow=1")
	if len(events) != 2 || events[0] != `line:testing` || !strings.HasPrefix(events[1], `end:{"attempt":1`) || !strings.Contains(events[1], `"status":"succeeded"`) {
		t.Errorf("followed events %q", events)
	}

	// Lists and filters.
	var l apiview.List[apiview.Run]
	owner.must(200, "GET", base+"?status=succeeded", nil).json(t, &l)
	if len(l.Items) != 1 || l.Items[0].Number != 1 {
		t.Errorf("succeeded runs %+v", l.Items)
	}
	owner.must(200, "GET", base+"?branch=dev", nil).json(t, &l)
	if len(l.Items) != 0 {
		t.Errorf("runs of dev %+v", l.Items)
	}
	for _, bad := range []string{"?status=exploded", "?limit=x"} {
		if r := owner.do("GET", base+bad, nil); r.status != 422 && r.status != 400 {
			t.Errorf("GET runs%s: %d", bad, r.status)
		}
	}
	for _, missing := range []string{base + "/2", base + "/0", base + "/x", base + "/1/logs?stage=nope", "/orgs/acme/tenants/web/pipelines/nope/runs"} {
		if r := owner.do("GET", missing, nil); r.status != 404 {
			t.Errorf("GET %s: %d %s", missing, r.status, r.body)
		}
	}
	if r := owner.do("GET", base+"/1/logs", nil); r.status != 422 {
		t.Errorf("logs without a stage: %d", r.status)
	}
	// Bad trigger values are 422s.
	for _, body := range []map[string]any{
		{"commit": "not hex"}, {"env": map[string]string{"1X": "v"}}, {"env": map[string]string{"BUILDIT_RUN": "v"}},
		{"branch": "a\nb"}, {"repository": "--upload-pack=evil"}, {"env": bigEnv(9, 30<<10)},
	} {
		if r := owner.do("POST", base, body); r.status != 422 {
			t.Errorf("trigger %v: %d %s", body, r.status, r.body)
		}
	}
	// The start is audited.
	var audit apiview.List[apiview.Audit]
	owner.must(200, "GET", "/orgs/acme/audit-logs?action=run.start", nil).json(t, &audit)
	if len(audit.Items) != 1 {
		t.Errorf("run.start audit entries: %+v", audit.Items)
	}
}

// follow reads a server-sent event stream to its end and returns its
// events as "event:data" (a line event's data is its line).
func follow(t *testing.T, e *env, c *client, path string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1"+path, nil)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("follow %s: %d %s", path, res.StatusCode, b)
	}
	lineRE := regexp.MustCompile(`"line":"((?:[^"\\]|\\.)*)"`)
	var out []string
	events := apiview.NewEventReader(res.Body)
	for {
		ev, err := events.Next()
		if err != nil {
			break
		}
		data := ev.Data
		if ev.Name == apiview.EventLine {
			if m := lineRE.FindStringSubmatch(data); m != nil {
				data = m[1]
			}
		}
		out = append(out, ev.Name+":"+data)
	}
	return out
}

const slowKDL = "pipeline \"slow\"\nstage \"wait\" { run \"echo waiting\" \"sleep 30\"; }\n"

func TestFollowCancelAndPlanLimit(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme") // the free plan: 2 runs at once
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "slow", "source": slowKDL})
	base := "/orgs/acme/tenants/web/pipelines/slow/runs"

	owner.must(201, "POST", base, nil)
	owner.must(201, "POST", base, nil)
	if r := owner.do("POST", base, nil); r.status != 403 || r.code() != CodePlanLimit {
		t.Errorf("a third run on the free plan: %d %s", r.status, r.body)
	}

	// Follow run 1 live: its first line comes while it runs; the cancel
	// ends the stream.
	owner.waitRun(base+"/1", stageIs("wait", buildit.StageRunning))
	if r := owner.do("POST", base+"/1/rerun", nil); r.status != 409 || !strings.Contains(string(r.body), "still in progress") {
		t.Errorf("rerun of a run in progress: %d %s", r.status, r.body)
	}
	got := make(chan []string)
	go func() { got <- follow(t, e, owner, base+"/1/logs?stage=wait&follow=1") }()
	time.Sleep(300 * time.Millisecond)
	owner.must(202, "POST", base+"/1/cancel", nil)
	events := <-got
	if len(events) != 2 || events[0] != "line:waiting" || !strings.Contains(events[1], `"status":"cancelled"`) {
		t.Errorf("followed events %q", events)
	}
	cancelled := owner.waitRun(base+"/1", ended)
	if cancelled.Status != buildit.RunCancelled || cancelled.Error != "run cancelled" || stageOf(cancelled, "wait").Status != buildit.StageCancelled {
		t.Errorf("cancelled run %+v", cancelled)
	}
	if r := owner.do("POST", base+"/1/cancel", nil); r.status != 409 {
		t.Errorf("cancel of an ended run: %d", r.status)
	}
	// Room for one more run now.
	owner.must(201, "POST", base, nil)
	owner.must(202, "POST", base+"/2/cancel", nil)
	owner.must(202, "POST", base+"/3/cancel", nil)
	owner.waitRun(base+"/3", ended)
}

const gateKDL = `pipeline "gated"
stage "build" { run "echo built"; }
stage "gate" needs="build" {
    approval { approvers "owner" "lead@acme.test"; }
}
stage "ship" needs="gate" { run "echo shipped"; }
`

func TestApproveAndReject(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "gated", "source": gateKDL})
	dev := e.signup("dev@acme.test", "Dev home")
	owner.must(201, "POST", "/orgs/acme/members", map[string]string{"email": "dev@acme.test"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/members", map[string]string{"email": "dev@acme.test", "role": "member"})
	base := "/orgs/acme/tenants/web/pipelines/gated/runs"

	owner.must(201, "POST", base, nil)
	owner.waitRun(base+"/1", stageIs("gate", buildit.StageWaiting))
	if v := owner.waitRun(base+"/1", func(v apiview.Run) bool { return v.Status == buildit.RunWaiting }); v.Status != buildit.RunWaiting {
		t.Errorf("run waiting at the gate is %s", v.Status)
	}
	// dev may run the pipeline but is not an approver.
	if r := dev.do("POST", base+"/1/stages/gate/approve", nil); r.status != 403 {
		t.Errorf("approve by a non-approver: %d %s", r.status, r.body)
	}
	if r := owner.do("POST", base+"/1/stages/build/approve", nil); r.status != 404 {
		t.Errorf("approve of a stage that is no gate: %d %s", r.status, r.body)
	}
	var decided map[string]any
	owner.must(200, "POST", base+"/1/stages/gate/approve", map[string]string{"reason": "looks good"}).json(t, &decided)
	if decided["status"] != "succeeded" || decided["decided_by"] != "owner@acme.test" || decided["reason"] != "looks good" {
		t.Errorf("approve answered %v", decided)
	}
	if r := owner.do("POST", base+"/1/stages/gate/approve", nil); r.status != 409 {
		t.Errorf("a second approve: %d %s", r.status, r.body)
	}
	if done := owner.waitRun(base+"/1", ended); done.Status != buildit.RunSucceeded || stageOf(done, "ship").Status != buildit.StageSucceeded {
		t.Errorf("approved run %+v", done)
	}

	owner.must(201, "POST", base, nil)
	owner.waitRun(base+"/2", stageIs("gate", buildit.StageWaiting))
	owner.must(200, "POST", base+"/2/stages/gate/reject", map[string]string{"reason": "not today"})
	done := owner.waitRun(base+"/2", ended)
	if done.Status != buildit.RunFailed || stageOf(done, "ship").Status != buildit.StageSkipped ||
		!strings.Contains(stageOf(done, "gate").Error, "rejected by owner@acme.test: not today") {
		t.Errorf("rejected run %+v", done)
	}
	var audit apiview.List[apiview.Audit]
	owner.must(200, "GET", "/orgs/acme/audit-logs?action=run.reject", nil).json(t, &audit)
	if len(audit.Items) != 1 {
		t.Errorf("run.reject audit entries %+v", audit.Items)
	}
}

// The first run's test stage fails only once lint has ended, so that
// fail-fast never cancels lint on a loaded machine (lint must have
// succeeded to be reused).
func TestRerunFailedReusesWhatNothingRerunNeeds(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	flag := filepath.Join(t.TempDir(), "fixed")
	src := fmt.Sprintf(`pipeline "ci"
stage "lint" { run "echo linted" "touch linted"; }
stage "build" { run "echo built"; }
stage "test" needs="build" { run "if [ ! -f %s ]; then until [ -f linted ]; do sleep 0.05; done; sleep 1; exit 1; fi"; }
`, flag)
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "ci", "source": src})
	base := "/orgs/acme/tenants/web/pipelines/ci/runs"

	owner.must(201, "POST", base, map[string]any{"branch": "main", "env": map[string]string{"K": "v"}})
	first := owner.waitRun(base+"/1", ended)
	if first.Status != buildit.RunFailed || first.Error != "pipeline failed: test" {
		t.Fatalf("first run %s %q", first.Status, first.Error)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var rerun apiview.Run
	owner.must(201, "POST", base+"/1/rerun?failed=true", nil).json(t, &rerun)
	if rerun.RerunOf == nil || *rerun.RerunOf != 1 || !slices.Equal(rerun.Reused, []string{"lint"}) || rerun.Branch != "main" || rerun.Env["K"] != "v" || rerun.Trigger != "rerun" {
		t.Errorf("rerun %+v", rerun)
	}
	done := owner.waitRun(fmt.Sprintf("%s/%d", base, rerun.Number), ended)
	if done.Status != buildit.RunSucceeded {
		t.Fatalf("rerun %s: %+v", done.Status, done.Stages)
	}
	var logs apiview.Logs
	owner.must(200, "GET", fmt.Sprintf("%s/%d/logs?stage=lint", base, rerun.Number), nil).json(t, &logs)
	if len(logs.Lines) != 0 {
		t.Errorf("the reused stage ran again: %+v", logs.Lines)
	}
	owner.must(200, "GET", fmt.Sprintf("%s/%d/logs?stage=build", base, rerun.Number), nil).json(t, &logs)
	if len(logs.Lines) != 1 {
		t.Errorf("build, needed by test, must run again: %+v", logs.Lines)
	}
	if r := owner.do("POST", fmt.Sprintf("%s/%d/rerun?failed=true", base, rerun.Number), nil); r.status != 409 {
		t.Errorf("rerun failed of a run that succeeded: %d", r.status)
	}
	if r := owner.do("POST", base+"/1/rerun?failed=maybe", nil); r.status != 422 {
		t.Errorf("failed=maybe: %d", r.status)
	}
}

func TestConcurrencyGroups(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	ctx := context.Background()
	org, _ := e.store.Organizations().GetBySlug(ctx, "acme")
	pro := db.PlanPro
	if _, err := e.store.Organizations().Update(ctx, org.ID, db.OrganizationPatch{Plan: &pro}); err != nil {
		t.Fatal(err)
	}
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "deploy",
		"source": "pipeline \"deploy\"\nconcurrency group=\"prod\" cancel-in-progress=#true\nstage \"go\" { run \"sleep 30\"; }\n"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "queue",
		"source": "pipeline \"queue\"\nconcurrency group=\"one-at-a-time\"\nstage \"go\" { run \"sleep 1\"; }\n"})

	// cancel-in-progress: the newer run cancels the older.
	d := "/orgs/acme/tenants/web/pipelines/deploy/runs"
	owner.must(201, "POST", d, nil)
	owner.waitRun(d+"/1", stageIs("go", buildit.StageRunning))
	owner.must(201, "POST", d, nil)
	if first := owner.waitRun(d+"/1", ended); first.Status != buildit.RunCancelled {
		t.Errorf("superseded run %s", first.Status)
	}
	owner.waitRun(d+"/2", stageIs("go", buildit.StageRunning))
	owner.must(202, "POST", d+"/2/cancel", nil)

	// A queue: the second run waits, queued, for the first to end.
	q := "/orgs/acme/tenants/web/pipelines/queue/runs"
	owner.must(201, "POST", q, nil)
	owner.waitRun(q+"/1", stageIs("go", buildit.StageRunning))
	owner.must(201, "POST", q, nil)
	time.Sleep(300 * time.Millisecond)
	var second apiview.Run
	owner.must(200, "GET", q+"/2", nil).json(t, &second)
	if second.Status != buildit.RunQueued || stageOf(second, "go").Status != buildit.StagePending {
		t.Errorf("queued run is %s, stage %+v", second.Status, stageOf(second, "go"))
	}
	first := owner.waitRun(q+"/1", ended)
	second = owner.waitRun(q+"/2", ended)
	if first.Status != buildit.RunSucceeded || second.Status != buildit.RunSucceeded {
		t.Fatalf("queued runs ended %s and %s", first.Status, second.Status)
	}
	if s1, s2 := stageOf(first, "go"), stageOf(second, "go"); s2.StartedAt.Before(*s1.EndedAt) {
		t.Errorf("the queued run started %v, before the first ended %v", s2.StartedAt, s1.EndedAt)
	}
}

func TestRunRoutesWithoutTemporal(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "hello", "source": helloKDL})
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/orgs/acme/tenants/web/pipelines/hello/runs", nil)
	req.Header.Set("Content-Type", "application/json") // with the session cookie, even without a body
	res, err := owner.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 503 || !strings.Contains(string(b), `"unavailable"`) {
		t.Errorf("trigger without Temporal: %d %s", res.StatusCode, b)
	}
	// Reads do not need Temporal.
	owner.must(200, "GET", "/orgs/acme/tenants/web/pipelines/hello/runs", nil)
}

// A run's stages get the tenant's secrets from Postgres, masked in the
// stored log, and run in a checkout of the trigger's repository.
func TestRunWithSecretsAndRepository(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	const secret = "s3cr3t-value-not-for-logs"
	owner.must(201, "PUT", "/orgs/acme/tenants/web/secrets/DEPLOY_TOKEN", map[string]string{"value": secret})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": `pipeline "app"
stage "use" {
    secrets "DEPLOY_TOKEN"
    run "echo token=$DEPLOY_TOKEN" "cat version"
}
`})
	// A repository with one commit whose file "version" says 7, served
	// over HTTP (which server and worker allow here, as for a mirror).
	root := t.TempDir()
	commit := gittest.Repo(t, root, "app", map[string]string{"version": "7\n"})
	repo := gittest.Serve(t, root) + "/app"
	e.svc.Repositories.AllowHTTP = true
	e.acts.Server.Clone.Repositories.AllowHTTP = true

	base := "/orgs/acme/tenants/web/pipelines/app/runs"
	owner.must(201, "POST", base, map[string]any{"repository": repo, "commit": commit})
	done := owner.waitRun(base+"/1", ended)
	if done.Status != buildit.RunSucceeded {
		t.Fatalf("run %s: %+v", done.Status, done.Stages)
	}
	var logs apiview.Logs
	owner.must(200, "GET", base+"/1/logs?stage=use", nil).json(t, &logs)
	var got []string
	for _, l := range logs.Lines {
		got = append(got, l.Line)
	}
	if want := []string{"token=***", "7"}; !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
	var n int
	if err := e.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM stage_logs WHERE line LIKE '%' || $1 || '%'", secret).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d stored log lines hold the secret (%v)", n, err)
	}
	if strings.Contains(e.logs.String(), secret) || strings.Contains(e.seen.String(), secret) {
		t.Error("the secret's value is in the server's log or an answer")
	}

	// A stage naming a secret the tenant has not set fails, saying which.
	owner.must(200, "PUT", "/orgs/acme/tenants/web/pipelines/app", map[string]string{"source": "pipeline \"app\"\nstage \"use\" { secrets \"NOPE\"; run \"true\"; }\n"})
	owner.must(201, "POST", base, nil)
	if r := owner.waitRun(base+"/2", ended); r.Status != buildit.RunFailed || stageOf(r, "use").Error != "secrets not provided: NOPE" {
		t.Errorf("run with a missing secret: %s %+v", r.Status, r.Stages)
	}
	// The reason is in the stage's log too, where people look.
	owner.must(200, "GET", base+"/2/logs?stage=use", nil).json(t, &logs)
	if len(logs.Lines) != 1 || logs.Lines[0].Line != "buildit: secrets not provided: NOPE" || logs.Lines[0].Stream != "stderr" {
		t.Errorf("log of a stage with a missing secret: %+v", logs.Lines)
	}
}

// The plan's limit on runs in progress holds when triggers race: the count
// and the insert happen under the organization's lock.
func TestPlanLimitHoldsUnderConcurrentTriggers(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme") // free: 2 runs at once
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "slow", "source": slowKDL})
	base := "/orgs/acme/tenants/web/pipelines/slow/runs"
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for range 8 {
		wg.Go(func() { codes <- owner.do("POST", base, nil).status })
	}
	wg.Wait()
	close(codes)
	started, refused := 0, 0
	for c := range codes {
		switch c {
		case 201:
			started++
		case 403:
			refused++
		}
	}
	if started != 2 || refused != 6 {
		t.Errorf("8 triggers at once on the free plan: %d started, %d refused; want 2 and 6", started, refused)
	}
	var l apiview.List[apiview.Run]
	owner.must(200, "GET", base, nil).json(t, &l)
	for _, r := range l.Items {
		owner.do("POST", fmt.Sprintf("%s/%d/cancel", base, r.Number), nil)
	}
}
