package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
)

// Two tenants hold rows of the same names; each read, change or delete
// through the wrong tenant's id finds nothing and changes nothing.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	a, b := mkTenant(t, s, o.ID), mkTenant(t, s, o.ID)
	pl, runRepo, logRepo, dep, ten := s.Pipelines(), s.Runs(), s.Logs(), s.Deployments(), s.Tenants()

	type rows struct {
		pipeline db.Pipeline
		run      db.Run
		service  db.Service
		env      db.Environment
		deploy   db.Deployment
	}
	fill := func(tn db.Tenant) rows {
		var r rows
		r.pipeline = mkPipeline(t, s, tn.ID, "app")
		r.run = must[db.Run](t)(runRepo.CreateRun(ctx, tn.ID, r.pipeline.ID, db.NewRun{}))
		must[db.StageRun](t)(runRepo.PutStageRun(ctx, tn.ID, db.StageRun{RunID: r.run.ID, StageID: "build", Attempt: 1, Status: buildit.StageRunning}))
		if err := logRepo.AppendLogs(ctx, tn.ID, r.run.ID, "build", 1, []db.LogLine{{Seq: 1, Line: tn.Slug, At: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		must[db.SecretMeta](t)(ten.PutSecret(ctx, tn.ID, "TOKEN", "value of "+tn.Slug))
		must[db.Target](t)(dep.PutTarget(ctx, tn.ID, db.TargetSpec{Name: "prod", Kind: pipeline.TargetFly}))
		r.env = must[db.Environment](t)(dep.PutEnvironment(ctx, tn.ID, "production", db.Protection{}))
		r.service = must[db.Service](t)(dep.PutService(ctx, tn.ID, "api", json.RawMessage(`{}`)))
		r.deploy = must[db.Deployment](t)(dep.Create(ctx, tn.ID, db.NewDeployment{ServiceID: r.service.ID, EnvironmentID: r.env.ID, Image: "api"}))
		return r
	}
	ra, rb := fill(a), fill(b)
	if ra.pipeline.ID == rb.pipeline.ID || ra.run.Number != 1 || rb.run.Number != 1 {
		t.Fatal("same-named rows of two tenants are not distinct")
	}

	// Reads through b of a's ids.
	notFound := map[string]error{}
	_, notFound["GetByID pipeline"] = pl.GetByID(ctx, b.ID, ra.pipeline.ID)
	_, notFound["GetRun"] = runRepo.GetRun(ctx, b.ID, ra.run.ID)
	_, notFound["GetRunByNumber"] = runRepo.GetRunByNumber(ctx, b.ID, ra.pipeline.ID, 1)
	_, notFound["SetRunStatus"] = runRepo.SetRunStatus(ctx, b.ID, ra.run.ID, buildit.RunFailed)
	_, notFound["SetRunWorkflowID"] = runRepo.SetRunWorkflowID(ctx, b.ID, ra.run.ID, "x")
	_, notFound["CreateRun"] = runRepo.CreateRun(ctx, b.ID, ra.pipeline.ID, db.NewRun{})
	_, notFound["PutStageRun"] = runRepo.PutStageRun(ctx, b.ID, db.StageRun{RunID: ra.run.ID, StageID: "build", Attempt: 1, Status: buildit.StageFailed})
	_, notFound["Get deployment"] = dep.Get(ctx, b.ID, ra.deploy.ID)
	_, notFound["SetStatus deployment"] = dep.SetStatus(ctx, b.ID, ra.deploy.ID, buildit.DeployFailed)
	_, notFound["Create deployment"] = dep.Create(ctx, b.ID, db.NewDeployment{ServiceID: ra.service.ID, EnvironmentID: rb.env.ID, Image: "x"})
	for op, err := range notFound {
		if !errors.Is(err, db.ErrNotFound) {
			t.Errorf("%s through another tenant: %v, want ErrNotFound", op, err)
		}
	}
	if err := logRepo.AppendLogs(ctx, b.ID, ra.run.ID, "build", 1, []db.LogLine{{Seq: 2, Line: "x", At: time.Now()}}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("AppendLogs through another tenant: %v", err)
	}
	if got := must[[]db.LogLine](t)(logRepo.ReadLogs(ctx, b.ID, ra.run.ID, "build", 1, 0, 10)); len(got) != 0 {
		t.Errorf("ReadLogs through another tenant: %v", got)
	}
	if got := must[[]db.StageRun](t)(runRepo.ListStageRuns(ctx, b.ID, ra.run.ID)); len(got) != 0 {
		t.Errorf("ListStageRuns through another tenant: %v", got)
	}
	if got := must[db.Page[db.Run]](t)(runRepo.ListPipelineRuns(ctx, b.ID, ra.pipeline.ID, db.RunFilter{}, "", 0)); len(got.Items) != 0 {
		t.Errorf("ListPipelineRuns through another tenant: %v", got.Items)
	}
	if _, err := dep.History(ctx, b.ID, ra.service.ID, ra.env.ID, "", 0); err != nil {
		t.Error(err)
	} else if h := must[db.Page[db.Deployment]](t)(dep.History(ctx, b.ID, ra.service.ID, ra.env.ID, "", 0)); len(h.Items) != 0 {
		t.Errorf("History through another tenant: %v", h.Items)
	}

	// Lists and name lookups stay in their tenant.
	for _, tc := range []struct {
		tn   db.Tenant
		want rows
	}{{a, ra}, {b, rb}} {
		if got := must[db.Pipeline](t)(pl.Get(ctx, tc.tn.ID, "app")); got.ID != tc.want.pipeline.ID {
			t.Errorf("Get pipeline in %s = %s", tc.tn.Slug, got.ID)
		}
		if runs := must[db.Page[db.Run]](t)(runRepo.ListRuns(ctx, tc.tn.ID, "", 0)); len(runs.Items) != 1 || runs.Items[0].ID != tc.want.run.ID {
			t.Errorf("ListRuns in %s = %+v", tc.tn.Slug, runs.Items)
		}
		if deps := must[db.Page[db.Deployment]](t)(dep.List(ctx, tc.tn.ID, "", 0)); len(deps.Items) != 1 || deps.Items[0].ID != tc.want.deploy.ID {
			t.Errorf("List deployments in %s = %+v", tc.tn.Slug, deps.Items)
		}
		if v := must[map[string]string](t)(ten.SecretValues(ctx, tc.tn.ID, []string{"TOKEN"})); v["TOKEN"] != "value of "+tc.tn.Slug {
			t.Errorf("secret of %s = %q", tc.tn.Slug, v["TOKEN"])
		}
		if lines := must[[]db.LogLine](t)(logRepo.ReadLogs(ctx, tc.tn.ID, tc.want.run.ID, "build", 1, 0, 10)); len(lines) != 1 || lines[0].Line != tc.tn.Slug {
			t.Errorf("logs of %s = %+v", tc.tn.Slug, lines)
		}
	}

	// Deletes through the wrong tenant delete nothing; then a's go, b's stay.
	unknown := uuid.New()
	for _, del := range []func(uuid.UUID) error{
		func(id uuid.UUID) error { return pl.Delete(ctx, id, "app") },
		func(id uuid.UUID) error { return ten.DeleteSecret(ctx, id, "TOKEN") },
		func(id uuid.UUID) error { return dep.DeleteTarget(ctx, id, "prod") },
		func(id uuid.UUID) error { return dep.DeleteEnvironment(ctx, id, "production") },
		func(id uuid.UUID) error { return dep.DeleteService(ctx, id, "api") },
	} {
		if err := del(unknown); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("delete through an unknown tenant: %v", err)
		}
		if err := del(a.ID); err != nil {
			t.Error(err)
		}
	}
	if _, err := pl.Get(ctx, b.ID, "app"); err != nil {
		t.Errorf("b's pipeline after a's deletion: %v", err)
	}
	if _, err := dep.GetTarget(ctx, b.ID, "prod"); err != nil {
		t.Errorf("b's target after a's deletion: %v", err)
	}
	if _, err := ten.GetSecret(ctx, b.ID, "TOKEN"); err != nil {
		t.Errorf("b's secret after a's deletion: %v", err)
	}
}

// tenantTables are the tables of a tenant's data.
var tenantTables = []string{
	"tenant_memberships", "secrets", "pipelines", "pipeline_runs", "stage_runs", "stage_logs",
	"targets", "environments", "services", "deployments",
}

// orgScoped are the queries on a tenant's table that are scoped by the
// organization instead, and why.
var orgScoped = map[string]string{
	"ListTenantsForMember": "a user's tenants across one organization",
	"CountActiveRuns":      "runs in progress across an organization, for its plan's limit",
}

// Every query that touches a tenant's table names the tenant: the isolation
// is in the SQL, not only in the callers.
func TestQueriesNameTheTenant(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("queries", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no queries: %v", err)
	}
	tableRef := regexp.MustCompile(`(?i)\b(?:FROM|JOIN|UPDATE|INTO)\s+(\w+)`)
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range strings.Split(string(src), "-- name: ")[1:] {
			name, _, _ := strings.Cut(q, " ")
			for _, m := range tableRef.FindAllStringSubmatch(q, -1) {
				if !slices.Contains(tenantTables, m[1]) {
					continue
				}
				if orgScoped[name] != "" && strings.Contains(q, "@org_id") {
					continue
				}
				if !strings.Contains(q, "@tenant_id") {
					t.Errorf("%s: %s reads or writes %s without @tenant_id", f, name, m[1])
				}
			}
		}
	}
}
