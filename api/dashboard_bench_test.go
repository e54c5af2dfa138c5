package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
)

// timePages GETs path with c's session until the benchmark ends, and
// reports the latency's p50 and p99 and the page's size.
func timePages(b *testing.B, c *client, path string) []byte {
	b.Helper()
	var lat []time.Duration
	var body []byte
	for b.Loop() {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", c.e.srv.URL+path, nil)
		t0 := time.Now()
		res, err := c.hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		lat = append(lat, time.Since(t0))
		if res.StatusCode != 200 {
			b.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
	return body
}

// assetBytes is the size of the page's script and style sheet.
func assetBytes(b *testing.B, c *client, page []byte) int {
	b.Helper()
	n := 0
	for _, part := range strings.Split(string(page), `"/assets/`)[1:] {
		name, _, _ := strings.Cut(part, `"`)
		if strings.HasSuffix(name, ".css") || strings.HasSuffix(name, ".js") {
			n += len(c.page("/assets/" + name).body)
		}
	}
	return n
}

// BenchmarkRunPage renders the page of a run of 200 stage instances in 10
// waves (a matrix of 4 among them), every stage recorded, through the
// whole server (the guard, Postgres, the template), and reports the
// page's weight: its HTML, and its HTML with the style sheet and the
// script (before compression).
func BenchmarkRunPage(b *testing.B) {
	e := setup(b)
	ann := e.signup("ann@example.com", "Acme")
	ann.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	var src strings.Builder
	src.WriteString("pipeline \"big\"\nstage \"matrix-test\" { run \"true\"; matrix { os \"linux\" \"mac\"; arch \"amd64\" \"arm64\"; }; }\n")
	for w := range 10 {
		for i := range 20 {
			if w == 0 && i < 4 {
				continue // the matrix's 4 instances are in wave 1
			}
			fmt.Fprintf(&src, "stage \"stage-%02d-%02d\" {", w, i)
			if w > 0 {
				fmt.Fprintf(&src, " needs \"stage-%02d-%02d\" \"stage-%02d-%02d\";", w-1, max(i, 4), w-1, max((i+7)%20, 4))
			}
			src.WriteString(" run \"echo hi\"; }\n")
		}
	}
	ann.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "big", "source": src.String()})
	ctx := context.Background()
	tn, err := e.store.Tenants().Get(ctx, mustOrg(b, e, "acme"), "web")
	if err != nil {
		b.Fatal(err)
	}
	p := e.pipeline(b, "web", "big")
	r, err := e.store.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{Branch: "main", Commit: "0123456789abcdef", Event: "manual", Trigger: "api", Actor: "ann@example.com"})
	if err != nil {
		b.Fatal(err)
	}
	var plan struct{ Steps []struct{ ID string } }
	if err := json.Unmarshal(p.Plan, &plan); err != nil || len(plan.Steps) != 200 {
		b.Fatalf("%d steps (%v), want 200", len(plan.Steps), err)
	}
	t0 := time.Now()
	for i, st := range plan.Steps {
		end := t0.Add(time.Duration(i) * time.Second)
		if _, err := e.store.Runs().PutStageRun(ctx, tn.ID, db.StageRun{RunID: r.ID, StageID: st.ID, Attempt: 1, Status: buildit.StageSucceeded, StartedAt: &t0, EndedAt: &end}); err != nil {
			b.Fatal(err)
		}
	}
	page := timePages(b, ann, "/orgs/acme/tenants/web/pipelines/big/runs/1")
	if n := strings.Count(string(page), `class="node s-succeeded"`); n != 200 {
		b.Fatalf("%d nodes, want 200", n)
	}
	b.ReportMetric(float64(len(page)), "html-bytes")
	b.ReportMetric(float64(len(page)+assetBytes(b, ann, page)), "page-bytes")
}

// BenchmarkPipelinesPage renders the first page of a tenant's 1,000
// pipelines, each with a run, and half with inputs.
func BenchmarkPipelinesPage(b *testing.B) {
	e := setup(b)
	ann := e.signup("ann@example.com", "Acme")
	ann.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	ctx := context.Background()
	tn, err := e.store.Tenants().Get(ctx, mustOrg(b, e, "acme"), "web")
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		name := fmt.Sprintf("pipeline-%04d", i)
		plan := fmt.Sprintf(`{"pipeline":%q,"steps":[],"waves":[]}`, name)
		if i%2 == 0 {
			plan = fmt.Sprintf(`{"pipeline":%q,"steps":[],"waves":[],"inputs":[{"name":"target","type":"choice","default":"staging","values":["staging","prod"]},{"name":"note","type":"string"}]}`, name)
		}
		p, err := e.store.Pipelines().Create(ctx, tn.ID, db.PipelineSpec{Name: name, Source: "pipeline \"" + name + "\"", Plan: json.RawMessage(plan)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.store.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{Branch: "main", Commit: "0123456789abcdef", Event: "push", Trigger: "webhook"}); err != nil {
			b.Fatal(err)
		}
	}
	page := timePages(b, ann, "/orgs/acme/tenants/web")
	if n := strings.Count(string(page), `<th scope="row">`); n != 100 {
		b.Fatalf("%d pipelines on the page, want 100", n)
	}
	b.ReportMetric(float64(len(page)), "html-bytes")
}
