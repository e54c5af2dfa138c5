package api

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/internal/giteatest"
)

// giteaSetup is a real Gitea and a BuildIt API (real Postgres, embedded
// Temporal, a worker and the server's worker) whose tenant acme/web has
// connected a repository of that Gitea, with the webhook registered in
// Gitea with the URL and secret BuildIt gave.
type giteaSetup struct {
	e     *env
	g     *giteatest.Gitea
	repo  giteatest.Repo
	owner *client
}

func startGitea(t testing.TB) giteaSetup {
	t.Helper()
	g := giteatest.Start(t)
	e := setup(t).withRuns(t)
	// Gitea and the API are on 127.0.0.1 over plain HTTP.
	e.allowHTTPRepositories()
	e.api.cfg.PublicURL, e.svc.PublicURL = e.srv.URL, e.srv.URL
	e.serveHooks(t)
	repo := g.CreateRepo(t, "app")
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "PUT", "/orgs/acme/tenants/web/secrets/GITEA_TOKEN", map[string]string{"value": g.Token})
	var r apiview.Repository
	owner.must(201, "POST", "/orgs/acme/tenants/web/repositories", map[string]any{
		"forge": "gitea", "url": repo.CloneURL, "token_secret": "GITEA_TOKEN",
	}).json(t, &r)
	g.AddWebhook(t, repo, r.WebhookURL, r.WebhookSecret, "push", "pull_request")
	return giteaSetup{e: e, g: g, repo: repo, owner: owner}
}

// waitExists polls path until it answers 200 (a run a webhook starts
// appears some time after the push), for up to a minute.
func (s giteaSetup) waitExists(t testing.TB, path string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		r := s.owner.do("GET", path, nil)
		if r.status == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d %s\nBuildIt's log:\n%s\nGitea's log:\n%s", path, r.status, r.body, s.e.logs.String(), s.g.Log())
		}
	}
}

const giteaCI = "pipeline \"ci\"\non { push { branch \"main\"; }; }\nstage \"test\" { run \"echo built $BUILDIT_COMMIT\"; }\n"

// A push to a real Gitea reaches BuildIt as Gitea's own webhook, and the
// repository's pipeline runs at the pushed commit.
func TestGiteaPushRunsPipeline(t *testing.T) {
	t.Parallel()
	s := startGitea(t)
	sha := s.g.Push(t, s.repo, "main", map[string]string{
		".buildit/ci.kdl":  giteaCI,
		".buildit/bad.kdl": "pipeline \"bad\"\nstage \"x\" { nonsense 1; }\n",
		"version":          "1\n",
	}, "add ci")
	s.waitExists(t, "/orgs/acme/tenants/web/pipelines/ci/runs/1")
	run := s.owner.waitRun("/orgs/acme/tenants/web/pipelines/ci/runs/1", ended)
	if run.Status != buildit.RunSucceeded || run.Commit != sha || run.Branch != "main" || run.Event != "push" || run.Trigger != "webhook" {
		t.Fatalf("the run: %+v\n%s", run, s.g.Log())
	}
	var logs apiview.Logs
	s.owner.must(200, "GET", "/orgs/acme/tenants/web/pipelines/ci/runs/1/logs?stage=test", nil).json(t, &logs)
	if len(logs.Lines) != 1 || logs.Lines[0].Line != "built "+sha {
		t.Errorf("the log: %+v", logs.Lines)
	}
	// The invalid file's failure reached Gitea as a commit status, posted
	// by the RepositoryEvent workflow with the repository's token (before
	// ci's run started: files go in order).
	var bad *giteatest.Status
	for _, st := range s.g.Statuses(t, s.repo, sha) {
		if st.Context == "buildit/bad" {
			bad = &st
			break
		}
	}
	if bad == nil || bad.State != "failure" || !strings.Contains(bad.Description, ".buildit/bad.kdl:2:") {
		t.Errorf("the invalid file's status in Gitea: %+v", bad)
	}
	// The run reported itself: Gitea's statuses API shows success for
	// buildit/ci at the commit, linking to the run (the final report is
	// posted after the run's result is recorded, so poll for it).
	var ci *giteatest.Status
	for deadline := time.Now().Add(time.Minute); ci == nil || ci.State != "success"; time.Sleep(200 * time.Millisecond) {
		ci = nil
		for _, st := range s.g.Statuses(t, s.repo, sha) {
			if st.Context == "buildit/ci" && (ci == nil || st.State == "success") {
				ci = &st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("buildit/ci's status in Gitea: %+v\nBuildIt's log:\n%s", ci, s.e.logs.String())
		}
	}
	if !strings.HasSuffix(ci.TargetURL, "/api/v1/orgs/acme/tenants/web/pipelines/ci/runs/1") {
		t.Errorf("buildit/ci's target URL: %q", ci.TargetURL)
	}
}

// BenchmarkGiteaPushToFirstStage measures from a push to the real Gitea
// (before git push starts) to the first stage's start, as the run
// records it, over several pushes; it reports the median.
func BenchmarkGiteaPushToFirstStage(b *testing.B) {
	s := startGitea(b)
	var took, pushed, created, received []time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		s.g.Push(b, s.repo, "main", map[string]string{".buildit/ci.kdl": giteaCI, "n": time.Now().String()}, "change")
		pushed = append(pushed, time.Since(start))
		path := "/orgs/acme/tenants/web/pipelines/ci/runs/" + itoa(i+1)
		s.waitExists(b, path)
		run := s.owner.waitRun(path, func(v apiview.Run) bool { return len(v.Stages) > 0 && v.Stages[0].StartedAt != nil })
		took = append(took, run.Stages[0].StartedAt.Sub(start))
		created = append(created, run.CreatedAt.Sub(start))
		var at time.Time
		if err := s.e.store.Pool().QueryRow(context.Background(), "SELECT max(received_at) FROM webhook_deliveries").Scan(&at); err != nil {
			b.Fatal(err)
		}
		received = append(received, at.Sub(start))
		s.owner.waitRun(path, ended)
	}
	b.StopTimer()
	median := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Milliseconds())
	}
	// median-ms is the measure; pushed-ms (git push returned),
	// hook-received-ms (the webhook taken by BuildIt) and run-created-ms
	// (the run's row made, after the RepositoryEvent workflow's fetch)
	// say where the time goes.
	b.ReportMetric(median(took), "median-ms")
	b.ReportMetric(median(pushed), "pushed-ms")
	b.ReportMetric(median(received), "hook-received-ms")
	b.ReportMetric(median(created), "run-created-ms")
	b.ReportMetric(0, "ns/op")
}
