package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

func TestPipelines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	pipelines := s.Pipelines()
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	plan := json.RawMessage(`{"waves": [["build"]]}`)

	p := must[db.Pipeline](t)(pipelines.Create(ctx, tn.ID, db.PipelineSpec{Name: "app", Source: `pipeline "app"`, Plan: plan}))
	if p.Version != 1 || p.TenantID != tn.ID || p.Name != "app" {
		t.Errorf("Create = %+v", p)
	}
	if _, err := pipelines.Create(ctx, tn.ID, db.PipelineSpec{Name: "app", Source: "x"}); !errors.Is(err, db.ErrConflict) || db.Constraint(err) != "pipelines_tenant_id_name_key" {
		t.Errorf("Create twice: %v", err)
	}
	if _, err := pipelines.Create(ctx, uuid.New(), db.PipelineSpec{Name: "app", Source: "x"}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("Create in an unknown tenant: %v", err)
	}

	got := must[db.Pipeline](t)(pipelines.Get(ctx, tn.ID, "app"))
	var gotPlan, wantPlan any
	_ = json.Unmarshal(got.Plan, &gotPlan)
	_ = json.Unmarshal(plan, &wantPlan)
	if got.ID != p.ID || got.Source != p.Source || fmt.Sprint(gotPlan) != fmt.Sprint(wantPlan) {
		t.Errorf("Get = %+v", got)
	}
	if got := must[db.Pipeline](t)(pipelines.GetByID(ctx, tn.ID, p.ID)); got.Name != "app" {
		t.Errorf("GetByID = %+v", got)
	}

	// Put: replaces and bumps the version, or creates.
	put, created, err := pipelines.Put(ctx, tn.ID, db.PipelineSpec{Name: "app", Source: `pipeline "app" // v2`})
	if err != nil || created || put.Version != 2 || put.ID != p.ID || string(put.Plan) != "{}" {
		t.Errorf("Put existing = %+v, created %v, %v", put, created, err)
	}
	put, created, err = pipelines.Put(ctx, tn.ID, db.PipelineSpec{Name: "lib", Source: `pipeline "lib"`})
	if err != nil || !created || put.Version != 1 {
		t.Errorf("Put new = %+v, created %v, %v", put, created, err)
	}

	// Update: version + 1, optionally only at an expected version.
	up := must[db.Pipeline](t)(pipelines.Update(ctx, tn.ID, db.PipelineSpec{Name: "app", Source: "v3"}, 2))
	if up.Version != 3 || up.Source != "v3" || !up.UpdatedAt.After(p.UpdatedAt) {
		t.Errorf("Update = %+v", up)
	}
	if _, err := pipelines.Update(ctx, tn.ID, db.PipelineSpec{Name: "app", Source: "v4"}, 2); !errors.Is(err, db.ErrVersionMismatch) || !errors.Is(err, db.ErrConflict) {
		t.Errorf("Update at a stale version: %v", err)
	}
	if up := must[db.Pipeline](t)(pipelines.Update(ctx, tn.ID, db.PipelineSpec{Name: "app", Source: "v4"}, 0)); up.Version != 4 {
		t.Errorf("Update at any version = %+v", up)
	}
	if _, err := pipelines.Update(ctx, tn.ID, db.PipelineSpec{Name: "nope", Source: "x"}, 1); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Update of an unknown pipeline: %v", err)
	}

	if n := must[int](t)(pipelines.Count(ctx, tn.ID)); n != 2 {
		t.Errorf("Count = %d", n)
	}
	if err := pipelines.Delete(ctx, tn.ID, "lib"); err != nil {
		t.Fatal(err)
	}
	if err := pipelines.Delete(ctx, tn.ID, "lib"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Delete twice: %v", err)
	}
	if _, err := pipelines.Get(ctx, tn.ID, "lib"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
}

