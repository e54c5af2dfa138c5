package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
)

func TestTargetsEnvironmentsServices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	d := s.Deployments()
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)

	tg := must[db.Target](t)(d.PutTarget(ctx, tn.ID, db.TargetSpec{Name: "prod-k8s", Kind: pipeline.TargetKubernetes, Settings: json.RawMessage(`{"namespace":"apps"}`)}))
	if tg.Kind != pipeline.TargetKubernetes || tg.CredentialsSecret != "" {
		t.Errorf("PutTarget = %+v", tg)
	}
	tg2 := must[db.Target](t)(d.PutTarget(ctx, tn.ID, db.TargetSpec{Name: "prod-k8s", Kind: pipeline.TargetFly, CredentialsSecret: "FLY_API_TOKEN"}))
	if tg2.ID != tg.ID || tg2.Kind != pipeline.TargetFly || string(tg2.Settings) != "{}" || tg2.CredentialsSecret != "FLY_API_TOKEN" {
		t.Errorf("PutTarget replace = %+v", tg2)
	}
	if _, err := d.PutTarget(ctx, tn.ID, db.TargetSpec{Name: "x", Kind: "nomad"}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("PutTarget with a bad kind: %v", err)
	}
	if got := must[db.Target](t)(d.GetTarget(ctx, tn.ID, "prod-k8s")); got.ID != tg.ID {
		t.Errorf("GetTarget = %+v", got)
	}
	if p := must[db.Page[db.Target]](t)(d.ListTargets(ctx, tn.ID, "", 0)); len(p.Items) != 1 {
		t.Errorf("ListTargets = %+v", p)
	}
	if err := d.DeleteTarget(ctx, tn.ID, "prod-k8s"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetTarget(ctx, tn.ID, "prod-k8s"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("GetTarget after delete: %v", err)
	}

	prot := db.Protection{RequireApproval: true, AllowedBranches: []string{"main", "release/*"}}
	env := must[db.Environment](t)(d.PutEnvironment(ctx, tn.ID, "production", prot))
	if !env.Protection.RequireApproval || !slices.Equal(env.Protection.AllowedBranches, prot.AllowedBranches) {
		t.Errorf("PutEnvironment = %+v", env)
	}
	got := must[db.Environment](t)(d.GetEnvironment(ctx, tn.ID, "production"))
	if got.ID != env.ID || !slices.Equal(got.Protection.AllowedBranches, prot.AllowedBranches) {
		t.Errorf("GetEnvironment = %+v", got)
	}
	must[db.Environment](t)(d.PutEnvironment(ctx, tn.ID, "staging", db.Protection{}))
	envs := must[db.Page[db.Environment]](t)(d.ListEnvironments(ctx, tn.ID, "", 1))
	envs2 := must[db.Page[db.Environment]](t)(d.ListEnvironments(ctx, tn.ID, envs.Next, 1))
	if envs.Items[0].Name != "production" || envs2.Items[0].Name != "staging" || envs2.Next != "" {
		t.Errorf("ListEnvironments pages = %+v, %+v", envs, envs2)
	}
	if err := d.DeleteEnvironment(ctx, tn.ID, "staging"); err != nil {
		t.Fatal(err)
	}

	svc := must[db.Service](t)(d.PutService(ctx, tn.ID, "api", json.RawMessage(`{"replicas": 3}`)))
	if got := must[db.Service](t)(d.GetService(ctx, tn.ID, "api")); got.ID != svc.ID {
		t.Errorf("GetService = %+v", got)
	}
	if p := must[db.Page[db.Service]](t)(d.ListServices(ctx, tn.ID, "", 0)); len(p.Items) != 1 {
		t.Errorf("ListServices = %+v", p)
	}
	if err := d.DeleteService(ctx, tn.ID, "api"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteService(ctx, tn.ID, "api"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("DeleteService twice: %v", err)
	}
}

func TestDeployments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	d := s.Deployments()
	o := mkOrg(t, s)
	tn, other := mkTenant(t, s, o.ID), mkTenant(t, s, o.ID)
	svc := must[db.Service](t)(d.PutService(ctx, tn.ID, "api", nil))
	prod := must[db.Environment](t)(d.PutEnvironment(ctx, tn.ID, "production", db.Protection{}))
	staging := must[db.Environment](t)(d.PutEnvironment(ctx, tn.ID, "staging", db.Protection{}))
	p := mkPipeline(t, s, tn.ID, "app")
	run := must[db.Run](t)(s.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{}))

	d1 := must[db.Deployment](t)(d.Create(ctx, tn.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: prod.ID, Image: "api:1", Actor: "ann", RunID: &run.ID}))
	if d1.Revision != 1 || d1.PreviousRevision != nil || d1.Status != buildit.DeployPending || *d1.RunID != run.ID {
		t.Errorf("first deployment = %+v", d1)
	}
	d1 = must[db.Deployment](t)(d.SetStatus(ctx, tn.ID, d1.ID, buildit.DeploySucceeded))
	if d1.FinishedAt == nil {
		t.Errorf("SetStatus succeeded = %+v", d1)
	}
	d2 := must[db.Deployment](t)(d.Create(ctx, tn.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: prod.ID, Image: "api:2"}))
	if d2.Revision != 2 || d2.PreviousRevision == nil || *d2.PreviousRevision != 1 {
		t.Errorf("second deployment = %+v", d2)
	}
	must[db.Deployment](t)(d.SetStatus(ctx, tn.ID, d2.ID, buildit.DeployFailed))
	d3 := must[db.Deployment](t)(d.Create(ctx, tn.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: prod.ID, Image: "api:3"}))
	if d3.Revision != 3 || *d3.PreviousRevision != 1 {
		t.Errorf("third deployment (after a failed one) = %+v", d3)
	}
	// Revisions count per environment.
	if s1 := must[db.Deployment](t)(d.Create(ctx, tn.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: staging.ID, Image: "api:3"})); s1.Revision != 1 {
		t.Errorf("first staging deployment = %+v", s1)
	}

	// Rows of another tenant are refused.
	otherRun := must[db.Run](t)(s.Runs().CreateRun(ctx, other.ID, mkPipeline(t, s, other.ID, "x").ID, db.NewRun{}))
	if _, err := d.Create(ctx, tn.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: prod.ID, Image: "x", RunID: &otherRun.ID}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Create with another tenant's run: %v", err)
	}
	otherEnv := must[db.Environment](t)(d.PutEnvironment(ctx, other.ID, "production", db.Protection{}))
	if _, err := d.Create(ctx, tn.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: otherEnv.ID, Image: "x"}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("Create with another tenant's environment: %v", err)
	}
	if _, err := d.Create(ctx, other.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: otherEnv.ID, Image: "x"}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Create with another tenant's service: %v", err)
	}
	if _, err := d.Get(ctx, other.ID, d1.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Get through another tenant: %v", err)
	}
	if _, err := d.SetStatus(ctx, tn.ID, d1.ID, "exploded"); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("SetStatus with a bad status: %v", err)
	}

	var revs []int
	after := ""
	for {
		page := must[db.Page[db.Deployment]](t)(d.History(ctx, tn.ID, svc.ID, prod.ID, after, 2))
		for _, x := range page.Items {
			revs = append(revs, x.Revision)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if !slices.Equal(revs, []int{3, 2, 1}) {
		t.Errorf("History revisions = %v", revs)
	}
	all := must[db.Page[db.Deployment]](t)(d.List(ctx, tn.ID, "", 0))
	if len(all.Items) != 4 || all.Items[0].ID == d1.ID {
		t.Errorf("List = %d deployments, newest first", len(all.Items))
	}

	// A run's deploy stage has one deployment: creating it again returns it.
	stage := db.NewDeployment{ServiceID: svc.ID, EnvironmentID: prod.ID, Image: "api:4", RunID: &run.ID, StageID: "deploy-api",
		Target: "fly", Spec: json.RawMessage(`{"image":"api:4","replicas":2}`)}
	d4 := must[db.Deployment](t)(d.Create(ctx, tn.ID, stage))
	if again := must[db.Deployment](t)(d.Create(ctx, tn.ID, stage)); again.ID != d4.ID || again.Revision != 4 {
		t.Errorf("Create of the same run and stage again = %+v, want %+v", again, d4)
	}
	if d4.Target != "fly" || d4.StageID != "deploy-api" || !strings.Contains(string(d4.Spec), `"replicas"`) {
		t.Errorf("deployment of a stage = %+v", d4)
	}
	d4 = must[db.Deployment](t)(d.Finish(ctx, tn.ID, d4.ID, buildit.DeployRolledBack, "not healthy within 5m", new(1)))
	if d4.Status != buildit.DeployRolledBack || d4.Message != "not healthy within 5m" || *d4.RolledBackTo != 1 || d4.FinishedAt == nil {
		t.Errorf("Finish = %+v", d4)
	}
	if _, err := d.Finish(ctx, tn.ID, d4.ID, buildit.DeployRunning, "", nil); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("Finish with a status that is not final: %v", err)
	}
	if got := must[db.Deployment](t)(d.GetRevision(ctx, tn.ID, svc.ID, prod.ID, 2)); got.ID != d2.ID {
		t.Errorf("GetRevision 2 = %+v", got)
	}
	if got := must[db.Service](t)(d.GetServiceByID(ctx, tn.ID, svc.ID)); got.Name != "api" {
		t.Errorf("GetServiceByID = %+v", got)
	}
	if got := must[db.Environment](t)(d.GetEnvironmentByID(ctx, tn.ID, prod.ID)); got.Name != "production" {
		t.Errorf("GetEnvironmentByID = %+v", got)
	}
	if _, err := d.GetServiceByID(ctx, other.ID, svc.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("GetServiceByID through another tenant: %v", err)
	}
	if _, err := d.GetEnvironmentByID(ctx, other.ID, prod.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("GetEnvironmentByID through another tenant: %v", err)
	}
	if _, err := d.GetRevision(ctx, other.ID, svc.ID, prod.ID, 2); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("GetRevision through another tenant: %v", err)
	}
	var envRevs []int
	after = ""
	for {
		page := must[db.Page[db.Deployment]](t)(d.ListForEnvironment(ctx, tn.ID, prod.ID, after, 3))
		for _, x := range page.Items {
			envRevs = append(envRevs, x.Revision)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if !slices.Equal(envRevs, []int{4, 3, 2, 1}) {
		t.Errorf("ListForEnvironment revisions = %v", envRevs)
	}
	if page := must[db.Page[db.Deployment]](t)(d.ListForEnvironment(ctx, other.ID, prod.ID, "", 0)); len(page.Items) != 0 {
		t.Errorf("ListForEnvironment through another tenant: %d", len(page.Items))
	}

	// Deleting the run keeps the deployment, without its run.
	if err := s.Pipelines().Delete(ctx, tn.ID, "app"); err != nil {
		t.Fatal(err)
	}
	if got := must[db.Deployment](t)(d.Get(ctx, tn.ID, d1.ID)); got.RunID != nil {
		t.Errorf("RunID after the run's deletion = %v", got.RunID)
	}
}

// Concurrent deployments of one service to one environment get distinct,
// consecutive revisions.
func TestDeploymentRevisionsConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	d := s.Deployments()
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	svc := must[db.Service](t)(d.PutService(ctx, tn.ID, "api", nil))
	env := must[db.Environment](t)(d.PutEnvironment(ctx, tn.ID, "production", db.Protection{}))

	const n = 20
	revs := make([]int, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range n {
		wg.Go(func() {
			dep, err := d.Create(ctx, tn.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: env.ID, Image: "api"})
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			revs[i] = dep.Revision
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	slices.Sort(revs)
	for i, r := range revs {
		if r != i+1 {
			t.Fatalf("revisions = %v", revs)
		}
	}
}
