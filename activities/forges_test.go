package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/workflows"
)

// repoTable is a StatusRepositories over a map (the worker's database in
// production, workerstore).
type repoTable map[uuid.UUID]repoRow

type repoRow struct{ forge, url, apiURL, secret string }

func (m repoTable) RepositoryForStatus(_ context.Context, _, id uuid.UUID) (string, string, string, string, error) {
	r, ok := m[id]
	if !ok {
		return "", "", "", "", ErrRepositoryGone
	}
	return r.forge, r.url, r.apiURL, r.secret, nil
}

// clientFunc is a forge.Client made of a function.
type clientFunc func(ctx context.Context, repo forge.Repo, sha string, st forge.Status) error

func (f clientFunc) SetStatus(ctx context.Context, repo forge.Repo, sha string, st forge.Status) error {
	return f(ctx, repo, sha, st)
}

const forgeToken = "tok_s3cr3t_forge_token"

// forgesSetup returns Forges whose repository is a Gitea one with the
// token in the tenant's secret "GITEA_TOKEN", posting through client, and
// the report to make, and the activities' log.
func forgesSetup(t *testing.T, client func(token string) forge.Client) (*Forges, workflows.ReportStatusInput, *bytes.Buffer) {
	t.Helper()
	repoID := uuid.New()
	var logs bytes.Buffer
	a := New(Shared{Secrets: MapSecrets{"GITEA_TOKEN": forgeToken}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	f := a.Forges
	f.Repositories = repoTable{repoID: {forge: "gitea", url: "http://127.0.0.1:3000/o/r.git", secret: "GITEA_TOKEN"}}
	f.NewClient = func(kind forge.Kind, token string, _ *http.Client) forge.Client {
		if kind != forge.Gitea {
			t.Errorf("client of %q, want gitea", kind)
		}
		return client(token)
	}
	in := workflows.ReportStatusInput{
		StatusReport: workflows.StatusReport{TenantID: uuid.NewString(), RepositoryID: repoID.String(), Commit: "abc123", Context: "buildit/ci", TargetURL: "http://ci/runs/1"},
		State:        "success", Description: "2 stages passed in 3s",
	}
	return f, in, &logs
}

// A forge's answers become errors that Temporal retries, or not, as they
// deserve; none of them holds the token, even when the forge echoes it.
func TestSecurityReportStatusErrors(t *testing.T) {
	echo := " (you sent Authorization: token " + forgeToken + ")"
	for _, tc := range []struct {
		name      string
		err       error
		retryable bool
		delay     time.Duration
	}{
		{"rate limit", &forge.RateLimitError{RetryAfter: 42 * time.Second}, true, 42 * time.Second},
		{"rate limit far off", &forge.RateLimitError{RetryAfter: 3 * time.Hour}, true, MaxRetryAfter},
		{"rate limit, no time", &forge.RateLimitError{}, true, 0},
		{"unauthorized", &forge.StatusError{Code: 401, Body: "bad token" + echo}, false, 0},
		{"not found", &forge.StatusError{Code: 404, Body: "no such repository" + echo}, false, 0},
		{"unprocessable", &forge.StatusError{Code: 422, Body: "bad state" + echo}, false, 0},
		{"too many requests", &forge.StatusError{Code: 429, Body: "slow down" + echo}, true, 0},
		{"server error", &forge.StatusError{Code: 502, Body: "bad gateway" + echo}, true, 0},
		{"network", fmt.Errorf("post status: dial tcp 127.0.0.1:3000: connection refused%s", echo), true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, in, logs := forgesSetup(t, func(string) forge.Client {
				return clientFunc(func(context.Context, forge.Repo, string, forge.Status) error { return tc.err })
			})
			err := f.ReportStatus(context.Background(), in)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) {
				t.Fatalf("error %v (%T), want an application error", err, err)
			}
			if app.NonRetryable() == tc.retryable {
				t.Errorf("%v: non-retryable %v, want %v", err, app.NonRetryable(), !tc.retryable)
			}
			if app.NextRetryDelay() != tc.delay {
				t.Errorf("next retry delay %s, want %s", app.NextRetryDelay(), tc.delay)
			}
			if strings.Contains(err.Error(), forgeToken) || strings.Contains(logs.String(), forgeToken) {
				t.Errorf("the token leaked: error %q, log %q", err, logs)
			}
			if app.Unwrap() != nil {
				// The cause would go into history with its own words.
				t.Errorf("the error carries its cause: %v", app.Unwrap())
			}
		})
	}
}