// Paging through a list while pipelines are added and removed around the
// cursor: every pipeline that exists throughout is seen exactly once, in
// name order.
func TestPipelinesPaginationStable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	const n = 120
	for i := range n {
		mkPipeline(t, s, tn.ID, fmt.Sprintf("p%03d", 2*i)) // even numbers
	}

	var seen []string
	after := ""
	for page := 0; ; page++ {
		p := must[db.Page[db.Pipeline]](t)(s.Pipelines().List(ctx, tn.ID, after, 13))
		for _, x := range p.Items {
			seen = append(seen, x.Name)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
		// Churn around the cursor: add an odd name right after the last
		// one seen (it is on the next page), and delete a page-mate
		// already seen.
		last := p.Items[len(p.Items)-1].Name
		var k int
		if _, err := fmt.Sscanf(last, "p%03d", &k); err != nil {
			t.Fatal(err)
		}
		mkPipeline(t, s, tn.ID, fmt.Sprintf("p%03d", k+1))
		if err := s.Pipelines().Delete(ctx, tn.ID, p.Items[0].Name); err != nil {
			t.Fatal(err)
		}
	}

	count := map[string]int{}
	for i, name := range seen {
		count[name]++
		if i > 0 && seen[i-1] >= name {
			t.Fatalf("not in name order at %d: %s then %s", i, seen[i-1], name)
		}
	}
	for i := range n {
		name := fmt.Sprintf("p%03d", 2*i)
		if count[name] != 1 {
			t.Errorf("%s seen %d times", name, count[name])
		}
	}
}

func TestPipelinesDefaultAndMaxPageSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	rows := make([][]any, db.MaxPageSize+10)
	for i := range rows {
		rows[i] = []any{tn.ID, fmt.Sprintf("p%04d", i), "src"}
	}
	seedPipelines(t, s, rows)
	if p := must[db.Page[db.Pipeline]](t)(s.Pipelines().List(ctx, tn.ID, "", 0)); len(p.Items) != db.DefaultPageSize || p.Next == "" {
		t.Errorf("limit 0: %d items", len(p.Items))
	}
	if p := must[db.Page[db.Pipeline]](t)(s.Pipelines().List(ctx, tn.ID, "", 1_000_000)); len(p.Items) != db.MaxPageSize || p.Next == "" {
		t.Errorf("huge limit: %d items", len(p.Items))
	}
}

// A list of pipelines reads neither their sources nor their plans, which
// it does not show: each can be as large as a request body, and a page
// holds up to 500 pipelines.
func TestListPipelinesLeavesOutSourceAndPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	tn := mkTenant(t, s, mkOrg(t, s).ID)
	plan := json.RawMessage(`{"stages":[` + strings.Repeat(`{"id":"x"},`, 1000) + `{"id":"y"}]}`)
	p := must[db.Pipeline](t)(s.Pipelines().Create(ctx, tn.ID, db.PipelineSpec{Name: "app", Source: strings.Repeat("// big\n", 10000), Plan: plan}))
	listed := must[db.Page[db.Pipeline]](t)(s.Pipelines().List(ctx, tn.ID, "", 0)).Items
	if len(listed) != 1 || listed[0].Source != "" || listed[0].Plan != nil || listed[0].ID != p.ID || listed[0].Version != 1 || !listed[0].UpdatedAt.Equal(p.UpdatedAt) {
		t.Errorf("listed %+v", listed)
	}
	if got := must[db.Pipeline](t)(s.Pipelines().Get(ctx, tn.ID, "app")); got.Source != p.Source || len(got.Plan) == 0 {
		t.Errorf("Get lost the source or plan: %d bytes, plan %d bytes", len(got.Source), len(got.Plan))
	}
}

