package docker_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/buildit-ci/buildit/executor"
)

// TestSecurityStageContainerCannotReachPlatform runs a stage the way a
// worker does (the real executor, on the run's own bridge network) and
// has it try every way to the platform's services that the deployments we
// ship lay out, on one host:
//
//   - a service on the host's loopback (`buildit dev`'s Temporal frontend
//     and Web UI, a Postgres on localhost), through the bridge's gateway
//     and through the container's own 127.0.0.1;
//   - a container on another bridge network (docker-compose.yml's
//     project network, where Postgres and Temporal run), by its address;
//   - a container port published on the host's loopback only (how
//     docker-compose.yml publishes Temporal and its UI), through the
//     gateway.
//
// None may answer. Two controls show the probe can see a service when one
// is reachable, so the test cannot pass by probing nothing: a container on
// the platform's own network reaches the platform container, and the stage
// reaches a server bound to every interface of the host — which is also
// the boundary an operator must know: what listens on the host's other
// addresses is reachable from stages (SECURITY.md says so).
func TestSecurityStageContainerCannotReachPlatform(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	loopback := serveHTTP(t, "127.0.0.1:0", "platform-on-loopback")
	everywhere := serveHTTP(t, "0.0.0.0:0", "host-on-every-interface")

	// The platform's network, as Compose makes it, with a "database" on it
	// and a "frontend" published on the host's loopback.
	platform, err := f.cli.NetworkCreate(ctx, "buildit-sec-platform-"+randomHex(4), network.CreateOptions{Driver: "bridge"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.cli.NetworkRemove(context.Background(), platform.ID) })
	serve := `mkdir -p /www && echo "$ANSWER" > /www/index.html && exec httpd -f -p 8000 -h /www`
	dbAddr := f.startOn(ctx, t, platform.ID, "platform-database", serve, nil)
	frontendPort := f.startOn(ctx, t, platform.ID, "platform-frontend", serve, nat.PortMap{
		"8000/tcp": {{HostIP: "127.0.0.1", HostPort: "0"}},
	})

	// busybox's wget crashes on a refused connection when given -T, so
	// the probe speaks HTTP through nc.
	probe := func(name, host, port string) string {
		return fmt.Sprintf(`if out=$(%s); then echo "%s reached: $out"; else echo "%s blocked"; fi`, httpGet(host, port), name, name)
	}
	gateway := `$(ip route | awk '/^default/ {print $3}')`
	spec := f.spec("attacker",
		`echo "gateway `+gateway+`"`,
		probe("loopback-via-gateway", gateway, port(loopback)),
		probe("loopback-via-own-loopback", "127.0.0.1", port(loopback)),
		probe("platform-container", dbAddr.ip, "8000"),
		probe("published-on-loopback-via-gateway", gateway, frontendPort.hostPort),
		probe("control-every-interface-via-gateway", gateway, port(everywhere)),
	)
	s, err := f.run(t, spec)
	if err != nil {
		t.Fatalf("stage: %v (%q)", err, s.texts(executor.Stdout))
	}
	out := strings.Join(s.texts(executor.Stdout), "\n")
	t.Logf("stage output:\n%s", out)
	for _, name := range []string{"loopback-via-gateway", "loopback-via-own-loopback", "platform-container", "published-on-loopback-via-gateway"} {
		if !strings.Contains(out, name+" blocked") {
			t.Errorf("the stage container reached %s", name)
		}
	}
	if !strings.Contains(out, "control-every-interface-via-gateway reached: host-on-every-interface") {
		t.Errorf("control: the stage could not reach a server on every interface of the host, so the probes prove nothing")
	}

	// Control: on the platform's own network the database answers.
	got := f.runOn(ctx, t, platform.ID, httpGet(dbAddr.ip, "8000"))
	if !strings.Contains(got, "platform-database") {
		t.Errorf("control: a container on the platform's network got %q from the database, so the probe proves nothing", got)
	}
}

type started struct{ ip, hostPort string }

// startOn starts a long-running container of the test image on network
// netID that answers HTTP with its name, publishing ports as given.
func (f *fixture) startOn(ctx context.Context, t *testing.T, netID, name, script string, ports nat.PortMap) started {
	t.Helper()
	cfg := &container.Config{
		Image:        f.image,
		Cmd:          []string{"sh", "-c", script},
		Env:          []string{"ANSWER=" + name},
		ExposedPorts: nat.PortSet{"8000/tcp": {}},
	}
	host := &container.HostConfig{NetworkMode: container.NetworkMode(netID), PortBindings: ports}
	c, err := f.cli.ContainerCreate(ctx, cfg, host, nil, nil, name+"-"+randomHex(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	})
	if err := f.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	info, err := f.cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var st started
	for _, ep := range info.NetworkSettings.Networks {
		st.ip = ep.IPAddress
	}
	if b := info.NetworkSettings.Ports["8000/tcp"]; len(b) > 0 {
		st.hostPort = b[0].HostPort
	}
	if st.ip == "" || ports != nil && st.hostPort == "" {
		t.Fatalf("container %s: no address (%+v)", name, info.NetworkSettings)
	}
	// Wait until it answers on the platform's network, so that "blocked"
	// cannot mean "not started yet".
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(f.runOn(ctx, t, netID, httpGet(st.ip, "8000")), name) {
		if time.Now().After(deadline) {
			t.Fatalf("container %s does not answer on its network", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return st
}

// runOn runs script in a throwaway container on network netID and returns
// its standard output.
func (f *fixture) runOn(ctx context.Context, t *testing.T, netID, script string) string {
	t.Helper()
	c, err := f.cli.ContainerCreate(ctx, &container.Config{Image: f.image, Cmd: []string{"sh", "-c", script}},
		&container.HostConfig{NetworkMode: container.NetworkMode(netID)}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) }()
	if err := f.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitC, errC := f.cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		t.Fatal(err)
	}
	logs, err := f.cli.ContainerLogs(ctx, c.ID, container.LogsOptions{ShowStdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &bytes.Buffer{}, logs)
	return out.String()
}

// serveHTTP serves answer on addr until the test ends.
func serveHTTP(t *testing.T, addr, answer string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, answer)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln
}

// httpGet is a shell command that prints the body of GET / from host:port
// (and the response's head), failing when nothing answers within 3 s.
func httpGet(host, port string) string {
	return fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 %s %s | grep -v '^[A-Za-z-]*:' | tail -n 1 | grep .`, host, port)
}

func port(ln net.Listener) string {
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
