package repotest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// requireEnv turns "no Compose tool" from a skip into a failure, as it does
// for "no Docker engine" in executor/docker/dockertest (RequireEnv there).
const requireEnv = "BUILDIT_REQUIRE_DOCKER"

// testSecretKey is what BUILDIT_SECRET_KEY is set to for `config`, which
// refuses the file without one: 32 zero bytes, base64.
const testSecretKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

// repoRoot is the folder holding go.mod, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

var (
	toolOnce    sync.Once
	toolCmd     []string
	toolVersion string
	toolMissing string
)

// composeTool returns the command that runs Compose on this machine (the
// `docker compose` plugin, else the standalone `docker-compose`) and its
// version line. Without either the test is skipped, or fails when
// BUILDIT_REQUIRE_DOCKER=1.
func composeTool(t *testing.T) ([]string, string) {
	t.Helper()
	toolOnce.Do(func() {
		var tried []string
		for _, tool := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
			if _, err := exec.LookPath(tool[0]); err != nil {
				tried = append(tried, strings.Join(tool, " ")+": "+err.Error())
				continue
			}
			out, errOut, err := run(t, tool, nil, "version")
			if err != nil {
				tried = append(tried, fmt.Sprintf("%s version: %v: %s", strings.Join(tool, " "), err, firstLine(append(errOut, out...))))
				continue
			}
			toolCmd, toolVersion = tool, firstLine(out)
			return
		}
		toolMissing = "no Compose tool: " + strings.Join(tried, "; ")
	})
	if toolCmd == nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s (%s=1; Debian's docker-compose package provides one)", toolMissing, requireEnv)
		}
		t.Skip(toolMissing)
	}
	return toolCmd, toolVersion
}

// run runs tool with args in the repository root and returns what it wrote
// to stdout and to stderr; env, when not nil, is the whole environment.
func run(t *testing.T, tool []string, env []string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool[0], append(tool[1:], args...)...)
	cmd.Dir = repoRoot(t)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	err = cmd.Run()
	return out.Bytes(), errOut.Bytes(), err
}

// composeEnv is the test's environment without BUILDIT_SECRET_KEY, plus
// extra.
func composeEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BUILDIT_SECRET_KEY=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// composeConfig is the part of `config`'s output the tests look at.
type composeConfig struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command []string `yaml:"command"`
	} `yaml:"services"`
}

// TestComposeConfig has the machine's Compose tool validate
// docker-compose.yml, then checks from the configuration it resolved that
// the BuildIt services are there and build from the repository's Dockerfile.
func TestComposeConfig(t *testing.T) {
	tool, version := composeTool(t)
	t.Logf("compose tool: %s (%s)", strings.Join(tool, " "), version)
	root := repoRoot(t)
	file := filepath.Join(root, "docker-compose.yml")
	env := composeEnv("BUILDIT_SECRET_KEY=" + testSecretKey)

	if out, errOut, err := run(t, tool, env, "-f", file, "config", "-q"); err != nil {
		t.Fatalf("%s -f docker-compose.yml config -q: %v\n%s%s", strings.Join(tool, " "), err, out, errOut)
	}

	out, errOut, err := run(t, tool, env, "-f", file, "config")
	if err != nil {
		t.Fatalf("%s -f docker-compose.yml config: %v\n%s%s", strings.Join(tool, " "), err, out, errOut)
	}
	var cfg composeConfig
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("parse the output of config: %v\n%s", err, out)
	}

	for _, name := range []string{"postgres", "temporal", "temporal-ui", "migrate", "server", "worker"} {
		if _, ok := cfg.Services[name]; !ok {
			t.Errorf("service %q is missing", name)
		}
	}

	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	for name, command := range map[string]string{"migrate": "migrate", "server": "server", "worker": "worker"} {
		svc, ok := cfg.Services[name]
		if !ok {
			continue
		}
		if svc.Build == nil {
			t.Errorf("service %q has no build section (image %q)", name, svc.Image)
			continue
		}
		ctxDir := svc.Build.Context
		if !filepath.IsAbs(ctxDir) {
			ctxDir = filepath.Join(root, ctxDir)
		}
		if resolved, err := filepath.EvalSymlinks(ctxDir); err != nil || resolved != realRoot {
			t.Errorf("service %q builds in %q, want the repository root %q", name, svc.Build.Context, root)
		}
		if df := svc.Build.Dockerfile; df != "" && df != "Dockerfile" && filepath.Clean(df) != filepath.Join(root, "Dockerfile") {
			t.Errorf("service %q builds from %q, want the repository's Dockerfile", name, df)
		}
		if len(svc.Command) == 0 || svc.Command[0] != command {
			t.Errorf("service %q runs %q, want buildit %s", name, svc.Command, command)
		}
	}
}