// A pipeline stored through the API may name a connected repository of its
// tenant, checked in the query: another tenant's or an unknown one is
// ErrNoRepository and stores nothing. Put keeps, sets or clears it; a
// pipeline read from a repository's file is not replaced
// (ErrRepositoryFile) unless its repository was disconnected; and
// ListForRepository lists the API's pipelines of a repository, not its
// files', in the tenant only.
func TestPipelinesRepositoryLink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	pipelines := s.Pipelines()
	o := mkOrg(t, s)
	t1, t2 := mkTenant(t, s, o.ID), mkTenant(t, s, o.ID)
	mkRepo := func(tenantID uuid.UUID, url string) db.Repository {
		t.Helper()
		return must[db.Repository](t)(s.Repositories().Create(ctx, tenantID, db.NewRepository{
			Forge: "gitea", URL: url, TokenSecret: "GITEA_TOKEN", WebhookSecret: "secret",
		}))
	}
	r1, r2 := mkRepo(t1.ID, "https://git.example.com/acme/app"), mkRepo(t2.ID, "https://git.example.com/evil/app")
	link := func(id uuid.UUID) db.RepositoryLink { return db.RepositoryLink{Set: true, ID: &id} }
	spec := func(name string, l db.RepositoryLink) db.PipelineSpec {
		return db.PipelineSpec{Name: name, Source: `pipeline "` + name + `"`, Repository: l}
	}

	p := must[db.Pipeline](t)(pipelines.Create(ctx, t1.ID, spec("ci", link(r1.ID))))
	if p.RepositoryID == nil || *p.RepositoryID != r1.ID || p.RepositoryPath != "" {
		t.Errorf("Create with the tenant's repository = %+v", p)
	}
	for name, id := range map[string]uuid.UUID{"another tenant's": r2.ID, "an unknown": uuid.New()} {
		if _, err := pipelines.Create(ctx, t1.ID, spec("x", link(id))); !errors.Is(err, db.ErrNoRepository) || !errors.Is(err, db.ErrInvalid) {
			t.Errorf("Create with %s repository: %v", name, err)
		}
		if _, _, err := pipelines.Put(ctx, t1.ID, spec("x", link(id))); !errors.Is(err, db.ErrNoRepository) {
			t.Errorf("Put (new) with %s repository: %v", name, err)
		}
		if _, _, err := pipelines.Put(ctx, t1.ID, spec("ci", link(id))); !errors.Is(err, db.ErrNoRepository) {
			t.Errorf("Put (existing) with %s repository: %v", name, err)
		}
		if _, err := pipelines.Update(ctx, t1.ID, spec("ci", link(id)), 0); !errors.Is(err, db.ErrNoRepository) {
			t.Errorf("Update with %s repository: %v", name, err)
		}
	}
	if _, err := pipelines.Get(ctx, t1.ID, "x"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("a refused create stored a pipeline: %v", err)
	}
	if got := must[db.Pipeline](t)(pipelines.Get(ctx, t1.ID, "ci")); got.Version != 1 || *got.RepositoryID != r1.ID {
		t.Errorf("a refused change changed the pipeline: %+v", got)
	}

	// Put: left out keeps it, a nil ID clears it, an ID sets it.
	put, _, err := pipelines.Put(ctx, t1.ID, spec("ci", db.RepositoryLink{}))
	if err != nil || put.RepositoryID == nil || *put.RepositoryID != r1.ID || put.Version != 2 {
		t.Errorf("Put keeping the repository = %+v, %v", put, err)
	}
	put, _, err = pipelines.Put(ctx, t1.ID, spec("ci", db.RepositoryLink{Set: true}))
	if err != nil || put.RepositoryID != nil {
		t.Errorf("Put clearing the repository = %+v, %v", put, err)
	}
	if got := must[db.Pipeline](t)(pipelines.Get(ctx, t1.ID, "ci")); got.RepositoryID != nil {
		t.Errorf("after Put cleared the repository, Get = %+v", got)
	}
	up, err := pipelines.Update(ctx, t1.ID, spec("ci", link(r1.ID)), put.Version)
	if err != nil || up.RepositoryID == nil || *up.RepositoryID != r1.ID {
		t.Errorf("Update setting the repository = %+v, %v", up, err)
	}
	if _, err := pipelines.Update(ctx, t1.ID, spec("ci", db.RepositoryLink{}), put.Version); !errors.Is(err, db.ErrVersionMismatch) {
		t.Errorf("Update at a stale version: %v", err)
	}

	// A file's pipeline: not replaced through the API.
	file := must[db.Pipeline](t)(func() (db.Pipeline, error) {
		p, _, err := pipelines.EnsureForRepository(ctx, t1.ID, db.RepositoryPipeline{
			PipelineSpec: db.PipelineSpec{Name: "lint", Source: `pipeline "lint"`}, RepositoryID: r1.ID, Path: ".buildit/lint.kdl",
		})
		return p, err
	}())
	if _, _, err := pipelines.Put(ctx, t1.ID, spec("lint", db.RepositoryLink{})); !errors.Is(err, db.ErrRepositoryFile) || !errors.Is(err, db.ErrConflict) {
		t.Errorf("Put of a file's pipeline: %v", err)
	}
	if _, err := pipelines.Update(ctx, t1.ID, spec("lint", db.RepositoryLink{Set: true}), file.Version); !errors.Is(err, db.ErrRepositoryFile) {
		t.Errorf("Update of a file's pipeline: %v", err)
	}
	if got := must[db.Pipeline](t)(pipelines.Get(ctx, t1.ID, "lint")); got.Version != 1 || got.Source != file.Source {
		t.Errorf("a refused Put changed the file's pipeline: %+v", got)
	}

	// The repository's API pipelines, not its files', in its tenant only;
	// paged by name.
	must[db.Pipeline](t)(pipelines.Create(ctx, t1.ID, spec("deploy", link(r1.ID))))
	must[db.Pipeline](t)(pipelines.Create(ctx, t1.ID, spec("plain", db.RepositoryLink{})))
	must[db.Pipeline](t)(pipelines.Create(ctx, t2.ID, spec("theirs", link(r2.ID))))
	names := func(ps []db.Pipeline, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			if p.Source == "" || p.RepositoryPath != "" {
				t.Errorf("listed %+v", p)
			}
			out = append(out, p.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(pipelines.ListForRepository(ctx, t1.ID, r1.ID, "", 10)); got != "ci,deploy" {
		t.Errorf("ListForRepository = %s, want ci,deploy", got)
	}
	if got := names(pipelines.ListForRepository(ctx, t1.ID, r1.ID, "ci", 1)); got != "deploy" {
		t.Errorf("ListForRepository's second page = %s, want deploy", got)
	}
	if got := names(pipelines.ListForRepository(ctx, t2.ID, r1.ID, "", 10)); got != "" {
		t.Errorf("ListForRepository of another tenant's repository = %s, want none", got)
	}
	page := must[db.Page[db.Pipeline]](t)(pipelines.List(ctx, t1.ID, "", 10))
	for _, p := range page.Items {
		if (p.Name == "deploy" && (p.RepositoryID == nil || *p.RepositoryID != r1.ID)) || (p.Name == "lint" && p.RepositoryPath != ".buildit/lint.kdl") {
			t.Errorf("List shows %+v", p)
		}
	}

	// Disconnected, the file's pipeline is the API's to replace, and
	// becomes an API pipeline.
	if err := s.Repositories().Delete(ctx, t1.ID, r1.ID); err != nil {
		t.Fatal(err)
	}
	put, _, err = pipelines.Put(ctx, t1.ID, spec("lint", db.RepositoryLink{}))
	if err != nil || put.RepositoryID != nil || put.RepositoryPath != "" || put.Version != 2 {
		t.Errorf("Put of a disconnected file's pipeline = %+v, %v", put, err)
	}
}

// TriggerSettings reads `on` and `inputs` out of the plans of the
// tenant's pipelines asked for, null where a plan has none.
func TestPipelineTriggerSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	tn, other := mkTenant(t, s, o.ID), mkTenant(t, s, o.ID)
	with, err := s.Pipelines().Create(ctx, tn.ID, db.PipelineSpec{Name: "with", Source: "x",
		Plan: json.RawMessage(`{"pipeline":"with","on":{"manual":true},"inputs":[{"name":"target","type":"string"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	bare := mkPipeline(t, s, tn.ID, "bare")
	theirs := mkPipeline(t, s, other.ID, "theirs")
	got, err := s.Pipelines().TriggerSettings(ctx, tn.ID, []uuid.UUID{with.ID, bare.ID, theirs.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !strings.Contains(string(got[with.ID].Inputs), `"target"`) || !strings.Contains(string(got[with.ID].On), `"manual"`) {
		t.Errorf("TriggerSettings = %s", fmt.Sprint(got))
	}
	if b := got[bare.ID]; b.Inputs != nil && string(b.Inputs) != "null" {
		t.Errorf("a plan without inputs: %s", b.Inputs)
	}
}
