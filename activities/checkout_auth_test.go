package activities

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/internal/gittest"
	"github.com/buildit-ci/buildit/workflows"
)

// privateGit serves the repositories under root with git's http-backend
// to requests that carry the Authorization header want, as a forge serves
// a private repository: 401 to the others. A request with another
// Authorization is answered with a smart-HTTP error that echoes it, to
// check that git's words about it do not carry it into the run's error.
// It returns the base URL and what the requests' URLs were.
func privateGit(t *testing.T, root, want string) (string, func() []string) {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
	}
	var mu sync.Mutex
	var urls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		urls = append(urls, r.URL.String())
		mu.Unlock()
		got := r.Header.Get("Authorization")
		switch got {
		case want:
			backend.ServeHTTP(w, r)
		case "":
			w.Header().Set("WWW-Authenticate", `Basic realm="forge"`)
			http.Error(w, "private repository", http.StatusUnauthorized)
		default:
			w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
			msg := "ERR you sent " + got + "\n"
			fmt.Fprintf(w, "%04x%s", len(msg)+4, msg)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), urls...)
	}
}

// A connected repository's clone authenticates with the token of the
// tenant's secret, sent as a header git gets from its environment: never
// in a URL the forge sees, and never in an error, even when the forge
// echoes what it was sent.
func TestSecurityAuthenticatedClone(t *testing.T) {
	gittest.Need(t)
	const token = "gta_private_clone_token"
	header := forge.CloneHeader(forge.Gitea, token)
	name, value, ok := strings.Cut(header, ": ")
	if !ok || !strings.EqualFold(name, "Authorization") {
		t.Fatalf("forge.CloneHeader = %q, want an Authorization header", header)
	}
	root := t.TempDir()
	gittest.Repo(t, root, "private", map[string]string{"secret.txt": "only with the token\n"})
	base, urls := privateGit(t, root, value)
	a := &ServerMode{WorkRoot: t.TempDir(), Clone: CloneOptions{Repositories: httpAllowed}, Secrets: MapSecrets{"FORGE_TOKEN": token, "WRONG": "not-the-token-" + token[4:]}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := workflows.PrepareInput{RunID: "t/p/1", Repository: base + "/private", Auth: &workflows.CloneAuth{TenantID: "t-1", Forge: "gitea", Secret: "FORGE_TOKEN"}}

	res, err := a.PrepareWorkspace(ctx, in)
	if err != nil {
		t.Fatalf("authenticated clone: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(res.Workspace, "secret.txt")); err != nil || string(b) != "only with the token\n" {
		t.Errorf("checkout: %q, %v", b, err)
	}
	for _, u := range urls() {
		if strings.Contains(u, token) {
			t.Errorf("the token is in a URL: %s", u)
		}
	}

	anonymous := in
	anonymous.Auth, anonymous.RunID = nil, "t/p/2"
	if _, err := a.PrepareWorkspace(ctx, anonymous); err == nil {
		t.Error("a clone without the token worked: the stand-in does not demand it")
	}

	wrong := in
	wrong.Auth = &workflows.CloneAuth{TenantID: "t-1", Forge: "gitea", Secret: "WRONG"}
	wrong.RunID = "t/p/3"
	_, err = a.PrepareWorkspace(ctx, wrong)
	if err == nil {
		t.Fatal("a clone with the wrong token worked")
	}
	if !strings.Contains(err.Error(), "you sent") {
		t.Errorf("the forge's words are not in the error (the check below proves nothing): %v", err)
	}
	wrongHeader := forge.CloneHeader(forge.Gitea, "not-the-token-"+token[4:])
	_, wrongValue, _ := strings.Cut(wrongHeader, ": ")
	_, cred, _ := strings.Cut(wrongValue, " ")
	for _, s := range []string{"not-the-token-" + token[4:], wrongValue, cred} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error holds the token (%q): %v", s, err)
		}
	}

	missing := in
	missing.Auth = &workflows.CloneAuth{TenantID: "t-1", Forge: "gitea", Secret: "NONE"}
	missing.RunID = "t/p/4"
	_, err = a.PrepareWorkspace(ctx, missing)
	nonRetryable(t, "no token secret", err, `the tenant has no secret "NONE"`)
}
