package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/schedules"
	"github.com/buildit-ci/buildit/triggers"
	"github.com/buildit-ci/buildit/workflows"
)

// withSchedules gives e (after withRuns) a schedules.Syncer on the
// embedded Temporal server, and the server's own worker running
// ScheduledRun, as buildit server does.
func (e *env) withSchedules(t testing.TB) *schedules.Syncer {
	t.Helper()
	sy := &schedules.Syncer{Client: e.svc.Client, TaskQueue: e.svc.TaskQueue}
	w := sdkworker.New(e.svc.Client, workflows.ServerTaskQueue(e.svc.TaskQueue), sdkworker.Options{})
	schedules.Register(w, &triggers.Deps{Store: e.store, Runs: e.svc, Client: e.svc.Client, Schedules: sy})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	e.api.cfg.Schedules = sy
	return sy
}

// setSchedules gives the stored pipeline these schedules in its plan and
// syncs them, as a push of a source with `on { schedule … }` does. (The
// plan is written here rather than through KDL so that these tests do
// not depend on the language's decoding of `on`, which is tested in
// package pipeline.)
func (e *env) setSchedules(t testing.TB, tenant, name string, scheds ...pipeline.Schedule) db.Pipeline {
	t.Helper()
	ctx := context.Background()
	p := e.pipeline(t, tenant, name)
	var plan pipeline.Plan
	if err := json.Unmarshal(p.Plan, &plan); err != nil {
		t.Fatal(err)
	}
	plan.On = &pipeline.On{Schedules: scheds}
	raw, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	p, err = e.store.Pipelines().Update(ctx, p.TenantID, db.PipelineSpec{Name: name, Source: p.Source, Plan: raw}, p.Version)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.api.cfg.Schedules.Sync(ctx, p); err != nil {
		t.Fatalf("sync: %v", err)
	}
	return p
}

