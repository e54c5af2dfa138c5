package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

// chainKDL is n no-op host stages, each needing the one before.
func chainKDL(n int) string {
	var b strings.Builder
	b.WriteString("pipeline \"chain\"\n")
	for i := 1; i <= n; i++ {
		if i == 1 {
			fmt.Fprintf(&b, "stage \"s%d\" { run \"true\"; }\n", i)
		} else {
			fmt.Fprintf(&b, "stage \"s%d\" needs=\"s%d\" { run \"true\"; }\n", i, i-1)
		}
	}
	return b.String()
}

// benchStack is the whole of server mode in this process: the API, one
// worker (host executor), the embedded Temporal server and Postgres, with
// an enterprise organization (no plan limit) and an API key.
func benchStack(b *testing.B, pipelines map[string]string) (base, key string) {
	e := setup(b).withRuns(b)
	owner := e.signup("owner@acme.test", "Acme")
	ctx := context.Background()
	org, err := e.store.Organizations().GetBySlug(ctx, "acme")
	if err != nil {
		b.Fatal(err)
	}
	ent := db.PlanEnterprise
	if _, err := e.store.Organizations().Update(ctx, org.ID, db.OrganizationPatch{Plan: &ent}); err != nil {
		b.Fatal(err)
	}
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	for name, src := range pipelines {
		owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": name, "source": src})
	}
	key = owner.apiKey("acme", map[string]any{"name": "bench", "scopes": Scopes})
	return e.srv.URL + "/api/v1/orgs/acme/tenants/web/pipelines", key
}

// timed sends a request and returns its latency and decoded answer.
func timed(hc *http.Client, key, method, url string, out any) (time.Duration, error) {
	req, _ := http.NewRequestWithContext(context.Background(), method, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	t0 := time.Now()
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	d := time.Since(t0)
	if err != nil {
		return d, err
	}
	if res.StatusCode >= 300 {
		return d, fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, body)
	}
	if out != nil {
		return d, json.Unmarshal(body, out)
	}
	return d, nil
}

type latencies struct {
	mu sync.Mutex
	d  map[string][]time.Duration
}

func (l *latencies) add(name string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d[name] = append(l.d[name], d)
}

func (l *latencies) report(b *testing.B) {
	for name, ds := range l.d {
		slices.Sort(ds)
		p := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000 }
		b.ReportMetric(p(0.50), name+"-p50-ms")
		b.ReportMetric(p(0.99), name+"-p99-ms")
	}
}

// Runs of a 10-stage chain of no-op host stages, 8 in flight at a time,
// on one worker; every run is followed as a client would: its detail
// polled every 100 ms and its last stage's log read at the end. Reports
// the runs per minute the worker sustained and the API's p50/p99 for the
// trigger, the run detail and the log tail under that load.
func BenchmarkSustainedRuns(b *testing.B) {
	base, key := benchStack(b, map[string]string{"chain": chainKDL(10)})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	lat := &latencies{d: map[string][]time.Duration{}}
	const inFlight = 8
	work := make(chan struct{})
	var wg sync.WaitGroup
	var failed sync.Map
	for range inFlight {
		wg.Go(func() {
			for range work {
				var r apiview.Run
				d, err := timed(hc, key, "POST", base+"/chain/runs", &r)
				if err != nil {
					failed.Store(err.Error(), true)
					continue
				}
				lat.add("trigger", d)
				path := fmt.Sprintf("%s/chain/runs/%d", base, r.Number)
				for !r.Status.Terminal() {
					time.Sleep(100 * time.Millisecond)
					d, err := timed(hc, key, "GET", path, &r)
					if err != nil {
						failed.Store(err.Error(), true)
						break
					}
					lat.add("detail", d)
				}
				if r.Status != buildit.RunSucceeded {
					failed.Store("run "+string(r.Status), true)
				}
				d, err = timed(hc, key, "GET", path+"/logs?stage=s10", nil)
				if err == nil {
					lat.add("logs", d)
				}
			}
		})
	}
	t0 := time.Now()
	for b.Loop() {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(t0)
	failed.Range(func(k, _ any) bool { b.Errorf("%v", k); return true })
	b.ReportMetric(float64(b.N)/elapsed.Minutes(), "runs/min")
	lat.report(b)
}

// The time from POST …/runs to the first stage's first log line arriving
// through logs?follow=1, as `buildit trigger --follow` sees it.
func BenchmarkTriggerToFirstLogLine(b *testing.B) {
	base, key := benchStack(b, map[string]string{"hello": helloKDL})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		var r apiview.Run
		if _, err := timed(hc, key, "POST", base+"/hello/runs", &r); err != nil {
			b.Fatal(err)
		}
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/hello/runs/%d/logs?stage=greet&follow=1", base, r.Number), nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		events := apiview.NewEventReader(res.Body)
		got := false
		for {
			ev, err := events.Next()
			if err != nil {
				break
			}
			if ev.Name == apiview.EventLine {
				got = true
				ds = append(ds, time.Since(t0))
				break
			}
		}
		res.Body.Close()
		if !got {
			b.Fatal("no log line")
		}
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
}
