package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

// A page of a list holds up to 500 items, so an item must not be as large
// as a request body: a tenant that triggers runs with a 900 KiB env, or
// saves services with large settings, must not make each page of the list
// tens of megabytes. Run lists leave out the env (the run itself shows it)
// and a service's settings are at most 16 KiB.
func TestSecurityListItemsAreBounded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ls := e.logStage("owner@acme.test", "Acme")
	ctx := context.Background()
	p, err := e.store.Pipelines().Get(ctx, ls.tenant, "app")
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 900<<10)
	params, _ := json.Marshal(map[string]any{"env": map[string]string{"BIG": big}, "repository": "https://git.example.test/app.git"})
	for range 40 {
		if _, err := e.store.Runs().CreateRun(ctx, ls.tenant, p.ID, db.NewRun{Trigger: "api", Params: params}); err != nil {
			t.Fatal(err)
		}
	}
	base := "/orgs/acme/tenants/web/pipelines/app/runs"
	r := ls.owner.must(200, "GET", base+"?limit=500", nil)
	var runs apiview.List[apiview.Run]
	r.json(t, &runs)
	if len(runs.Items) != 41 || len(r.body) > 64<<10 {
		t.Errorf("a list of %d runs is %d KiB", len(runs.Items), len(r.body)>>10)
	}
	for _, run := range runs.Items[:40] {
		if run.Env != nil || run.Repository != "https://git.example.test/app.git" {
			t.Errorf("listed run %d: env of %d variables, repository %q", run.Number, len(run.Env), run.Repository)
			break
		}
	}
	var one apiview.Run
	ls.owner.must(200, "GET", base+"/41", nil).json(t, &one)
	if one.Env["BIG"] != big {
		t.Errorf("run 41 itself shows an env of %d bytes", len(one.Env["BIG"]))
	}

	svcs := "/orgs/acme/tenants/web/services"
	if r := ls.owner.do("POST", svcs, map[string]any{"name": "big", "settings": map[string]string{"blob": strings.Repeat("y", 20<<10)}}); r.status != 422 {
		t.Errorf("a service with 20 KiB of settings: %d %.200s", r.status, r.body)
	}
	ls.owner.must(201, "POST", svcs, map[string]any{"name": "api", "settings": map[string]string{"blob": strings.Repeat("y", 10<<10)}})
	if r := ls.owner.do("PATCH", svcs+"/api", map[string]any{"settings": map[string]string{"blob": strings.Repeat("y", 20<<10)}}); r.status != 422 {
		t.Errorf("a service's settings raised to 20 KiB: %d %.200s", r.status, r.body)
	}
}
