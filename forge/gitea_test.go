package forge_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/internal/giteatest"
)

// recordEnv, set to 1, makes TestGitea write the deliveries it checks to
// testdata/gitea (NAME.json, the body, and NAME.headers.json) for
// TestParseGiteaRecorded.
const recordEnv = "BUILDIT_RECORD_GITEA"

// hookSink receives a real Gitea's webhooks, verifies and parses them
// with forge as BuildIt's handler will, and keeps them.
type hookSink struct {
	t      *testing.T
	secret []byte
	mu     sync.Mutex
	got    []received
}

type received struct {
	header http.Header
	body   []byte
	ev     forge.Event
}

func (s *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := forge.Verify(forge.Gitea, s.secret, r.Header, body); err != nil {
		s.t.Errorf("a real Gitea delivery failed verification: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	ev, err := forge.Parse(forge.Gitea, r.Header, body)
	if err != nil {
		s.t.Errorf("a real Gitea delivery (%s) did not parse: %v", r.Header.Get("X-Gitea-Event"), err)
	}
	s.mu.Lock()
	s.got = append(s.got, received{r.Header.Clone(), body, ev})
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// wait answers with the first delivery ok accepts, failing after 20 s.
func (s *hookSink) wait(t *testing.T, what string, ok func(received) bool) received {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		for _, r := range s.got {
			if ok(r) {
				s.mu.Unlock()
				return r
			}
		}
		s.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no delivery: %s", what)
	return received{}
}

func record(t *testing.T, name string, r received) {
	t.Helper()
	if os.Getenv(recordEnv) != "1" {
		return
	}
	keep := map[string]string{}
	for _, k := range []string{"X-Gitea-Event", "X-Gitea-Event-Type", "X-Gitea-Delivery", "X-Gitea-Signature", "X-Hub-Signature-256", "Content-Type"} {
		keep[k] = r.header.Get(k)
	}
	h, _ := json.MarshalIndent(keep, "", "  ")
	dir := filepath.Join("testdata", "gitea")
	if err := os.WriteFile(filepath.Join(dir, name+".json"), r.body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".headers.json"), append(h, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGitea runs forge against a real Gitea (internal/giteatest): its
// webhooks verified and parsed, commit statuses posted and read back,
// a private repository cloned with GitAuthEnv, and a user signed in
// through its OAuth2 provider and fetched.
func TestGitea(t *testing.T) {
	g := giteatest.Start(t)
	ctx := context.Background()
	const secret = "hook-s3cret"
	sink := &hookSink{t: t, secret: []byte(secret)}
	hooks := httptest.NewServer(sink)
	defer hooks.Close()

	repo := g.CreateRepo(t, "app")
	first := g.Push(t, repo, "main", map[string]string{"README.md": "# app\n"}, "first")
	g.AddWebhook(t, repo, hooks.URL+"/hook", secret, "push", "create", "pull_request")

	t.Run("webhooks", func(t *testing.T) {
		sha := g.Push(t, repo, "main", map[string]string{".buildit/ci.kdl": "pipeline \"ci\"\n", "README.md": "# app\n\nmore\n"}, "add ci [skip ci]")
		r := sink.wait(t, "push to main", func(r received) bool { return r.ev.Commit == sha && r.ev.Kind == forge.EventPush })
		record(t, "push", r)
		want := forge.Event{Kind: forge.EventPush, Delivery: r.header.Get("X-Gitea-Delivery"), Repository: repo.CloneURL,
			DefaultBranch: "main", Branch: "main", Commit: sha, Before: first, Author: giteatest.AuthorName,
			Message: "add ci [skip ci]\n", Changed: []string{".buildit/ci.kdl", "README.md"}}
		if !reflect.DeepEqual(r.ev, want) || want.Delivery == "" {
			t.Errorf("push:\n got  %+v\n want %+v", r.ev, want)
		}

		// Six commits in one push: Gitea lists five, so the changes are
		// unknown.
		dir := g.Checkout(t, repo, "main")
		for i := range 6 {
			_ = os.WriteFile(filepath.Join(dir, "f.txt"), []byte(strings.Repeat("x", i+1)), 0o644)
			giteatest.Git(t, dir, "add", "--all")
			giteatest.Git(t, dir, "commit", "--quiet", "-m", "step")
		}
		many := giteatest.Git(t, dir, "rev-parse", "HEAD")
		giteatest.Git(t, dir, "push", "--quiet", "origin", "HEAD:refs/heads/main")
		r = sink.wait(t, "push of six commits", func(r received) bool { return r.ev.Commit == many })
		record(t, "push-six-commits", r)
		if r.ev.Kind != forge.EventPush || r.ev.Changed != nil {
			t.Errorf("six commits: %s, changed %q; want push, nil", r.ev.Kind, r.ev.Changed)
		}

		// A new branch: its create event is ignored, its push has no
		// known changes.
		feat := g.Push(t, repo, "feature", map[string]string{"feature.go": "package f\n"}, "feature")
		r = sink.wait(t, "push of a new branch", func(r received) bool { return r.ev.Commit == feat && r.ev.Kind == forge.EventPush })
		record(t, "push-new-branch", r)
		if r.ev.Branch != "feature" || r.ev.Before != "" || r.ev.Changed != nil {
			t.Errorf("new branch: %+v", r.ev)
		}
		r = sink.wait(t, "create event", func(r received) bool { return r.header.Get("X-Gitea-Event") == "create" })
		record(t, "create", r)
		if r.ev.Kind != "" || r.ev.Ignored == "" {
			t.Errorf("create: %+v", r.ev)
		}

		// A tag.
		tagged := g.PushTag(t, repo, "v1.0.0", "main")
		r = sink.wait(t, "tag push", func(r received) bool { return r.ev.Kind == forge.EventTag })
		record(t, "push-tag", r)
		if r.ev.Tag != "v1.0.0" || r.ev.Commit != tagged || r.ev.Branch != "" {
			t.Errorf("tag: %+v, want v1.0.0 at %s", r.ev, tagged)
		}

		// An annotated tag: the tagged commit, not the tag object.
		dir = g.Checkout(t, repo, "main")
		giteatest.Git(t, dir, "tag", "-a", "-m", "release 1.1", "v1.1.0")
		object := giteatest.Git(t, dir, "rev-parse", "v1.1.0")
		giteatest.Git(t, dir, "push", "--quiet", "origin", "refs/tags/v1.1.0")
		r = sink.wait(t, "annotated tag push", func(r received) bool { return r.ev.Tag == "v1.1.0" })
		record(t, "push-annotated-tag", r)
		if r.ev.Commit != many || object == many {
			t.Errorf("annotated tag: commit %s, want %s (tag object %s)", r.ev.Commit, many, object)
		}

		// A pull request: opened, synchronized, closed (ignored), reopened.
		n := g.OpenPR(t, repo, "feature", "main", "Add the feature")
		pr := func(action string) received {
			return sink.wait(t, "pull request "+action, func(r received) bool { return r.ev.Kind == forge.EventPullRequest && r.ev.Action == action })
		}
		r = pr("opened")
		record(t, "pull_request-opened", r)
		wantPR := forge.Event{Kind: forge.EventPullRequest, Delivery: r.header.Get("X-Gitea-Delivery"), Repository: repo.CloneURL,
			DefaultBranch: "main", Branch: "feature", Commit: feat, PR: n, Base: "main", Action: "opened",
			HeadRepository: repo.CloneURL, Author: giteatest.AdminUser, Message: "Add the feature"}
		if !reflect.DeepEqual(r.ev, wantPR) {
			t.Errorf("pull request:\n got  %+v\n want %+v", r.ev, wantPR)
		}
		feat2 := g.Push(t, repo, "feature", map[string]string{"feature.go": "package f // 2\n"}, "more feature")
		r = pr("synchronized")
		record(t, "pull_request-synchronized", r)
		if r.ev.Commit != feat2 || r.ev.PR != n || r.ev.Fork {
			t.Errorf("synchronized: %+v, want commit %s", r.ev, feat2)
		}
		g.API(t, http.MethodPatch, "/repos/"+repo.FullName+"/pulls/"+itoa(int64(n)), map[string]string{"state": "closed"}, nil)
		r = sink.wait(t, "pull request closed", func(r received) bool {
			var p struct{ Action string }
			return r.header.Get("X-Gitea-Event") == "pull_request" && json.Unmarshal(r.body, &p) == nil && p.Action == "closed"
		})
		record(t, "pull_request-closed", r)
		if r.ev.Kind != "" || !strings.Contains(r.ev.Ignored, "closed") {
			t.Errorf("closed: %+v", r.ev)
		}
		g.API(t, http.MethodPatch, "/repos/"+repo.FullName+"/pulls/"+itoa(int64(n)), map[string]string{"state": "open"}, nil)
		r = pr("reopened")
		record(t, "pull_request-reopened", r)
		if r.ev.Commit != feat2 {
			t.Errorf("reopened: %+v", r.ev)
		}
	})

	t.Run("statuses", func(t *testing.T) {
		sha := g.Push(t, repo, "main", map[string]string{"s.txt": "s\n"}, "status")
		r, err := forge.ParseRepo(forge.Gitea, repo.CloneURL, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.APIURL != g.APIURL {
			t.Fatalf("APIURL %s, want %s", r.APIURL, g.APIURL)
		}
		c := forge.NewClient(forge.Gitea, g.Token, nil)
		long := strings.Repeat("d", 300)
		for _, st := range []forge.Status{
			{State: forge.StatePending, Context: "buildit/ci", Description: "running", TargetURL: "http://127.0.0.1:8080/runs/1"},
			{State: forge.StateSuccess, Context: "buildit/ci", Description: "passed", TargetURL: "http://127.0.0.1:8080/runs/1"},
			{State: forge.StateFailure, Context: "buildit/lint", Description: long, TargetURL: "http://127.0.0.1:8080/runs/2"},
			{State: forge.StateError, Context: "buildit/deploy", Description: "broken pipeline", TargetURL: ""},
		} {
			if err := c.SetStatus(ctx, r, sha, st); err != nil {
				t.Fatalf("%s: %v", st.State, err)
			}
		}
		// Every status posted is listed (Gitea's order within one second
		// is not defined, so not "newest first").
		got := map[giteatest.Status]bool{}
		for _, s := range g.Statuses(t, repo, sha) {
			got[s] = true
		}
		for _, w := range []giteatest.Status{
			{State: "pending", Context: "buildit/ci", Description: "running", TargetURL: "http://127.0.0.1:8080/runs/1"},
			{State: "success", Context: "buildit/ci", Description: "passed", TargetURL: "http://127.0.0.1:8080/runs/1"},
			{State: "failure", Context: "buildit/lint", Description: strings.Repeat("d", 139) + "…", TargetURL: "http://127.0.0.1:8080/runs/2"},
			{State: "error", Context: "buildit/deploy", Description: "broken pipeline"},
		} {
			if !got[w] {
				t.Errorf("status %+v not listed; got %+v", w, got)
			}
		}
		if len(got) != 4 {
			t.Errorf("%d statuses listed, want 4", len(got))
		}
		// A wrong token: Gitea's refusal, without the token.
		err = forge.NewClient(forge.Gitea, "0123456789abcdef", nil).SetStatus(ctx, r, sha, forge.Status{State: forge.StateSuccess, Context: "buildit/ci"})
		var se *forge.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusUnauthorized || strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("wrong token: %v", err)
		}
	})

	t.Run("clone a private repository", func(t *testing.T) {
		priv := g.CreateRepo(t, "private", giteatest.Private())
		sha := g.Push(t, priv, "main", map[string]string{"secret.txt": "s\n"}, "private")
		clone := func(env []string) (string, error) {
			return giteatest.RunGit(t.TempDir(), env, "clone", "--quiet", priv.CloneURL, "c")
		}
		if out, err := clone(nil); err == nil {
			t.Fatalf("cloned without credentials: %s", out)
		}
		if out, err := clone(mustAuthEnv(t, priv.CloneURL, "0123456789abcdef0123456789abcdef01234567")); err == nil {
			t.Fatalf("cloned with a wrong token: %s", out)
		}
		dir := t.TempDir()
		if out, err := giteatest.RunGit(dir, mustAuthEnv(t, priv.CloneURL, g.Token), "clone", "--quiet", priv.CloneURL, "c"); err != nil {
			t.Fatalf("clone with GitAuthEnv: %v\n%s", err, out)
		}
		if head := giteatest.Git(t, filepath.Join(dir, "c"), "rev-parse", "HEAD"); head != sha {
			t.Errorf("cloned HEAD %s, want %s", head, sha)
		}
		cfg, _ := os.ReadFile(filepath.Join(dir, "c", ".git", "config"))
		if strings.Contains(string(cfg), g.Token) {
			t.Error("the token is in .git/config")
		}
	})

	t.Run("oauth sign-in", func(t *testing.T) {
		const callback = "http://127.0.0.1:1/auth/callback"
		id, sec := g.CreateOAuthApp(t, "buildit-"+strings.ReplaceAll(t.Name(), "/", "-"), callback)
		conf := oauth2.Config{ClientID: id, ClientSecret: sec, RedirectURL: callback,
			Endpoint: forge.OAuthEndpoint(forge.Gitea, g.URL+"/"), Scopes: forge.OAuthScopes(forge.Gitea)}
		verifier := oauth2.GenerateVerifier()
		redirect := g.Authorize(t, g.BrowserLogin(t), conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier)))
		if redirect.Query().Get("state") != "state-1" || redirect.Query().Get("code") == "" {
			t.Fatalf("redirect %s", redirect)
		}
		tok, err := conf.Exchange(ctx, redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		hc := conf.Client(ctx, tok)
		u, err := forge.FetchUser(ctx, forge.Gitea, g.APIURL, hc)
		if err != nil {
			t.Fatal(err)
		}
		if u.Login != giteatest.AdminUser || u.Email != giteatest.AdminEmail || u.EmailVerified || u.Subject != "1" {
			t.Errorf("user %+v", u)
		}
		// read:user is all the token may do.
		resp, err := hc.Post(g.APIURL+"/user/repos", "application/json", strings.NewReader(`{"name":"nope"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("creating a repository with the sign-in token: %d, want 403", resp.StatusCode)
		}
	})
}

// mustAuthEnv is forge.GitAuthEnv for a Gitea repository.
func mustAuthEnv(t *testing.T, repoURL, token string) []string {
	t.Helper()
	env, err := forge.GitAuthEnv(forge.Gitea, repoURL, token)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