func TestReportStatusPosts(t *testing.T) {
	var got []string
	f, in, logs := forgesSetup(t, func(token string) forge.Client {
		return clientFunc(func(_ context.Context, repo forge.Repo, sha string, st forge.Status) error {
			got = append(got, fmt.Sprintf("%s %s %s %+v", token, repo.Kind, sha, st))
			return nil
		})
	})
	if err := f.ReportStatus(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	want := forgeToken + " gitea abc123 {State:success Context:buildit/ci Description:2 stages passed in 3s TargetURL:http://ci/runs/1}"
	if len(got) != 1 || !strings.HasPrefix(got[0], want[:len(forgeToken)+len(" gitea abc123")]) {
		t.Fatalf("posted %q, want %q", got, want)
	}
	if strings.Contains(logs.String(), forgeToken) {
		t.Errorf("the token is in the log: %s", logs)
	}
}

// What no retry mends fails at once: a repository that is gone, a token
// secret the tenant does not have, a worker without a database.
func TestReportStatusCannotReport(t *testing.T) {
	never := func(string) forge.Client {
		return clientFunc(func(context.Context, forge.Repo, string, forge.Status) error {
			return errors.New("posted a status it should not have")
		})
	}
	t.Run("repository gone", func(t *testing.T) {
		f, in, _ := forgesSetup(t, never)
		in.RepositoryID = uuid.NewString()
		nonRetryable(t, "gone", f.ReportStatus(context.Background(), in), "not connected")
	})
	t.Run("no token secret", func(t *testing.T) {
		f, in, _ := forgesSetup(t, never)
		f.Secrets = MapSecrets{}
		nonRetryable(t, "no secret", f.ReportStatus(context.Background(), in), `no secret "GITEA_TOKEN"`)
	})
	t.Run("no database", func(t *testing.T) {
		f, in, _ := forgesSetup(t, never)
		f.Repositories = nil
		nonRetryable(t, "no database", f.ReportStatus(context.Background(), in), "no database")
	})
	t.Run("not an ID", func(t *testing.T) {
		f, in, _ := forgesSetup(t, never)
		in.RepositoryID = "../x"
		nonRetryable(t, "bad ID", f.ReportStatus(context.Background(), in), "not an ID")
	})
	t.Run("database away", func(t *testing.T) {
		f, in, _ := forgesSetup(t, never)
		f.Secrets = secretsFunc(func() (map[string]string, error) { return nil, errors.New("connection refused") })
		err := f.ReportStatus(context.Background(), in)
		var app *temporal.ApplicationError
		if err == nil || errors.As(err, &app) && app.NonRetryable() {
			t.Errorf("database away: %v, want a retryable error", err)
		}
	})
}

type secretsFunc func() (map[string]string, error)

func (f secretsFunc) Secrets(context.Context, *buildit.RunRef, []string) (map[string]string, error) {
	return f()
}

// giteaStandIn follows Gitea's statuses API (POST
// /api/v1/repos/{owner}/{repo}/statuses/{sha}, token in Authorization):
// a stand-in for the tests that need a forge to misbehave, which the real
// Gitea (forges_gitea_test.go) does not. answer gives each request's
// status code; a refusal's body echoes the Authorization it got, as a
// careless proxy might.
func giteaStandIn(t *testing.T, answer func(n int) (code int, header http.Header)) (*httptest.Server, *[]map[string]string) {
	t.Helper()
	var mu sync.Mutex
	var got []map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		n := len(got)
		body["path"], body["auth"] = r.URL.Path, r.Header.Get("Authorization")
		got = append(got, body)
		mu.Unlock()
		code, h := answer(n)
		for k, v := range h {
			w.Header()[k] = v
		}
		if code >= 300 {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"message":"refused %s"}`, r.Header.Get("Authorization"))
			return
		}
		w.WriteHeader(code)
		fmt.Fprint(w, `{"id":1,"status":"success"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

// Through forge's own client, over HTTP: the status reaches Gitea's
// endpoint with the token, and the forge's refusals, rate limits and
// failures are sorted as they should be, without the token they echo.
func TestSecurityReportStatusOverHTTP(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      int
		header    http.Header
		retryable bool
		delay     time.Duration
	}{
		{"created", http.StatusCreated, nil, false, 0},
		{"unauthorized", http.StatusUnauthorized, nil, false, 0},
		{"rate limited", http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}}, true, 7 * time.Second},
		{"forge down", http.StatusBadGateway, nil, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, got := giteaStandIn(t, func(int) (int, http.Header) { return tc.code, tc.header })
			f, in, logs := forgesSetup(t, nil)
			f.NewClient = nil
			f.Repositories = repoTable{uuid.MustParse(in.RepositoryID): {forge: "gitea", url: srv.URL + "/o/r.git", secret: "GITEA_TOKEN"}}
			err := f.ReportStatus(context.Background(), in)
			if len(*got) != 1 {
				t.Fatalf("%d requests", len(*got))
			}
			req := (*got)[0]
			if req["path"] != "/api/v1/repos/o/r/statuses/abc123" || !strings.Contains(req["auth"], forgeToken) ||
				req["state"] != "success" || req["context"] != "buildit/ci" || req["target_url"] != "http://ci/runs/1" {
				t.Errorf("request %v", req)
			}
			if tc.code < 300 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var app *temporal.ApplicationError
			if !errors.As(err, &app) {
				t.Fatalf("error %v, want an application error", err)
			}
			if app.NonRetryable() == tc.retryable || app.NextRetryDelay().Round(time.Second) != tc.delay {
				t.Errorf("%v: non-retryable %v, next retry %s", err, app.NonRetryable(), app.NextRetryDelay())
			}
			if strings.Contains(err.Error(), forgeToken) || strings.Contains(logs.String(), forgeToken) {
				t.Errorf("the token leaked: error %q, log %q", err, logs)
			}
		})
	}
}