// TestComposeRequiresSecretKey checks that the compose file refuses to start
// the server without BUILDIT_SECRET_KEY rather than run it without one.
func TestComposeRequiresSecretKey(t *testing.T) {
	tool, _ := composeTool(t)
	out, errOut, err := run(t, tool, composeEnv(), "-f", filepath.Join(repoRoot(t), "docker-compose.yml"), "config", "-q")
	out = append(out, errOut...)
	if err == nil {
		t.Fatalf("config -q without BUILDIT_SECRET_KEY succeeded; want it refused\n%s", out)
	}
	if !bytes.Contains(out, []byte("BUILDIT_SECRET_KEY")) {
		t.Errorf("config -q without BUILDIT_SECRET_KEY failed without naming it:\n%s", out)
	}
}

// TestDockerfileGoVersion checks that the Dockerfile builds with the Go
// release go.mod asks for (major.minor; the golang image tag floats to its
// latest patch).
func TestDockerfileGoVersion(t *testing.T) {
	root := repoRoot(t)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go\s+(\d+\.\d+)(?:\.\d+)?\s*$`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	want := string(m[1])

	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	froms := regexp.MustCompile(`(?mi)^FROM\s+(?:--\S+\s+)*(?:docker\.io/)?(?:library/)?golang:(\d+\.\d+)(?:[.\-]\S*)?(?:\s|$)`).FindAllSubmatch(dockerfile, -1)
	if len(froms) == 0 {
		t.Fatal("the Dockerfile has no FROM golang:<major>.<minor>… stage")
	}
	for _, f := range froms {
		if got := string(f[1]); got != want {
			t.Errorf("Dockerfile builds with golang:%s…, go.mod says go %s", got, want)
		}
	}
}

// platformServices hold every tenant's data or steer every tenant's runs;
// no stage may reach them.
var platformServices = []string{"postgres", "temporal", "temporal-ui"}

// TestSecurityComposeKeepsPlatformOffStageNetworks checks, from the
// configuration Compose resolves, that the services a stage container must
// never reach publish no port on an address the host's bridges can reach:
// a stage container reaches the host through its network's gateway, so a
// port published on every interface (Compose's default) is a port every
// tenant's stage can call. Loopback is not reachable from a container (see
// executor/docker's TestSecurityStageContainerCannotReachPlatform).
func TestSecurityComposeKeepsPlatformOffStageNetworks(t *testing.T) {
	tool, _ := composeTool(t)
	env := composeEnv("BUILDIT_SECRET_KEY=" + testSecretKey)
	out, errOut, err := run(t, tool, env, "-f", filepath.Join(repoRoot(t), "docker-compose.yml"), "config")
	if err != nil {
		t.Fatalf("config: %v\n%s%s", err, out, errOut)
	}
	var cfg struct {
		Services map[string]struct {
			Ports       []any  `yaml:"ports"`
			NetworkMode string `yaml:"network_mode"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("parse the output of config: %v\n%s", err, out)
	}
	for _, name := range platformServices {
		svc, ok := cfg.Services[name]
		if !ok {
			t.Errorf("service %q is missing", name)
			continue
		}
		if svc.NetworkMode == "host" {
			t.Errorf("service %q uses the host's network: every port it opens is on the host's interfaces", name)
		}
		for _, p := range svc.Ports {
			if ip := publishedIP(p); ip != "127.0.0.1" && ip != "::1" {
				t.Errorf("service %q publishes %v on %q: publish it on 127.0.0.1 only, or not at all", name, p, ip)
			}
		}
	}
}

// publishedIP is the host address a port entry of `config`'s output
// publishes on ("" for every interface). Compose v1 and v2 print the long
// syntax (a map with host_ip); a short string form is read too.
func publishedIP(p any) string {
	switch v := p.(type) {
	case map[string]any:
		ip, _ := v["host_ip"].(string)
		return ip
	case string:
		// [IP:]HOST_PORT:CONTAINER_PORT
		parts := strings.Split(v, ":")
		if len(parts) == 3 {
			return parts[0]
		}
	}
	return ""
}
