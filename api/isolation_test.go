package api

import (
	"strings"
	"testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/executor/docker"
	"github.com/buildit-ci/buildit/executor/docker/dockertest"
)

// logText is the stored log of a stage of a run, one line each.
func (c *client) logText(run, stage string) string {
	c.e.t.Helper()
	var logs apiview.Logs
	c.must(200, "GET", run+"/logs?stage="+stage, nil).json(c.e.t, &logs)
	var out []string
	for _, l := range logs.Lines {
		out = append(out, l.Line)
	}
	return strings.Join(out, "\n")
}

// A host stage of a server-mode run (on a server that allows them) runs
// `env`: its stored log holds the stage's own variables and none of the
// worker's, whose DATABASE_URL and BUILDIT_SECRET_KEY would open every
// tenant's secrets.
func TestSecurityHostStageSeesNoWorkerEnvironment(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://platform:db-password-canary@db/buildit")
	t.Setenv("BUILDIT_SECRET_KEY", "secret-key-canary")
	t.Setenv("BUILDIT_TEST_CANARY", "worker-env-canary")
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	src := "pipeline \"envdump\"\nenv MINE=\"pipeline-value\"\nstage \"dump\" {\n    run \"env\"\n}\n"
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "envdump", "source": src})
	base := "/orgs/acme/tenants/web/pipelines/envdump/runs"
	owner.must(201, "POST", base, nil)
	if done := owner.waitRun(base+"/1", ended); done.Status != buildit.RunSucceeded {
		t.Fatalf("run %s: %+v", done.Status, done.Stages)
	}
	out := owner.logText(base+"/1", "dump")
	for _, leak := range []string{"db-password-canary", "secret-key-canary", "worker-env-canary", "DATABASE_URL", "BUILDIT_SECRET_KEY"} {
		if strings.Contains(out, leak) {
			t.Errorf("the worker's environment reached the stage (%s):\n%s", leak, out)
		}
	}
	for _, want := range []string{"MINE=pipeline-value", "BUILDIT_STAGE=dump", "CI=true", "PATH=/usr/local/sbin:"} {
		if !strings.Contains(out, want) {
			t.Errorf("the stage's own %q is missing:\n%s", want, out)
		}
	}
}

// A server that runs stages only in containers (the default: no
// --default-image, no --allow-host-stages) refuses to start, or rerun, a
// run of a pipeline with stages without an image: 422, naming them. Stages
// with an image, approvals and deploys are fine.
func TestSecurityHostStagesRefusedWithoutAnImage(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": flowKDL})
	base := "/orgs/acme/tenants/web/pipelines/app/runs"
	// An earlier run, from when this server allowed host stages.
	owner.must(201, "POST", base, map[string]any{"env": map[string]string{"GREETING": "hi"}})
	owner.waitRun(base+"/1", ended)

	e.svc.AllowHostStages = false
	for _, path := range []string{base, base + "/1/rerun"} {
		r := owner.must(422, "POST", path, nil)
		if msg := string(r.body); r.code() != CodeInvalid || !strings.Contains(msg, "stages build, test have no image") ||
			!strings.Contains(msg, "only in containers") || !strings.Contains(msg, "defaults") {
			t.Errorf("POST %s: %s", path, r.body)
		}
	}
	var page struct{ Items []apiview.Run }
	owner.must(200, "GET", base, nil).json(t, &page)
	if len(page.Items) != 1 {
		t.Errorf("a refused start left a run: %d runs", len(page.Items))
	}

	contained := `pipeline "contained"
defaults { image "alpine:3.20"; }
stage "build" { run "true"; }
stage "gate" needs="build" { approval; }
`
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "contained", "source": contained})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines/contained/runs", nil)
}

// With --default-image, a stage without an image runs in that image: the
// run succeeds, in a container, on a server that refuses host stages.
func TestSecurityDefaultImageRunsStagesInContainers(t *testing.T) {
	t.Parallel()
	image := dockertest.Image(t)
	e := setup(t).withRunsAnd(t, func(a *activities.Activities) {
		a.Stages.Docker = docker.New(dockertest.Client(t), docker.Options{})
		a.Stages.AllowHostStages = false
	})
	e.svc.AllowHostStages = false
	e.svc.DefaultImage = image
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	src := "pipeline \"app\"\nstage \"where\" {\n    run \"pwd\" \"test -e /.dockerenv && echo in-a-container\"\n}\n"
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": src})
	base := "/orgs/acme/tenants/web/pipelines/app/runs"
	owner.must(201, "POST", base, nil)
	if done := owner.waitRun(base+"/1", ended); done.Status != buildit.RunSucceeded {
		t.Fatalf("run %s: %+v\n%s", done.Status, done.Stages, owner.logText(base+"/1", "where"))
	}
	if out := owner.logText(base+"/1", "where"); out != "/workspace\nin-a-container" {
		t.Errorf("log %q, want the stage in a container", out)
	}
}

// A workdir through a symbolic link an earlier stage made fails the stage,
// saying why in its log, and its commands never run.
func TestSecuritySymlinkedWorkdirFailsTheStage(t *testing.T) {
	t.Parallel()
	e := setup(t).withRuns(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	src := `pipeline "escape"
stage "link" { run "ln -s / rootlink"; }
stage "escape" needs="link" {
    workdir "rootlink/etc"
    run "echo escaped; cat hostname"
}
`
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "escape", "source": src})
	base := "/orgs/acme/tenants/web/pipelines/escape/runs"
	owner.must(201, "POST", base, nil)
	done := owner.waitRun(base+"/1", ended)
	if done.Status != buildit.RunFailed || stageOf(done, "escape").Status != buildit.StageFailed {
		t.Fatalf("run %s: %+v", done.Status, done.Stages)
	}
	out := owner.logText(base+"/1", "escape")
	if strings.Contains(out, "escaped") || !strings.Contains(out, `workdir "rootlink/etc" leaves the workspace`) {
		t.Errorf("log of the stage:\n%s", out)
	}
}
