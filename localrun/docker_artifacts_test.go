package localrun

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/executor/docker/dockertest"
)

// Container stages on the real engine: stage 2 reads the artifact stage 1
// kept, and a cache of ~/.cache (the run's home, mounted at
// /buildit/home) made by the first run is restored in the second, whose
// home starts empty.
func TestRunDockerArtifactsAndHomeCache(t *testing.T) {
	img := dockertest.Image(t)
	blobs := t.TempDir()
	o, sink := artifactsSetup(t, `pipeline "dockarts"
defaults { image "`+img+`"; }
stage "build" {
    run "mkdir -p dist && echo from-container > dist/app"
    artifacts "dist/app"
    cache "~/.cache" key="home-cache"
    run "test \"$HOME\" = /buildit/home" "if test -f ~/.cache/tool; then echo HIT $(cat ~/.cache/tool); else mkdir -p ~/.cache && echo warm > ~/.cache/tool && echo COLD; fi"
}
stage "use" needs="build" {
    run "cat /workspace/dist/app"
}
`, blobs)
	o.Executor = "docker"
	for i, want := range []string{"build | COLD", "build | HIT warm"} {
		*sink = lines{}
		res, err := Run(context.Background(), o)
		if err != nil || res.State.Status != buildit.RunSucceeded {
			t.Fatalf("run %d: %v %+v\n%s", i+1, err, res.State, sink)
		}
		log := sink.String()
		if !strings.Contains(log, want) || !strings.Contains(log, "use | from-container") {
			t.Fatalf("run %d lacks %q:\n%s", i+1, want, log)
		}
		if got := readFile(t, filepath.Join(res.Artifacts, "build", "dist", "app")); got != "from-container" {
			t.Fatalf("artifact %q", got)
		}
	}
}
