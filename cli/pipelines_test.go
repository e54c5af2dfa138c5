package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/apiview"
)

// buildit pipelines push --repository sends repository_id (an empty one
// too, which unlinks), and leaves it out without the flag, which keeps the
// pipeline's; list shows each pipeline's repository and file. The API
// stands in: the server's side is the api package's tests.
func TestPipelinesPushRepository(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "PUT" && r.URL.Path == "/api/v1/orgs/acme/tenants/web/pipelines/app":
			b, _ := io.ReadAll(r.Body)
			var body map[string]any
			if err := json.Unmarshal(b, &body); err != nil {
				t.Errorf("PUT body %s: %v", b, err)
			}
			mu.Lock()
			bodies = append(bodies, body)
			mu.Unlock()
			id, _ := body["repository_id"].(string)
			_ = json.NewEncoder(w).Encode(apiview.Pipeline{Name: "app", Version: 1, RepositoryID: id})
		case r.Method == "GET" && r.URL.Path == "/api/v1/orgs/acme/tenants/web/pipelines":
			_ = json.NewEncoder(w).Encode(apiview.List[apiview.Pipeline]{Items: []apiview.Pipeline{
				{Name: "app", Version: 2, UpdatedAt: time.Now(), RepositoryID: "7d0c0000-0000-4000-8000-000000000001"},
				{Name: "lint", Version: 1, UpdatedAt: time.Now(), RepositoryID: "7d0c0000-0000-4000-8000-000000000001", RepositoryPath: ".buildit/lint.kdl"},
				{Name: "plain", Version: 1, UpdatedAt: time.Now()},
			}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("BUILDIT_CONFIG", filepath.Join(t.TempDir(), "credentials.json"))
	t.Setenv("BUILDIT_URL", srv.URL)
	t.Setenv("BUILDIT_TOKEN", "bik_test")
	t.Setenv("BUILDIT_ORG", "acme")
	t.Setenv("BUILDIT_TENANT", "web")

	app := writeFile(t, "app.kdl", "pipeline \"app\"\nstage \"a\" { run \"true\"; }\n")
	const id = "7d0c0000-0000-4000-8000-000000000001"
	for _, args := range [][]string{
		{"pipelines", "push", app, "--repository", id},
		{"pipelines", "push", app, "--repository", ""},
		{"pipelines", "push", app},
	} {
		if code, stdout, stderr := run(t, args...); code != 0 || !strings.Contains(stdout, "pushed pipeline app") {
			t.Fatalf("%v: %d %s%s", args, code, stdout, stderr)
		}
	}
	if len(bodies) != 3 {
		t.Fatalf("%d PUTs, want 3", len(bodies))
	}
	if got, ok := bodies[0]["repository_id"]; !ok || got != id {
		t.Errorf("--repository ID sent repository_id %v", got)
	}
	if got, ok := bodies[1]["repository_id"]; !ok || got != "" {
		t.Errorf(`--repository "" sent repository_id %v (present %v), want ""`, got, ok)
	}
	if got, ok := bodies[2]["repository_id"]; ok {
		t.Errorf("without --repository, repository_id %v was sent: it would change the pipeline's", got)
	}

	code, stdout, stderr := run(t, "pipelines", "list")
	if code != 0 {
		t.Fatalf("list: %d %s", code, stderr)
	}
	for _, want := range []string{"REPOSITORY", "app", id, "lint", id + " .buildit/lint.kdl", "plain"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, stdout)
		}
	}
}
