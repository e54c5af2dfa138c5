package fly_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/deploy"
	"github.com/buildit-ci/buildit/deploy/fly"
	"github.com/buildit-ci/buildit/deploy/fly/flytest"
)

// These tests run against flytest, a local stand-in for Fly's Machines API
// (no Fly account is reachable here).

const token = "fo1_test-token-value"

func backend(t *testing.T, srv *flytest.Server, app string) *fly.Backend {
	t.Helper()
	b, err := fly.New(fly.Config{App: app, Region: "ams", APIURL: srv.URL, Token: token, WaitTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func spec(rev int, image string) buildit.DeploySpec {
	return buildit.DeploySpec{Service: "api", Environment: "production", Revision: rev, Image: image, Replicas: 3, Port: 8080,
		HealthPath: "/healthz", Env: map[string]string{"LOG_LEVEL": "info"}, CPU: "500m", Memory: "512Mi", Labels: map[string]string{"tenant": "acme/web"}}
}

// waitStatus polls Status until it is not progressing or 5 s pass.
func waitStatus(t *testing.T, b *fly.Backend, s buildit.DeploySpec) deploy.Status {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		st, err := b.Status(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != buildit.RolloutProgressing || time.Now().After(deadline) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFirstDeployCreatesMachinesAndIsHealthy(t *testing.T) {
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	b := backend(t, srv, "acme-api")
	ctx := context.Background()
	if cur, err := b.Current(ctx, "api"); cur != nil || err != nil {
		t.Errorf("Current of an empty app = %+v, %v", cur, err)
	}
	s := spec(1, "registry.example.com/api:v1")
	if err := b.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	if creates, updates := srv.Releases(); creates != 3 || updates != 0 {
		t.Errorf("creates %d, updates %d: want 3 machines created", creates, updates)
	}
	for id, cfg := range srv.Configs("acme-api") {
		if !strings.Contains(string(cfg), `"guest":{"cpu_kind":"shared","cpus":1,"memory_mb":512}`) {
			t.Errorf("machine %s config %s: want 1 shared CPU and 512 MB", id, cfg)
		}
	}
	if st := waitStatus(t, b, s); st.State != buildit.RolloutHealthy {
		t.Errorf("status %+v", st)
	}
	// Applying the same revision again (a retried or replayed activity)
	// makes no release.
	if err := b.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	if creates, updates := srv.Releases(); creates != 3 || updates != 0 {
		t.Errorf("a repeated Apply made releases: creates %d, updates %d", creates, updates)
	}
}

func TestRollingUpdateOneMachineAtATime(t *testing.T) {
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	b := backend(t, srv, "acme-api")
	ctx := context.Background()
	if err := b.Apply(ctx, spec(1, "api:v1")); err != nil {
		t.Fatal(err)
	}
	s := spec(2, "api:v2")
	if err := b.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, updates := srv.Releases(); updates != 3 {
		t.Errorf("updates %d, want 3", updates)
	}
	for id, img := range srv.Images("acme-api") {
		if img != "api:v2" {
			t.Errorf("machine %s runs %s", id, img)
		}
	}
	// Rolling: every update is leased, then waited for before the next.
	var order []string
	for _, r := range srv.Requests() {
		switch {
		case strings.HasSuffix(r, "/lease") && strings.HasPrefix(r, "POST"):
			order = append(order, "lease")
		case strings.HasSuffix(r, "/wait"):
			order = append(order, "wait")
		}
	}
	want := "lease wait lease wait lease wait"
	if got := strings.Join(order[len(order)-6:], " "); got != want {
		t.Errorf("rolling order %q, want %q", got, want)
	}
	if st := waitStatus(t, b, s); st.State != buildit.RolloutHealthy {
		t.Errorf("status %+v", st)
	}
	if cur, err := b.Current(ctx, "api"); err != nil || cur == nil || cur.Revision != 2 || cur.Image != "api:v2" {
		t.Errorf("Current = %+v, %v", cur, err)
	}
}

func TestUnhealthyAndCrashingImages(t *testing.T) {
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	b := backend(t, srv, "acme-api")
	ctx := context.Background()
	if err := b.Apply(ctx, spec(1, "api:v1")); err != nil {
		t.Fatal(err)
	}
	// Started but failing its check: progressing, with the check's output,
	// until the deploy's health-check timeout says otherwise.
	bad := spec(2, "api:unhealthy")
	if err := b.Apply(ctx, bad); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	st, err := b.Status(ctx, bad)
	if err != nil || st.State != buildit.RolloutProgressing || !strings.Contains(st.Message, "500") {
		t.Errorf("unhealthy status %+v %v", st, err)
	}
	// A machine that fails to start: Apply reports it, and the rollout is
	// failed.
	crash := spec(3, "api:crash")
	crash.Strategy = "all-at-once"
	err = b.Apply(ctx, crash)
	if err == nil || !strings.Contains(err.Error(), "did not start") {
		t.Errorf("apply of a crashing image: %v", err)
	}
	if st := waitStatus(t, b, crash); st.State != buildit.RolloutFailed {
		t.Errorf("crash status %+v", st)
	}
	// Rolling back is applying the previous revision.
	if err := b.Apply(ctx, spec(1, "api:v1")); err != nil {
		t.Fatal(err)
	}
	if st := waitStatus(t, b, spec(1, "api:v1")); st.State != buildit.RolloutHealthy {
		t.Errorf("after rollback %+v", st)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	ctx := context.Background()

	// Wrong token: a configuration error that names the fix, not the token.
	wrong, _ := fly.New(fly.Config{App: "acme-api", APIURL: srv.URL, Token: "fo1_wrong-token"})
	err := wrong.Apply(ctx, spec(1, "api:v1"))
	if !deploy.IsConfig(err) || !strings.Contains(err.Error(), "token-secret") || strings.Contains(err.Error(), "fo1_wrong-token") {
		t.Errorf("wrong token: %v", err)
	}
	// No such app.
	b := backend(t, srv, "nope")
	if err := b.Apply(ctx, spec(1, "api:v1")); !deploy.IsConfig(err) || !strings.Contains(err.Error(), "fly apps create nope") {
		t.Errorf("missing app: %v", err)
	}
	// 429 with Retry-After, and 503: transient.
	b = backend(t, srv, "acme-api")
	srv.FailNext(1, 429, "7")
	err = b.Apply(ctx, spec(1, "api:v1"))
	if d, ok := deploy.RetryAfter(err); !ok || d != 7*time.Second || deploy.IsConfig(err) {
		t.Errorf("429: %v (retry after %v)", err, d)
	}
	srv.FailNext(1, 503, "")
	err = b.Apply(ctx, spec(1, "api:v1"))
	var te *deploy.TransientError
	if !errors.As(err, &te) {
		t.Errorf("503: %v", err)
	}
	// A bad spec the API refuses (no image): not retried.
	if err := b.Apply(ctx, spec(1, "")); !deploy.IsConfig(err) {
		t.Errorf("no image: %v", err)
	}
	// Settings checked before any call.
	for _, cfg := range []fly.Config{{Token: token}, {App: "a"}, {App: "a", Token: token, APIURL: "ftp://x"}} {
		if _, err := fly.New(cfg); !deploy.IsConfig(err) {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
	// After the faults, a retry of the same revision finishes the deploy.
	if err := b.Apply(ctx, spec(1, "api:v1")); err != nil {
		t.Fatal(err)
	}
	if creates, _ := srv.Releases(); creates != 3 {
		t.Errorf("creates %d after retries, want 3", creates)
	}
}

func TestLeaseHeldElsewhereIsTransient(t *testing.T) {
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	b := backend(t, srv, "acme-api")
	ctx := context.Background()
	if err := b.Apply(ctx, spec(1, "api:v1")); err != nil {
		t.Fatal(err)
	}
	// Someone else holds the first machine's lease.
	release := srv.HoldLease("acme-api")
	defer release()
	err := b.Apply(ctx, spec(2, "api:v2"))
	var te *deploy.TransientError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "lease") {
		t.Errorf("update of a leased machine: %v", err)
	}
}

func TestGuestFromResources(t *testing.T) {
	srv := flytest.New(token, "acme-api")
	defer srv.Close()
	b := backend(t, srv, "acme-api")
	for _, tc := range []struct{ cpu, memory, want string }{
		{"2", "1Gi", `"cpus":2,"memory_mb":1024`},
		{"", "100Mi", `"cpus":1,"memory_mb":256`},
		{"1500m", "", `"cpus":2,"memory_mb":256`},
	} {
		s := spec(1, "api:v1")
		s.CPU, s.Memory = tc.cpu, tc.memory
		if err := b.Apply(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		for id, cfg := range srv.Configs("acme-api") {
			if !strings.Contains(string(cfg), tc.want) {
				t.Errorf("cpu %q memory %q: machine %s config %s, want %s", tc.cpu, tc.memory, id, cfg, tc.want)
			}
		}
		// The next case is another revision of the same machines.
		srv.Reset("acme-api")
	}
	for _, bad := range []buildit.DeploySpec{{CPU: "two"}, {Memory: "lots"}, {Memory: "1Ti"}} {
		s := spec(1, "api:v1")
		s.CPU, s.Memory = bad.CPU, bad.Memory
		if err := b.Apply(context.Background(), s); !deploy.IsConfig(err) {
			t.Errorf("resources %+v: %v", bad, err)
		}
	}
}
