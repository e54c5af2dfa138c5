package api

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/internal/gittest"
)

// BenchmarkWebhookBurst sends bursts of 100 distinct push deliveries at
// once to the API on the real Postgres, and reports the accept latency
// (the 202's) at p50 and p99 over every delivery: "temporal" with the
// embedded Temporal and the server's worker behind the route's
// dispatcher (each delivery starts a RepositoryEvent workflow, which
// fetches the commit: the repository has no pipelines, so no run starts;
// the starts and the workflows run while the burst is answered),
// "route" with a starter that does nothing, the route's own cost
// (signature, parse, the delivery's row). drain-s is the median time from
// a burst's first delivery to every delivery's work done (started, and
// with Temporal the workflows ended); each burst waits for the one
// before to drain.
func BenchmarkWebhookBurst(b *testing.B) {
	for _, temporal := range []bool{true, false} {
		name := map[bool]string{true: "temporal", false: "route"}[temporal]
		b.Run(name, func(b *testing.B) { benchmarkWebhookBurst(b, temporal) })
	}
}

func benchmarkWebhookBurst(b *testing.B, temporal bool) {
	gittest.Need(b)
	e := setup(b).withRuns(b)
	e.api.cfg.Repositories.AllowHTTP = true
	e.svc.Repositories.AllowHTTP = true
	if temporal {
		e.serveHooks(b)
	} else {
		e.dispatch(b, &fakeHooks{}, 0)
	}
	root := b.TempDir()
	commit := gittest.Repo(b, root, "app", map[string]string{"README": "app\n"})
	clone := gittest.Serve(b, root) + "/app"
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "PUT", "/orgs/acme/tenants/web/secrets/GITEA_TOKEN", map[string]string{"value": "tok"})
	repo := connectIn(b, owner, clone)
	body := giteaPush(clone, "refs/heads/main", commit, commit, "change")

	const burst = 100
	var all, drains []time.Duration
	n := 0
	b.ResetTimer()
	for range b.N {
		lat := make([]time.Duration, burst)
		var wg sync.WaitGroup
		began := time.Now()
		first := n + 1
		for i := range burst {
			n++
			call := hookCall{forge: "gitea", repo: repo.ID, secret: repo.WebhookSecret, event: "push", delivery: fmt.Sprintf("bench-%d", n), body: body}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				r := e.deliver(call)
				lat[i] = time.Since(start)
				if r.status != 202 {
					b.Errorf("delivery: %d %s", r.status, r.body)
				}
			}()
		}
		wg.Wait()
		all = append(all, lat...)
		// Each burst comes to an idle server: the work of the one before
		// (the starts, and with Temporal the workflows) is done first, and
		// how long that took is the burst's drain time.
		b.StopTimer()
		waitFor(b, "the burst's starts", func() bool {
			var pending int
			if err := e.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM webhook_deliveries WHERE started_at IS NULL").Scan(&pending); err != nil {
				b.Fatal(err)
			}
			return pending == 0
		})
		if temporal {
			for i := first; i <= n; i++ {
				id := "hook/" + repo.ID + "/" + fmt.Sprintf("bench-%d", i)
				if err := e.svc.Client.GetWorkflow(context.Background(), id, "").Get(context.Background(), nil); err != nil {
					b.Fatalf("%s: %v", id, err)
				}
			}
		}
		drains = append(drains, time.Since(began))
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	slices.Sort(drains)
	b.ReportMetric(drains[len(drains)/2].Seconds(), "drain-s")
	b.ReportMetric(0, "ns/op")
}