// pipeline reads a stored pipeline of org acme's tenant.
func (e *env) pipeline(t testing.TB, tenant, name string) db.Pipeline {
	t.Helper()
	ctx := context.Background()
	org, err := e.store.Organizations().GetBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	tn, err := e.store.Tenants().Get(ctx, org.ID, tenant)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.store.Pipelines().Get(ctx, tn.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func describe(t testing.TB, c tclient.Client, id string) (*tclient.ScheduleDescription, error) {
	t.Helper()
	return c.ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background())
}

func scheduleGone(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// eventually polls cond for up to 20 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listed reports whether Temporal's visibility store lists the schedule:
// Sync finds the schedules to delete there.
func listed(c tclient.Client, id string) bool {
	it, err := c.ScheduleClient().List(context.Background(), tclient.ScheduleListOptions{})
	if err != nil {
		return false
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return false
		}
		if e.ID == id {
			return true
		}
	}
	return false
}

const sleepKDL = `pipeline "app"
stage "build" {
    run "sleep %d"
}
`

func TestScheduleSyncLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	sy := e.withSchedules(t)
	c := e.svc.Client
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": fmt.Sprintf(sleepKDL, 0)})

	nightly := pipeline.Schedule{Name: "nightly", Cron: "0 3 * * *", Timezone: "Europe/Berlin", Jitter: 5 * time.Minute, Branch: "main"}
	p := e.setSchedules(t, "web", "app", nightly)
	id := schedules.ID(p.TenantID, p.ID, "nightly")
	if want := "buildit/" + p.TenantID.String() + "/" + p.ID.String() + "/nightly"; id != want {
		t.Fatalf("ID %q, want %q", id, want)
	}
	d, err := describe(t, c, id)
	if err != nil {
		t.Fatalf("the schedule was not created: %v", err)
	}
	act, ok := d.Schedule.Action.(*tclient.ScheduleWorkflowAction)
	if !ok || act.Workflow != schedules.ScheduledRunWorkflow || act.TaskQueue != workflows.ServerTaskQueue(e.svc.TaskQueue) {
		t.Errorf("action %+v", d.Schedule.Action)
	}
	if d.Schedule.Spec.TimeZoneName != "Europe/Berlin" || d.Schedule.Spec.Jitter != 5*time.Minute {
		t.Errorf("spec %+v", d.Schedule.Spec)
	}
	if d.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
		t.Errorf("overlap %v, want skip", d.Schedule.Policy.Overlap)
	}
	if len(d.Info.NextActionTimes) == 0 {
		t.Fatal("no next action times")
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// Jitter moves the time by up to 5 minutes after 03:00 Berlin time.
	if n := d.Info.NextActionTimes[0].In(berlin); n.Hour() != 3 || n.Minute() > 5 {
		t.Errorf("next action at %v, want 03:00-03:05 in Berlin", n)
	}
	created := d.Info.LastUpdateAt

	// Idempotent: syncing the same plan again changes nothing.
	if err := sy.Sync(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if d, _ = describe(t, c, id); !d.Info.LastUpdateAt.Equal(created) {
		t.Errorf("a sync of the same plan updated the schedule (%v, then %v)", created, d.Info.LastUpdateAt)
	}

	// Paused through the API, with a note; listed so.
	var v apiview.Schedule
	owner.must(200, "POST", "/orgs/acme/tenants/web/pipelines/app/schedules/nightly/pause", map[string]string{"note": "holidays"}).json(t, &v)
	if !v.Paused || v.Note != "holidays" {
		t.Errorf("after pause: %+v", v)
	}
	if d, _ = describe(t, c, id); !d.Schedule.State.Paused || d.Schedule.State.Note != "holidays" {
		t.Errorf("Temporal's state after pause: %+v", d.Schedule.State)
	}

	// Editing the cron and the overlap updates it, and it stays paused.
	nightly.Cron, nightly.Overlap = "30 4 * * *", pipeline.OverlapCancelOther
	e.setSchedules(t, "web", "app", nightly)
	d, _ = describe(t, c, id)
	if d.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER {
		t.Errorf("overlap after the edit: %v", d.Schedule.Policy.Overlap)
	}
	if n := d.Info.NextActionTimes[0].In(berlin); n.Hour() != 4 || n.Minute() < 30 || n.Minute() > 35 {
		t.Errorf("next action after the edit at %v, want 04:30-04:35 in Berlin", n)
	}
	if !d.Schedule.State.Paused {
		t.Error("an update unpaused the schedule")
	}

	var list apiview.ScheduleList
	owner.must(200, "GET", "/orgs/acme/tenants/web/schedules", nil).json(t, &list)
	if len(list.Items) != 1 {
		t.Fatalf("list %+v", list)
	}
	if s := list.Items[0]; s.Pipeline != "app" || s.Name != "nightly" || s.ID != id || s.Cron != "30 4 * * *" || s.Timezone != "Europe/Berlin" ||
		s.Branch != "main" || s.Overlap != "cancel-other" || s.Jitter != "5m0s" || !s.Paused || len(s.NextRuns) == 0 || len(s.NextRuns) > 3 || s.Warning != "" {
		t.Errorf("listed %+v", s)
	}
	owner.must(200, "POST", "/orgs/acme/tenants/web/pipelines/app/schedules/nightly/resume", nil).json(t, &v)
	if v.Paused || !strings.Contains(v.Note, "owner@acme.test") {
		t.Errorf("after resume: %+v", v)
	}

	// A schedule dropped from the plan is deleted (Sync finds it through
	// Temporal's visibility store, which lists it a moment after it was
	// made).
	hourly := pipeline.Schedule{Name: "hourly", Cron: "@hourly"}
	p = e.setSchedules(t, "web", "app", nightly, hourly)
	hid := schedules.ID(p.TenantID, p.ID, "hourly")
	if _, err := describe(t, c, hid); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the hourly schedule listed", func() bool { return listed(c, hid) })
	e.setSchedules(t, "web", "app", nightly)
	if _, err := describe(t, c, hid); !scheduleGone(err) {
		t.Errorf("the dropped schedule is still there: %v", err)
	}
	if _, err := describe(t, c, id); err != nil {
		t.Errorf("the kept schedule went: %v", err)
	}

	// A push through the API of a source without schedules deletes them
	// (the API syncs after every change, and deletes what the previous
	// source had without waiting for Temporal to list it).
	var pv apiview.Pipeline
	owner.must(200, "PUT", "/orgs/acme/tenants/web/pipelines/app", map[string]string{"source": fmt.Sprintf(sleepKDL, 1)}).json(t, &pv)
	if pv.Warning != "" {
		t.Errorf("warning %q", pv.Warning)
	}
	if _, err := describe(t, c, id); !scheduleGone(err) {
		t.Errorf("PUT without schedules left the schedule: %v", err)
	}

	// Deleting the pipeline deletes its schedules.
	e.setSchedules(t, "web", "app", nightly)
	if _, err := describe(t, c, id); err != nil {
		t.Fatal(err)
	}
	owner.must(204, "DELETE", "/orgs/acme/tenants/web/pipelines/app", nil)
	if _, err := describe(t, c, id); !scheduleGone(err) {
		t.Errorf("the deleted pipeline's schedule is still there: %v", err)
	}
	// A pipeline that goes without a sync (its tenant deleted): its
	// schedule's next run finds nothing, starts nothing and removes the
	// schedule.
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": fmt.Sprintf(sleepKDL, 0)})
	p = e.setSchedules(t, "web", "app", nightly)
	id = schedules.ID(p.TenantID, p.ID, "nightly")
	if err := e.store.Pipelines().Delete(context.Background(), p.TenantID, "app"); err != nil {
		t.Fatal(err)
	}
	if err := sy.Trigger(context.Background(), p.TenantID, p.ID, "nightly"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the orphaned schedule removed", func() bool {
		_, err := describe(t, c, id)
		return scheduleGone(err)
	})
	if n, err := e.store.Runs().ListPipelineRuns(context.Background(), p.TenantID, p.ID, db.RunFilter{}, "", 10); err != nil || len(n.Items) != 0 {
		t.Errorf("the orphaned schedule started runs: %+v, %v", n.Items, err)
	}
	var audit struct{ Items []apiview.Audit }
	owner.must(200, "GET", "/orgs/acme/audit-logs", nil).json(t, &audit)
	var actions []string
	for _, a := range audit.Items {
		actions = append(actions, a.Action)
	}
	for _, want := range []string{"schedule.pause", "schedule.resume"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit log lacks %s: %v", want, actions)
		}
	}
}

