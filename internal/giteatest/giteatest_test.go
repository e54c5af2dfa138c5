package giteatest_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/buildit-ci/buildit/internal/giteatest"
)

type delivery struct {
	header http.Header
	body   []byte
}

// TestGitea runs the harness against a real Gitea: a repository, a push,
// the webhook it delivers (signed), a commit status round trip, a private
// repository's refusal without credentials, and an OAuth2 sign-in.
func TestGitea(t *testing.T) {
	g := giteatest.Start(t)

	var mu sync.Mutex
	var got []delivery
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivery{r.Header.Clone(), b})
		mu.Unlock()
	}))
	defer hooks.Close()

	repo := g.CreateRepo(t, "demo")
	if repo.FullName != "buildit/demo" || repo.DefaultBranch != "main" || repo.Private {
		t.Fatalf("repo = %+v", repo)
	}
	first := g.Push(t, repo, "main", map[string]string{"README.md": "# demo\n"}, "first commit")
	const secret = "s3cret-hook"
	g.AddWebhook(t, repo, hooks.URL+"/hook", secret, "push", "pull_request")
	sha := g.Push(t, repo, "main", map[string]string{".buildit/ci.kdl": "pipeline \"ci\"\n"}, "second commit")
	if sha == first || len(sha) != 40 {
		t.Fatalf("second push %q after %q", sha, first)
	}

	// Push events are queued: wait for the one whose after is sha.
	var push delivery
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range got {
			var p struct{ After string }
			if json.Unmarshal(d.body, &p) == nil && p.After == sha {
				push = d
				return true
			}
		}
		return false
	})
	if e := push.header.Get("X-Gitea-Event"); e != "push" {
		t.Errorf("X-Gitea-Event = %q", e)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(push.body)
	if sig := push.header.Get("X-Gitea-Signature"); sig != hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("X-Gitea-Signature = %q, not the HMAC of the body", sig)
	}
	var payload struct {
		Ref     string
		Commits []struct {
			Message string
			Author  struct{ Name string }
			Added   []string
		}
	}
	if err := json.Unmarshal(push.body, &payload); err != nil {
		t.Fatal(err)
	}
	if payload.Ref != "refs/heads/main" || len(payload.Commits) != 1 ||
		payload.Commits[0].Author.Name != giteatest.AuthorName ||
		strings.TrimSpace(payload.Commits[0].Message) != "second commit" ||
		len(payload.Commits[0].Added) != 1 || payload.Commits[0].Added[0] != ".buildit/ci.kdl" {
		t.Errorf("push payload = %+v", payload)
	}

	// A branch and a pull request.
	head := g.Push(t, repo, "feature", map[string]string{"f.txt": "f\n"}, "feature work")
	if n := g.OpenPR(t, repo, "feature", "main", "Feature"); n != 1 {
		t.Errorf("pull request number %d", n)
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range got {
			if d.header.Get("X-Gitea-Event") == "pull_request" && strings.Contains(string(d.body), head) {
				return true
			}
		}
		return false
	})
	tagged := g.PushTag(t, repo, "v1.0.0", "main")
	if tagged != sha {
		t.Errorf("tag on %s, want main's tip %s", tagged, sha)
	}

	// Commit status round trip through the API.
	g.API(t, http.MethodPost, "/repos/"+repo.FullName+"/statuses/"+sha, map[string]string{
		"state": "success", "context": "buildit/ci", "description": "passed", "target_url": "http://127.0.0.1:1/runs/1",
	}, nil)
	st := g.Statuses(t, repo, sha)
	want := giteatest.Status{State: "success", Context: "buildit/ci", Description: "passed", TargetURL: "http://127.0.0.1:1/runs/1"}
	if len(st) != 1 || st[0] != want {
		t.Errorf("statuses = %+v, want [%+v]", st, want)
	}

	// A private repository is not served without credentials.
	priv := g.CreateRepo(t, "secret", giteatest.Private())
	g.Push(t, priv, "main", map[string]string{"x": "x\n"}, "private")
	if out, err := gitClone(t, priv.CloneURL); err == nil {
		t.Errorf("anonymous clone of a private repository worked: %s", out)
	}

	// OAuth2: sign in to Gitea's web UI, authorize, exchange the code.
	const callback = "http://127.0.0.1:1/callback"
	id, sec := g.CreateOAuthApp(t, "buildit", callback)
	conf := oauth2.Config{ClientID: id, ClientSecret: sec, RedirectURL: callback,
		Endpoint: oauth2.Endpoint{AuthURL: g.URL + "/login/oauth/authorize", TokenURL: g.URL + "/login/oauth/access_token"}}
	verifier := oauth2.GenerateVerifier()
	browser := g.BrowserLogin(t)
	redirect := g.Authorize(t, browser, conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)))
	if redirect.Host != "127.0.0.1:1" || redirect.Path != "/callback" || redirect.Query().Get("state") != "st4te" {
		t.Fatalf("redirect %s", redirect)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := conf.Exchange(ctx, redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	resp, err := conf.Client(ctx, tok).Get(g.APIURL + "/user")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var user struct{ Login string }
	if err := json.NewDecoder(resp.Body).Decode(&user); err != nil || user.Login != giteatest.AdminUser {
		t.Errorf("/user with the OAuth2 token: %v %+v", err, user)
	}
	// A second authorization is granted already: straight to the callback.
	again := g.Authorize(t, browser, conf.AuthCodeURL("st4te-2"))
	if again.Query().Get("state") != "st4te-2" || again.Query().Get("code") == "" {
		t.Errorf("second redirect %s", again)
	}
}

func gitClone(t *testing.T, u string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	parsed, _ := url.Parse(u)
	parsed.User = nil
	return giteatest.RunGit(dir, nil, "clone", "--quiet", parsed.String(), "c")
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkStart measures Start: a fresh instance, migrations, the admin
// user and its token (go test -bench Start -benchtime 3x).
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		b.Run("one", func(b *testing.B) { giteatest.Start(b) })
	}
}
