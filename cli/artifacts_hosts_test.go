package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/executor/docker/dockertest"
	"github.com/buildit-ci/buildit/internal/s3test"
)

// Two hosts, one artifact, a real S3 store between them: stage "build"
// runs in a container on host A and keeps dist/app; host A dies (kill -9)
// while the gate after it waits; stage "use" then runs on host B, in a
// workspace B prepared afresh, and finds A's dist/app there because B
// restored the artifact from the store before the stage's commands ran.
func TestArtifactCrossesWorkerHosts(t *testing.T) {
	img := dockertest.Image(t)
	store := s3test.Start(t)
	st := startStack(t, stackOpts{hostQueueTimeout: "3s", blobURL: store})
	o := signUp(t, st.base)
	o.pipeline("hosts", `pipeline "hosts"
defaults { image "`+img+`"; }
stage "build" {
    run "mkdir -p dist && echo \"built by run $BUILDIT_RUN_ID\" > dist/app && chmod 755 dist/app"
    artifacts "dist/app" name="app"
}
stage "gate" needs="build" { approval { message "go on?"; }; }
stage "use" needs="gate" {
    run "test -x dist/app" "cat dist/app" "ls /workspace"
}
`)
	workerArgs := func(host string) []string {
		args := st.workerArgs(t, host)
		for i, a := range args {
			if a == "--executor" {
				args[i+1] = "docker"
			}
		}
		return args
	}
	a := startProc(t, nil, workerArgs("host-a")...)
	o.trigger("hosts")
	o.waitRun("hosts/runs/1", 60*time.Second, func(r runState) bool { return stageStatus(r, "gate") == "waiting" })
	a.kill9()
	startProc(t, nil, workerArgs("host-b")...)
	apiCall(t, o.hc, "POST", o.base+"/api/v1/orgs/acme/tenants/web/pipelines/hosts/runs/1/stages/gate/approve", map[string]string{"reason": "go"}, 200)

	done := o.waitRun("hosts/runs/1", 120*time.Second, func(r runState) bool {
		return r.Status == "succeeded" || r.Status == "failed" || r.Status == "cancelled"
	})
	if done.Status != "succeeded" {
		t.Fatalf("run: %+v\nuse's log: %q", done, o.logLines("hosts/runs/1/logs?stage=use"))
	}
	log := strings.Join(o.logLines("hosts/runs/1/logs?stage=use"), "\n")
	if !strings.Contains(log, "built by run ") || !strings.Contains(log, "restored artifact app") {
		t.Errorf("stage use did not find build's artifact on the second host:\n%s", log)
	}
	var arts struct {
		Items []struct{ Name, Stage, Digest string }
	}
	if code := o.get("hosts/runs/1/artifacts", &arts); code != 200 || len(arts.Items) != 1 || arts.Items[0].Name != "app" || !strings.HasPrefix(arts.Items[0].Digest, "sha256:") {
		t.Errorf("GET artifacts: %d %+v", code, arts)
	}
}
