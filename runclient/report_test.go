package runclient_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/executor/host"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/workflows"
)

// statusRepo is the connected repository of the report tests (the
// worker's database in production).
type statusRepo struct {
	id  uuid.UUID
	url string
}

func (s statusRepo) RepositoryForStatus(_ context.Context, _, id uuid.UUID) (string, string, string, string, error) {
	if id != s.id {
		return "", "", "", "", activities.ErrRepositoryGone
	}
	return "gitea", s.url, "", "GITEA_TOKEN", nil
}

// giteaStatuses stands in for Gitea's commit-status endpoint (POST
// /api/v1/repos/{owner}/{repo}/statuses/{sha}, as Gitea documents it):
// it keeps what it was sent and answers 201, or fail's code while fail
// says so (n counts the requests from 0).
type giteaStatuses struct {
	mu   sync.Mutex
	got  []map[string]string
	fail func(n int) int
}

func (g *giteaStatuses) start(t testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		body["path"], body["auth"] = r.URL.Path, r.Header.Get("Authorization")
		g.mu.Lock()
		n := len(g.got)
		g.got = append(g.got, body)
		g.mu.Unlock()
		if g.fail != nil {
			if code := g.fail(n); code != 0 {
				http.Error(w, `{"message":"down"}`, code)
				return
			}
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":1}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (g *giteaStatuses) posts() []map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]map[string]string(nil), g.got...)
}

const reportToken = "gitea_token_for_statuses"

// reportHarness is a harness whose worker reports statuses to forge (a
// stand-in's base URL), the repository being forge/o/r.
func reportHarness(t testing.TB, forge string) (*harness, *workflows.StatusReport) {
	h := setupWithoutWorker(t)
	acts := activities.New(activities.Shared{Sink: h.logs, Secrets: activities.MapSecrets{"GITEA_TOKEN": reportToken}})
	acts.Stages.Host = host.New(host.Options{InheritEnv: true})
	repoID := uuid.New()
	acts.Forges.Repositories = statusRepo{id: repoID, url: forge + "/o/r.git"}
	h.env.Serve(t, acts, false)
	return h, &workflows.StatusReport{
		TenantID: uuid.NewString(), RepositoryID: repoID.String(), Commit: "0123456789abcdef0123456789abcdef01234567",
		Context: "buildit/ci", TargetURL: "https://buildit.example/runs/42",
	}
}

const reportPipeline = `pipeline "ci"
stage "build" { run "echo build"; }
stage "test" needs="build" { run "echo test"; }
`

// A run on the embedded server, with its worker's ReportStatus and
// forge's client, tells the forge (a stand-in of Gitea's API) pending and
// then success, at the commit, with the run's URL and the token.
func TestReportStatusToTheForge(t *testing.T) {
	var forge giteaStatuses
	h, report := reportHarness(t, forge.start(t))
	st := h.run(t, reportPipeline, func(in *workflows.PipelineRunInput) {
		in.Report = report
	})
	if st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s", st.Status)
	}
	got := forge.posts()
	var states []string
	for _, p := range got {
		states = append(states, p["state"]+": "+p["description"])
		if p["path"] != "/api/v1/repos/o/r/statuses/"+report.Commit || p["context"] != "buildit/ci" ||
			p["target_url"] != report.TargetURL || !strings.Contains(p["auth"], reportToken) {
			t.Errorf("post %v", p)
		}
	}
	if len(states) != 2 || states[0] != "pending: running 2 stages" || !strings.HasPrefix(states[1], "success: 2 stages passed in ") {
		t.Errorf("the forge was told %q, want pending then success", states)
	}
}

// recordReportHistory writes pipeline_run_report_history.json: a run
// that reports its statuses, the forge failing the first report once
// (so the history holds a retried report).
func recordReportHistory(t *testing.T) {
	forge := giteaStatuses{fail: func(n int) int {
		if n == 0 {
			return http.StatusBadGateway
		}
		return 0
	}}
	h, report := reportHarness(t, forge.start(t))
	id, run := h.start(t, reportPipeline, func(in *workflows.PipelineRunInput) {
		in.Report = report
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := runclient.Wait(ctx, run)
	if err != nil || st.Status != buildit.RunSucceeded {
		t.Fatalf("run %s: %v", st.Status, err)
	}
	if n := len(forge.posts()); n != 3 {
		t.Fatalf("%d posts, want a failed pending, pending and success", n)
	}
	writeHistory(t, "pipeline_run_report_history.json", h, id)
}

// BenchmarkReportStatus is a two-stage run on the embedded server without
// and with commit statuses (pending and success posted to a Gitea
// stand-in on loopback): what reporting adds to a run's wall time.
func BenchmarkReportStatus(b *testing.B) {
	var forge giteaStatuses
	h, report := reportHarness(b, forge.start(b))
	for _, withReport := range []bool{false, true} {
		name := "none"
		if withReport {
			name = "pending+success"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				st := h.run(b, reportPipeline, func(in *workflows.PipelineRunInput) {
					if withReport {
						in.Report = report
					}
				})
				if st.Status != buildit.RunSucceeded {
					b.Fatalf("run %s", st.Status)
				}
			}
		})
	}
	if len(forge.posts()) == 0 {
		b.Fatal("no status reached the forge")
	}
}
