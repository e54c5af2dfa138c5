package forge_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/forge"
)

const token = "ghp_s3cr3tT0ken"

// standIn is an httptest server standing in for a forge's status API: it
// checks the request the way the forge documents it and answers with code
// and headers.
type standIn struct {
	method, path string
	header       map[string]string
	body         map[string]any
	code         int
	answer       string
	answerHeader map[string]string
	calls        int
}

func (s *standIn) start(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls++
		if r.Method != s.method || r.URL.EscapedPath() != s.path {
			t.Errorf("%s %s, want %s %s", r.Method, r.URL.EscapedPath(), s.method, s.path)
		}
		for k, v := range s.header {
			if got := r.Header.Get(k); got != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
		b, _ := io.ReadAll(r.Body)
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("body %s: %v", b, err)
		}
		if want, _ := json.Marshal(s.body); string(b) != string(want) {
			gotNorm, _ := json.Marshal(got)
			if string(gotNorm) != string(want) {
				t.Errorf("body %s, want %s", gotNorm, want)
			}
		}
		for k, v := range s.answerHeader {
			w.Header().Set(k, v)
		}
		w.WriteHeader(s.code)
		_, _ = io.WriteString(w, s.answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

var status = forge.Status{State: forge.StatePending, Context: "buildit/ci", Description: "running", TargetURL: "https://ci.example.com/runs/42"}

// TestStatusGitHub posts to a stand-in that follows GitHub's documented
// "Create a commit status" endpoint (POST /repos/{owner}/{repo}/statuses/{sha}).
func TestStatusGitHub(t *testing.T) {
	s := &standIn{
		method: "POST", path: "/repos/octo-org/hello%20world/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e",
		header: map[string]string{"Authorization": "Bearer " + token, "Accept": "application/vnd.github+json",
			"X-GitHub-Api-Version": "2022-11-28", "Content-Type": "application/json"},
		body: map[string]any{"state": "pending", "context": "buildit/ci", "description": "running", "target_url": "https://ci.example.com/runs/42"},
		code: http.StatusCreated, answer: `{"id":1}`,
	}
	srv := s.start(t)
	repo := forge.Repo{Kind: forge.GitHub, APIURL: srv.URL, Owner: "octo-org", Name: "hello world"}
	c := forge.NewClient(forge.GitHub, token, srv.Client())
	if err := c.SetStatus(context.Background(), repo, "6dcb09b5b57875f334f61aebed695e2e4193db5e", status); err != nil {
		t.Fatal(err)
	}
	for _, state := range []string{forge.StateSuccess, forge.StateFailure, forge.StateError} {
		s.body["state"] = state
		st := status
		st.State = state
		if err := c.SetStatus(context.Background(), repo, "6dcb09b5b57875f334f61aebed695e2e4193db5e", st); err != nil {
			t.Fatal(err)
		}
	}
	// A long description is cut to GitHub's 140 characters.
	long := strings.Repeat("é", 200)
	s.body["description"] = strings.Repeat("é", 139) + "…"
	st := status
	st.State, st.Description = forge.StateError, long
	if err := c.SetStatus(context.Background(), repo, "6dcb09b5b57875f334f61aebed695e2e4193db5e", st); err != nil {
		t.Fatal(err)
	}
	if s.calls != 5 {
		t.Errorf("%d calls", s.calls)
	}
}

// TestStatusGitLab posts to a stand-in that follows GitLab's documented
// "Set the pipeline status of a commit" endpoint (POST
// /projects/:id/statuses/:sha, :id the URL-encoded path).
func TestStatusGitLab(t *testing.T) {
	s := &standIn{
		method: "POST", path: "/api/v4/projects/group%2Fsub%2Fproject/statuses/abc123",
		header: map[string]string{"PRIVATE-TOKEN": token, "Content-Type": "application/json"},
		body:   map[string]any{"state": "running", "name": "buildit/ci", "description": "running", "target_url": "https://ci.example.com/runs/42"},
		code:   http.StatusCreated, answer: `{"id":93}`,
	}
	srv := s.start(t)
	repo, err := forge.ParseRepo(forge.GitLab, srv.URL+"/group/sub/project.git", "")
	if err != nil {
		t.Fatal(err)
	}
	c := forge.NewClient(forge.GitLab, token, srv.Client())
	if err := c.SetStatus(context.Background(), repo, "abc123", status); err != nil {
		t.Fatal(err)
	}
	for state, want := range map[string]string{forge.StateSuccess: "success", forge.StateFailure: "failed", forge.StateError: "failed"} {
		s.body["state"] = want
		st := status
		st.State = state
		if err := c.SetStatus(context.Background(), repo, "abc123", st); err != nil {
			t.Fatal(err)
		}
	}
	// The same state twice: GitLab refuses the transition; it is set.
	s.code, s.answer = http.StatusBadRequest, `{"message":"Cannot transition status via :run from :running (Reason(s): Status cannot transition via \"run\")"}`
	s.body["state"] = "running"
	if err := c.SetStatus(context.Background(), repo, "abc123", status); err != nil {
		t.Fatalf("a repeated state: %v", err)
	}
	// Another 400 is an error.
	s.answer = `{"message":"400 Bad request - state is missing"}`
	var se *forge.StatusError
	if err := c.SetStatus(context.Background(), repo, "abc123", status); !errors.As(err, &se) || se.Code != 400 {
		t.Fatalf("err = %v, want a StatusError 400", err)
	}
}

func TestStatusErrors(t *testing.T) {
	now := time.Now()
	reset := now.Add(90 * time.Second)
	cases := []struct {
		name      string
		kind      forge.Kind
		code      int
		header    map[string]string
		answer    string
		rateLimit bool
		after     time.Duration // rounded to seconds; -1: any
	}{
		{"429 Retry-After seconds", forge.GitHub, 429, map[string]string{"Retry-After": "30"}, "", true, 30 * time.Second},
		{"429 Retry-After date", forge.Gitea, 429, map[string]string{"Retry-After": reset.UTC().Format(http.TimeFormat)}, "", true, 90 * time.Second},
		{"403 primary limit", forge.GitHub, 403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": itoa(reset.Unix())}, `{"message":"API rate limit exceeded"}`, true, 90 * time.Second},
		{"403 secondary limit", forge.GitHub, 403, map[string]string{"Retry-After": "60"}, `{"message":"You have exceeded a secondary rate limit"}`, true, 60 * time.Second},
		{"gitlab 429 RateLimit-Reset", forge.GitLab, 429, map[string]string{"RateLimit-Remaining": "0", "RateLimit-Reset": itoa(reset.Unix())}, "Retry later", true, 90 * time.Second},
		{"429 without a hint", forge.GitHub, 429, nil, "", true, 0},
		{"403 forbidden", forge.GitHub, 403, map[string]string{"X-RateLimit-Remaining": "4999"}, `{"message":"Resource not accessible by integration"}`, false, 0},
		{"404", forge.Gitea, 404, nil, `{"message":"not found"}`, false, 0},
		{"500 with a long body echoing the token", forge.GitHub, 500, nil, strings.Repeat("x", 150) + token + strings.Repeat("y", 300), false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(c.code)
				_, _ = io.WriteString(w, c.answer)
			}))
			defer srv.Close()
			repo := forge.Repo{Kind: c.kind, APIURL: srv.URL, Owner: "o", Name: "r"}
			err := forge.NewClient(c.kind, token, nil).SetStatus(context.Background(), repo, "abc", status)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), token) {
				t.Fatalf("the error holds the token: %v", err)
			}
			var rl *forge.RateLimitError
			var se *forge.StatusError
			switch {
			case c.rateLimit:
				if !errors.As(err, &rl) {
					t.Fatalf("err = %v, want a RateLimitError", err)
				}
				if d := rl.RetryAfter - c.after; d < -2*time.Second || d > 2*time.Second {
					t.Errorf("RetryAfter = %s, want about %s", rl.RetryAfter, c.after)
				}
			case !errors.As(err, &se):
				t.Fatalf("err = %v, want a StatusError", err)
			default:
				if se.Code != c.code || len(se.Body) > 200 {
					t.Errorf("StatusError %d with %d bytes", se.Code, len(se.Body))
				}
				if !strings.HasPrefix(c.answer, se.Body[:min(len(se.Body), 150)]) {
					t.Errorf("body %q is not the answer's start", se.Body)
				}
			}
		})
	}
	// A forge that is down: an error without the token.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	err := forge.NewClient(forge.GitHub, token, nil).SetStatus(context.Background(),
		forge.Repo{Kind: forge.GitHub, APIURL: srv.URL, Owner: "o", Name: "r"}, "abc", status)
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("down: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
