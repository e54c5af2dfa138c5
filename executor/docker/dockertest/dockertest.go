// Package dockertest gives tests a Docker engine and an image to run on it,
// on machines where no registry can be reached: the image is built locally,
// FROM scratch, around Debian's static busybox.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// ImageTag is the tag of the test image. Bump its version when the image's
// content changes: an image of that tag already on the engine is reused.
const ImageTag = "buildit-test/busybox:1"

// RequireEnv is the variable that turns "no Docker engine" from a skip into a
// failure, for CI.
const RequireEnv = "BUILDIT_REQUIRE_DOCKER"

// busyboxPaths are where Debian's busybox-static installs busybox.
var busyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

var (
	clientOnce sync.Once
	shared     client.APIClient
	clientErr  error

	imageMu    sync.Mutex
	imageReady bool
)

// Client returns a client of the machine's Docker engine (DOCKER_HOST or the
// local socket). When no engine answers, the test is skipped, or fails when
// BUILDIT_REQUIRE_DOCKER=1. The client is shared by the whole test binary.
func Client(t testing.TB) client.APIClient {
	t.Helper()
	clientOnce.Do(func() {
		cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			clientErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := cli.Ping(ctx); err != nil {
			cli.Close()
			clientErr = err
			return
		}
		cli.NegotiateAPIVersion(ctx)
		shared = cli
	})
	if clientErr != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("no Docker engine (%s=1): %v", RequireEnv, clientErr)
		}
		t.Skipf("no Docker engine: %v", clientErr)
	}
	return shared
}

// Image returns the tag of a tiny image holding busybox at /bin/busybox with
// its applets linked in /bin, /sbin, /usr/bin and /usr/sbin (sh, echo, nc,
// httpd, wget…). It is built once, through the Docker API, and only when the
// engine does not have it yet.
func Image(t testing.TB) string {
	t.Helper()
	cli := Client(t)
	imageMu.Lock()
	defer imageMu.Unlock()
	if imageReady {
		return ImageTag
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := cli.ImageInspect(ctx, ImageTag)
	switch {
	case err == nil:
	case cerrdefs.IsNotFound(err):
		if err := buildImage(ctx, cli); err != nil {
			t.Fatalf("build test image: %v", err)
		}
	default:
		t.Fatalf("inspect test image: %v", err)
	}
	imageReady = true
	return ImageTag
}

// buildImage builds ImageTag from a tar context made here.
func buildImage(ctx context.Context, cli client.APIClient) error {
	bb, err := findBusybox()
	if err != nil {
		return err
	}
	tarball, err := buildContext(bb)
	if err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, tarball, build.ImageBuildOptions{
		Tags:        []string{ImageTag},
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{"buildit.test": "true"},
	})
	if err != nil {
		return fmt.Errorf("image build: %w", err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, &out, 0, false, nil); err != nil {
		return fmt.Errorf("image build: %w\n%s", err, out.String())
	}
	return nil
}

// findBusybox returns the path of a statically linked busybox: a dynamic
// one (Debian's "busybox" package) would not run in an image FROM scratch.
func findBusybox() (string, error) {
	for _, p := range busyboxPaths {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", fmt.Errorf("no static busybox in %s: apt-get install busybox-static", strings.Join(busyboxPaths, ", "))
}

// buildContext is a tar of a Dockerfile and a root file system: busybox,
// its applets as symbolic links (as `busybox --install -s` would make them),
// /tmp, and the /etc files that tools look up users in.
func buildContext(busybox string) (io.Reader, error) {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, err
	}
	list, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Unix(0, 0)
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Name: name + "/", Mode: mode, ModTime: now, Typeflag: tar.TypeDir})
	}
	errs := []error{
		file("Dockerfile", 0o644, []byte("FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/sbin:/usr/bin:/sbin:/bin\nCMD [\"sh\"]\n")),
		dir("rootfs", 0o755),
		dir("rootfs/bin", 0o755),
		dir("rootfs/sbin", 0o755),
		dir("rootfs/usr", 0o755),
		dir("rootfs/usr/bin", 0o755),
		dir("rootfs/usr/sbin", 0o755),
		dir("rootfs/etc", 0o755),
		dir("rootfs/tmp", 0o1777),
		dir("rootfs/root", 0o700),
		file("rootfs/bin/busybox", 0o755, bin),
		file("rootfs/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")),
		file("rootfs/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")),
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "bin/busybox" {
			continue
		}
		errs = append(errs, tw.WriteHeader(&tar.Header{
			Name: "rootfs/" + applet, Linkname: "/bin/busybox", Mode: 0o777, ModTime: now, Typeflag: tar.TypeSymlink,
		}))
	}
	errs = append(errs, tw.Close())
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	return &buf, nil
}
