package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/buildit-ci/buildit/executor/docker"
	"github.com/buildit-ci/buildit/executor/docker/dockertest"
)

// buildit run with stages in containers on the machine's real Docker engine:
// a container stage writes to the shared workspace, reaches its service by
// name, and a host stage reads what it wrote; nothing of the run is left on
// the engine afterwards.
func TestRunDockerStages(t *testing.T) {
	img := dockertest.Image(t)
	cli := dockertest.Client(t)
	file := writeFile(t, "docker.kdl", `pipeline "dock"
stage "build" {
    image "`+img+`"
    services {
        service "web" image="`+img+`" {
            command "sh" "-c" "mkdir -p /www && echo served-by-web > /www/index.html && exec httpd -f -p 8080 -h /www"
        }
    }
    run "echo built in a container > /workspace/out.txt" \
        "for i in $(seq 1 100); do wget -q -O - http://web:8080/ && exit 0; sleep 0.1; done; exit 1"
}
stage "check" needs="build" {
    run "cat out.txt" "pwd"
}
`)
	code, stdout, stderr := run(t, "run", file)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"build | served-by-web", "check | built in a container", "check | " + filepath.Dir(file), "run succeeded"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}

	ctx := context.Background()
	all, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", docker.LabelManaged+"=true"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		if strings.HasPrefix(c.Labels[docker.LabelRun], "dock-") {
			t.Errorf("container %v of a dock run left behind", c.Names)
		}
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", docker.LabelManaged+"=true"))})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets {
		if strings.HasPrefix(n.Labels[docker.LabelRun], "dock-") {
			t.Errorf("network %s of a dock run left behind", n.Name)
		}
	}
}

// --executor docker refuses a stage without an image instead of running it
// on the host.
func TestRunExecutorDockerNeedsImages(t *testing.T) {
	file := writeFile(t, "bare.kdl", "pipeline \"p\"\nstage \"a\" { run \"true\"; }\n")
	code, _, stderr := run(t, "run", "--executor", "docker", file)
	if code != 2 || !strings.Contains(stderr, "--executor docker runs every stage in a container, but stage a has no image") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}
