package cli

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The schedules commands against buildit server and buildit worker: the
// server syncs a pushed pipeline's schedule to Temporal and runs what it
// starts on its own task queue.
func TestSchedulesCLI(t *testing.T) {
	base := startStack(t, stackOpts{worker: true}).base
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	signUpAnn(t, hc, base)
	apiCall(t, hc, "POST", base+"/api/v1/orgs/acme/tenants", map[string]string{"name": "web"}, 201)
	var key struct{ Secret string }
	if err := json.Unmarshal(apiCall(t, hc, "POST", base+"/api/v1/orgs/acme/api-keys", map[string]any{
		"name": "ci", "tenant": "web", "scopes": []string{"pipelines:read", "pipelines:write", "runs:read", "runs:write"},
	}, 201), &key); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BUILDIT_CONFIG", filepath.Join(t.TempDir(), "credentials.json"))
	t.Setenv("BUILDIT_URL", base)
	t.Setenv("BUILDIT_ORG", "acme")
	t.Setenv("BUILDIT_TENANT", "web")
	t.Setenv("BUILDIT_TOKEN", key.Secret)

	app := writeFile(t, "app.kdl", `pipeline "app"
on {
    manual
    schedule "* * * * *" name="minutely" branch="main" timezone="Europe/Berlin"
}
stage "build" { run "echo scheduled $BUILDIT_SCHEDULE"; }
`)
	if code, stdout, stderr := run(t, "pipelines", "push", app); code != 0 {
		t.Fatalf("push: %d %s%s", code, stdout, stderr)
	}
	code, stdout, stderr := run(t, "schedules", "list")
	if code != 0 || !strings.Contains(stdout, "app") || !strings.Contains(stdout, "minutely") || !strings.Contains(stdout, "Europe/Berlin") ||
		!strings.Contains(stdout, "active") {
		t.Fatalf("list: %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, stderr = run(t, "schedules", "pause", "app", "minutely", "--note", "quiet week"); code != 0 || !strings.Contains(stdout, "paused") {
		t.Errorf("pause: %d %s%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "schedules", "list", "--json")
	var list []struct {
		Name   string
		Paused bool
		Note   string
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || code != 0 || len(list) != 1 || !list[0].Paused || list[0].Note != "quiet week" {
		t.Errorf("list --json after pause: %d %v %s", code, err, stdout)
	}
	if code, stdout, stderr = run(t, "schedules", "resume", "app", "minutely"); code != 0 || !strings.Contains(stdout, "active") {
		t.Errorf("resume: %d %s%s", code, stdout, stderr)
	}
	if code, _, stderr = run(t, "schedules", "backfill", "app", "minutely", "--from", "yesterday", "--to", "today"); code != 2 || !strings.Contains(stderr, "RFC 3339") {
		t.Errorf("backfill with bad times: %d %s", code, stderr)
	}
	if code, _, stderr = run(t, "schedules", "pause", "app", "hourly"); code == 0 || !strings.Contains(stderr, "not found") {
		t.Errorf("pause of an unknown schedule: %d %s", code, stderr)
	}

	// Two past minutes, both ends included: two runs.
	end := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	code, stdout, stderr = run(t, "schedules", "backfill", "app", "minutely", "--from", end.Add(-time.Minute).Format(time.RFC3339), "--to", end.Format(time.RFC3339))
	if code != 0 || !strings.Contains(stdout, "backfilling schedule minutely of app") {
		t.Fatalf("backfill: %d %s%s", code, stdout, stderr)
	}
	waitFor(t, func() bool {
		_, stdout, _ := run(t, "runs", "list", "app", "--json", "--status", "succeeded")
		var runs []struct{ Event, Branch string }
		_ = json.Unmarshal([]byte(stdout), &runs)
		return len(runs) == 2 && runs[0].Event == "schedule" && runs[1].Event == "schedule" && runs[0].Branch == "main"
	})
	if code, stdout, _ = run(t, "runs", "logs", "app", "1", "--stage", "build"); code != 0 || !strings.Contains(stdout, "scheduled minutely") {
		t.Errorf("logs: %d %s", code, stdout)
	}
}