// runsOf lists the runs of acme/web's pipeline app.
func runsOf(t testing.TB, c *client) []apiview.Run {
	t.Helper()
	var l struct{ Items []apiview.Run }
	c.must(200, "GET", "/orgs/acme/tenants/web/pipelines/app/runs", nil).json(t, &l)
	return l.Items
}

func TestScheduleBackfillStartsRuns(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	e.withSchedules(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": fmt.Sprintf(sleepKDL, 0)})
	// A cron that holds the three minutes the backfill covers (10 to 8
	// minutes ago), one before them (so that a month holds over 100 of its
	// times) and no minute of the next half hour: an every-minute cron
	// would also fire on its own when the test crosses a minute.
	now := time.Now().UTC().Truncate(time.Minute)
	var minutes, hours []string
	for _, at := range []time.Time{now.Add(-11 * time.Minute), now.Add(-10 * time.Minute), now.Add(-9 * time.Minute), now.Add(-8 * time.Minute)} {
		minutes = append(minutes, strconv.Itoa(at.Minute()))
		if h := strconv.Itoa(at.Hour()); !slices.Contains(hours, h) {
			hours = append(hours, h)
		}
	}
	cron := strings.Join(minutes, ",") + " " + strings.Join(hours, ",") + " * * *"
	e.setSchedules(t, "web", "app", pipeline.Schedule{Name: "backfilled", Cron: cron, Branch: "main"})
	base := "/orgs/acme/tenants/web/pipelines/app/schedules/backfilled"

	// Bounds.
	owner.must(422, "POST", base+"/backfill", map[string]any{"start": now, "end": now.Add(-time.Minute)})
	owner.must(422, "POST", base+"/backfill", map[string]any{"start": now})
	owner.must(422, "POST", base+"/backfill", map[string]any{"start": now.Add(-30 * 24 * time.Hour), "end": now})
	owner.must(422, "POST", base+"/backfill", map[string]any{"start": now.Add(-40 * 24 * time.Hour), "end": now})
	owner.must(400, "POST", base+"/backfill", `{"start": "yesterday", "end": "today"}`)
	owner.must(404, "POST", "/orgs/acme/tenants/web/pipelines/app/schedules/nope/backfill", map[string]any{"start": now.Add(-3 * time.Minute), "end": now})
	if n := len(runsOf(t, owner)); n != 0 {
		t.Fatalf("refused backfills made %d runs", n)
	}

	// Three times in the past (both ends count): three runs, one after
	// the other.
	owner.must(200, "POST", base+"/backfill", map[string]any{"start": now.Add(-10 * time.Minute), "end": now.Add(-8 * time.Minute)})
	eventually(t, "three ended runs", func() bool {
		runs := runsOf(t, owner)
		return len(runs) == 3 && !slices.ContainsFunc(runs, func(r apiview.Run) bool { return !r.Ended() })
	})
	for _, r := range runsOf(t, owner) {
		if r.Event != buildit.EventSchedule || r.Trigger != "schedule" || r.Actor != "schedule backfilled" || r.Branch != "main" || r.Status != buildit.RunSucceeded {
			t.Errorf("run %d: %+v", r.Number, r)
		}
	}
	// No more come (the range held three times).
	time.Sleep(time.Second)
	if n := len(runsOf(t, owner)); n != 3 {
		t.Errorf("%d runs, want 3", n)
	}
	var list apiview.ScheduleList
	owner.must(200, "GET", "/orgs/acme/tenants/web/schedules", nil).json(t, &list)
	if len(list.Items) != 1 || len(list.Items[0].RecentRuns) != 3 {
		t.Errorf("list %+v", list)
	}
}

func TestScheduleOverlap(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	e.withSchedules(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": fmt.Sprintf(sleepKDL, 60)})
	base := "/orgs/acme/tenants/web/pipelines/app/schedules/s"
	running := func(n int) func() bool {
		return func() bool {
			runs := runsOf(t, owner)
			return len(runs) >= n && slices.ContainsFunc(runs, func(r apiview.Run) bool { return r.Number == int64(n) && r.Status == buildit.RunRunning })
		}
	}

	// skip: a trigger while the run runs starts nothing.
	e.setSchedules(t, "web", "app", pipeline.Schedule{Name: "s", Cron: "0 3 * * *", Overlap: pipeline.OverlapSkip})
	owner.must(200, "POST", base+"/trigger", nil)
	eventually(t, "run 1 running", running(1))
	owner.must(200, "POST", base+"/trigger", nil)
	time.Sleep(2 * time.Second)
	if runs := runsOf(t, owner); len(runs) != 1 {
		t.Fatalf("skip: %d runs, want 1", len(runs))
	}

	// cancel-other: a trigger cancels the running run and starts another.
	e.setSchedules(t, "web", "app", pipeline.Schedule{Name: "s", Cron: "0 3 * * *", Overlap: pipeline.OverlapCancelOther})
	owner.must(200, "POST", base+"/trigger", nil)
	eventually(t, "run 2 running", running(2))
	r1 := owner.waitRun("/orgs/acme/tenants/web/pipelines/app/runs/1", ended)
	if r1.Status != buildit.RunCancelled {
		t.Errorf("run 1 is %s, want cancelled", r1.Status)
	}
	if n := len(runsOf(t, owner)); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
	owner.must(202, "POST", "/orgs/acme/tenants/web/pipelines/app/runs/2/cancel", nil)
}

func TestScheduleRoutesIsolationAndScopes(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	e.withSchedules(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "ops"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": fmt.Sprintf(sleepKDL, 0)})
	e.setSchedules(t, "web", "app", pipeline.Schedule{Name: "nightly", Cron: "0 3 * * *"})

	// Another tenant's key reaches nothing of web's.
	opsKey := e.withKey(owner.apiKey("acme", map[string]any{"name": "ops", "scopes": []string{ScopeRunsWrite, ScopeRunsRead}, "tenant": "ops"}))
	opsKey.must(404, "POST", "/orgs/acme/tenants/ops/pipelines/app/schedules/nightly/pause", nil)
	var list apiview.ScheduleList
	opsKey.must(200, "GET", "/orgs/acme/tenants/ops/schedules", nil).json(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("ops lists %+v", list)
	}
	if r := opsKey.do("POST", "/orgs/acme/tenants/web/pipelines/app/schedules/nightly/pause", nil); r.status != 404 && r.status != 403 {
		t.Errorf("ops key on web: %d", r.status)
	}
	// Another organization's user: 404.
	other := e.signup("eve@evil.test", "Evil")
	other.must(404, "POST", "/orgs/acme/tenants/web/pipelines/app/schedules/nightly/trigger", nil)

	// Scopes: reading is runs:read, steering runs:write.
	reader := e.withKey(owner.apiKey("acme", map[string]any{"name": "reader", "scopes": []string{ScopeRunsRead}, "tenant": "web"}))
	reader.must(200, "GET", "/orgs/acme/tenants/web/schedules", nil)
	reader.must(403, "POST", "/orgs/acme/tenants/web/pipelines/app/schedules/nightly/pause", nil)
	reader.must(403, "POST", "/orgs/acme/tenants/web/pipelines/app/schedules/nightly/trigger", nil)
	if d, _ := describe(t, e.svc.Client, schedules.ID(e.pipeline(t, "web", "app").TenantID, e.pipeline(t, "web", "app").ID, "nightly")); d == nil || d.Schedule.State.Paused {
		t.Error("a refused pause paused the schedule")
	}
	// Bad bodies are 4xx.
	owner.must(400, "POST", "/orgs/acme/tenants/web/pipelines/app/schedules/nightly/pause", `{"note": 5}`)
	owner.must(422, "POST", "/orgs/acme/tenants/web/pipelines/app/schedules/nightly/pause", map[string]string{"note": strings.Repeat("x", 501)})
}

func TestCountFirings(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		sc   pipeline.Schedule
		end  time.Duration
		want int
	}{
		// Both ends count, as in a Temporal backfill.
		{pipeline.Schedule{Cron: "* * * * *"}, 3 * time.Minute, 4},
		{pipeline.Schedule{Cron: "@hourly"}, 24*time.Hour - time.Second, 24},
		{pipeline.Schedule{Cron: "0 3 * * *"}, 48 * time.Hour, 2},
		// Berlin moves to summer time on 29 March 2026: 02:30 does not
		// happen that day.
		{pipeline.Schedule{Cron: "30 2 * * *", Timezone: "Europe/Berlin"}, 72 * time.Hour, 2},
		{pipeline.Schedule{Cron: "* * * * *"}, 1000 * time.Minute, 101},
	} {
		n, err := schedules.CountFirings(c.sc, start, start.Add(c.end), 101)
		if err != nil || n != c.want {
			t.Errorf("%+v over %s: %d, %v; want %d", c.sc, c.end, n, err, c.want)
		}
	}
	if _, err := schedules.CountFirings(pipeline.Schedule{Cron: "61 * * * *"}, start, start.Add(time.Hour), 10); err == nil {
		t.Error("a bad cron counted")
	}
}

// TestSchedulesFromKDL pushes a pipeline whose source has `on { schedule
// … }` through the API: the language's decoding and the API's sync end
// to end.
func TestSchedulesFromKDL(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	e.withSchedules(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	src := `pipeline "app"
inputs {
    environment type="choice" default="staging" { values "staging" "production"; }
}
on {
    manual
    schedule "0 3 * * *" name="nightly" branch="main" timezone="Europe/Berlin" overlap="cancel-other" {
        inputs environment="production"
    }
}
stage "build" {
    run "echo deploying to ${inputs.environment}"
}
`
	var pv apiview.Pipeline
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": src}).json(t, &pv)
	if pv.Warning != "" {
		t.Errorf("warning %q", pv.Warning)
	}
	p := e.pipeline(t, "web", "app")
	d, err := describe(t, e.svc.Client, schedules.ID(p.TenantID, p.ID, "nightly"))
	if err != nil {
		t.Fatalf("the schedule was not created: %v", err)
	}
	if d.Schedule.Spec.TimeZoneName != "Europe/Berlin" || d.Schedule.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER {
		t.Errorf("schedule %+v %+v", d.Schedule.Spec, d.Schedule.Policy)
	}
	owner.must(200, "POST", "/orgs/acme/tenants/web/pipelines/app/schedules/nightly/trigger", nil)
	eventually(t, "a scheduled run", func() bool { return len(runsOf(t, owner)) == 1 })
	r := owner.waitRun("/orgs/acme/tenants/web/pipelines/app/runs/1", ended)
	if r.Event != "schedule" || r.Branch != "main" || r.Status != "succeeded" {
		t.Errorf("run %+v", r)
	}
	var logs apiview.Logs
	owner.must(200, "GET", "/orgs/acme/tenants/web/pipelines/app/runs/1/logs?stage=build", nil).json(t, &logs)
	if len(logs.Lines) == 0 || logs.Lines[0].Line != "deploying to production" {
		t.Errorf("logs %+v: want the schedule's input", logs.Lines)
	}
}
