package api

import (
	"context"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/apiview"
)

// The hot read paths through the whole stack (HTTP, API key check, org and
// tenant resolution, query, JSON), on a tenant with 10k pipelines in an
// organization with 100k audit entries. Reports p50 and p99 per request.
func BenchmarkReadPaths(b *testing.B) {
	e := setup(b)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "t1"})
	key := owner.apiKey("acme", map[string]any{"name": "bench", "scopes": Scopes})
	ctx := context.Background()
	pool := e.store.Pool()
	t0 := time.Now()
	if _, err := pool.Exec(ctx, `INSERT INTO pipelines (tenant_id, name, source, plan)
		SELECT t.id, 'pipeline-' || lpad(g::text, 5, '0'), $1, '{"pipeline":"hello","steps":[{"id":"greet"}]}'
		FROM tenants t, generate_series(1, 10000) g WHERE t.slug = 't1'`, helloKDL); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO audit_logs (org_id, action, target_type, target_id, created_at)
		SELECT o.id, 'pipeline.update', 'pipeline', 'pipeline-' || (g % 10000), now() - g * interval '1 second'
		FROM organizations o, generate_series(1, 100000) g WHERE o.slug = 'acme'`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded 10k pipelines and 100k audit entries in %s", time.Since(t0).Round(time.Millisecond))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	base := e.srv.URL + "/api/v1/orgs/acme"
	b.Run("list-pipelines", func(b *testing.B) { timeGets(b, hc, key, base+"/tenants/t1/pipelines?limit=50") })
	b.Run("list-pipelines-deep-page", func(b *testing.B) {
		// A page far into the list: keyset pagination costs the same.
		var l apiview.List[apiview.Pipeline]
		var next string
		for range 150 {
			r := e.withKey(key).must(200, "GET", "/orgs/acme/tenants/t1/pipelines?limit=50&after="+next, nil)
			r.json(b, &l)
			next = l.Next
		}
		timeGets(b, hc, key, base+"/tenants/t1/pipelines?limit=50&after="+next)
	})
	b.Run("get-pipeline", func(b *testing.B) { timeGets(b, hc, key, base+"/tenants/t1/pipelines/pipeline-05000") })
	b.Run("list-audit", func(b *testing.B) { timeGets(b, hc, key, base+"/audit-logs?limit=50") })
}

func timeGets(b *testing.B, hc *http.Client, key, url string) {
	b.Helper()
	var lat []time.Duration
	for b.Loop() {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		t0 := time.Now()
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		lat = append(lat, time.Since(t0))
		if res.StatusCode != 200 {
			b.Fatalf("GET %s: %d", url, res.StatusCode)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
