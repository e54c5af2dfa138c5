package triggers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/buildit-ci/buildit/internal/gittest"
	"github.com/buildit-ci/buildit/repourl"
)

// fetchPipelines reads the .kdl files of the pipelines directory at the
// commit (not those of a later commit, nor other files), sends the
// clone header on every request, and refuses what the policy refuses.
func TestFetchPipelines(t *testing.T) {
	t.Parallel()
	gittest.Need(t)
	root := t.TempDir()
	first := gittest.Repo(t, root, "app", map[string]string{
		".buildit/ci.kdl":     "pipeline \"ci\"\n",
		".buildit/notes.txt":  "not a pipeline",
		".buildit/sub/x.kdl":  "pipeline \"nested\"\n",
		"ci/elsewhere.kdl":    "pipeline \"elsewhere\"\n",
		".buildit/big.kdl":    strings.Repeat("x", 100),
		".buildit/other.kdl":  "pipeline \"other\"\n",
		"README":              "app\n",
		".buildit/z-last.kdl": "pipeline \"z\"\n",
	})
	gittest.Commit(t, filepath.Join(root, "app"), map[string]string{".buildit/later.kdl": "pipeline \"later\"\n"})
	backend, err := url.Parse(gittest.Serve(t, root))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var auth []string
	proxy := httputil.NewSingleHostReverseProxy(backend)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	f := fetcher{policy: repourl.Policy{AllowHTTP: true}, header: "Authorization: Basic dG9rZW4=", maxFile: 50}
	files, err := f.fetchPipelines(context.Background(), srv.URL+"/app", first, ".buildit/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, file := range files {
		got = append(got, file.Path+"="+strings.TrimSpace(string(file.Source)))
	}
	want := []string{".buildit/big.kdl=" + strings.Repeat("x", 51), `.buildit/ci.kdl=pipeline "ci"`, `.buildit/other.kdl=pipeline "other"`, `.buildit/z-last.kdl=pipeline "z"`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	mu.Lock()
	if len(auth) == 0 {
		t.Error("no request reached the server")
	}
	for _, a := range auth {
		if a != "Basic dG9rZW4=" {
			t.Errorf("a request's Authorization: %q", a)
		}
	}
	mu.Unlock()

	// No such directory: no pipelines.
	if files, err := f.fetchPipelines(context.Background(), srv.URL+"/app", first, "nope"); err != nil || len(files) != 0 {
		t.Errorf("a missing directory: %v %v", files, err)
	}
	for name, tc := range map[string]struct{ repo, commit, dir string }{
		"http refused": {srv.URL + "/app", first, ".buildit"},
		"not a sha":    {srv.URL + "/app", "main", ".buildit"},
		"dir escapes":  {srv.URL + "/app", first, "../x"},
		"local path":   {filepath.Join(root, "app"), first, ".buildit"},
	} {
		g := f
		if name == "http refused" {
			g.policy.AllowHTTP = false
		}
		if _, err := g.fetchPipelines(context.Background(), tc.repo, tc.commit, tc.dir); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// A tenant's repository is hostile to the server that reads it: more
// pipeline files than maxPipelineFiles are refused, naming the bound, and
// a redirect to another host does not take the forge token's header
// there: git sends an http.<url>.extraHeader after a redirect too, so an
// authenticated fetch follows none (forge.GitHeaderEnv). Before that rule
// the other host got the header.
func TestSecurityFetchBounds(t *testing.T) {
	t.Parallel()
	gittest.Need(t)
	root := t.TempDir()
	files := map[string]string{}
	for i := range maxPipelineFiles + 1 {
		files[fmt.Sprintf(".buildit/p%02d.kdl", i)] = fmt.Sprintf("pipeline \"p%d\"\n", i)
	}
	commit := gittest.Repo(t, root, "many", files)
	base := gittest.Serve(t, root)
	f := fetcher{policy: repourl.Policy{AllowHTTP: true}, header: "Authorization: Basic dG9rZW4=", maxFile: 1 << 10}
	if _, err := f.fetchPipelines(context.Background(), base+"/many", commit, ".buildit"); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d pipeline files", maxPipelineFiles)) {
		t.Errorf("%d files: %v, want the bound named", maxPipelineFiles+1, err)
	}

	// The repository's host redirects git to another host (localhost
	// rather than 127.0.0.1: another host to git), which serves the
	// repository too and records what it was sent.
	backend, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var elsewhere []string
	proxy := httputil.NewSingleHostReverseProxy(backend)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhere = append(elsewhere, r.Header.Get("Authorization"))
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(other.Close)
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL+r.URL.RequestURI(), http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	small := gittest.Repo(t, root, "app", map[string]string{".buildit/ci.kdl": "pipeline \"ci\"\n"})
	if _, err := f.fetchPipelines(context.Background(), redirect.URL+"/app", small, ".buildit"); err == nil {
		t.Error("an authenticated fetch followed a redirect to another host")
	}
	// Without the header, git follows it: the other host is reachable,
	// so what it was (not) sent above is what the rule decides.
	anon := fetcher{policy: f.policy, maxFile: f.maxFile}
	if _, err := anon.fetchPipelines(context.Background(), redirect.URL+"/app", small, ".buildit"); err != nil {
		t.Errorf("an anonymous fetch through the redirect: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range elsewhere {
		if a != "" {
			t.Errorf("the other host was sent Authorization %q", a)
		}
	}
}
