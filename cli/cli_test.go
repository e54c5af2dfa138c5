package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the command tree with args and returns the exit status and
// what it printed.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	root := NewRootCommand("test-version")
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	code = Execute(root, args)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := writeFile(t, "good.kdl", "pipeline \"p\"\nstage \"a\" { run \"x\"; }\nstage \"b\" needs=\"a\" { run \"y\"; }\n")
	bad := writeFile(t, "bad.kdl", "pipeline \"p\"\nstage \"a\" {\n    imgae \"x\"\n    run \"y\"\n    timeout \"soon\"\n}\n")
	warn := writeFile(t, "warn.kdl", "pipeline \"p\"\ntemplate \"t\" { image \"x\"; }\nstage \"a\" { run \"x\"; }\n")
	missing := filepath.Join(t.TempDir(), "nope.kdl")

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     []string
		noStderr   bool
		exactLines int
	}{
		{name: "valid", args: []string{"validate", good}, code: 0,
			stdout: []string{good + `: ok: pipeline "p", 2 stages in 2 waves`}, noStderr: true},
		{name: "valid quiet", args: []string{"validate", "-q", good}, code: 0, noStderr: true},
		{name: "invalid", args: []string{"validate", bad}, code: 2,
			stderr: []string{
				bad + `:3:5: unknown node "imgae" in stage "a"; did you mean "image"?`,
				"        imgae \"x\"\n        ^",
				bad + `:5:13: timeout: invalid duration "soon"`,
				"1 of 1 file is invalid",
			}},
		{name: "warning only", args: []string{"validate", warn}, code: 0,
			stderr: []string{warn + `:2:1: warning: template "t" is never used`}},
		{name: "missing file", args: []string{"validate", missing}, code: 2,
			stderr: []string{missing + ": no such file or directory"}},
		{name: "several files", args: []string{"validate", good, bad, missing}, code: 2,
			stdout: []string{good + ": ok"}, stderr: []string{"2 of 3 files are invalid"}},
		{name: "no file", args: []string{"validate"}, code: 2, stderr: []string{"requires at least 1 arg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if tt.noStderr && stderr != "" {
				t.Errorf("unexpected stderr: %s", stderr)
			}
		})
	}
}

func TestValidateExamples(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("..", "examples", "*.kdl"))
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	code, stdout, stderr := run(t, append([]string{"validate"}, files...)...)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if n := strings.Count(stdout, ": ok: "); n != len(files) {
		t.Errorf("%d ok lines for %d files:\n%s", n, len(files), stdout)
	}
}

func TestGraph(t *testing.T) {
	t.Parallel()
	diamond := filepath.Join("..", "examples", "diamond.kdl")
	code, stdout, stderr := run(t, "graph", diamond)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, `pipeline "diamond": 10 stages in 3 waves`) || !strings.Contains(stdout, "wave 2\n  work-1 (host)  <- start\n") {
		t.Errorf("text graph:\n%s", stdout)
	}
	code, stdout, _ = run(t, "graph", "--format", "mermaid", diamond)
	if code != 0 || !strings.HasPrefix(stdout, "flowchart LR\n") || strings.Count(stdout, "-->") != 16 {
		t.Errorf("mermaid graph (exit %d):\n%s", code, stdout)
	}
	code, stdout, _ = run(t, "graph", "-f", "dot", diamond)
	if code != 0 || !strings.HasPrefix(stdout, `digraph "diamond" {`) || strings.Count(stdout, "->") != 16 {
		t.Errorf("dot graph (exit %d):\n%s", code, stdout)
	}
	code, _, stderr = run(t, "graph", "--format", "svg", diamond)
	if code != 2 || !strings.Contains(stderr, `unknown --format "svg"`) {
		t.Errorf("bad format: exit %d, %s", code, stderr)
	}
	bad := writeFile(t, "cycle.kdl", "pipeline \"p\"\nstage \"a\" needs=\"b\" { run \"x\"; }\nstage \"b\" needs=\"a\" { run \"y\"; }\n")
	code, stdout, stderr = run(t, "graph", bad)
	if code != 2 || stdout != "" || !strings.Contains(stderr, bad+":3:17: dependency cycle: a -> b -> a") {
		t.Errorf("graph of a cycle: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

func TestRootFlags(t *testing.T) {
	t.Parallel()
	code, stdout, _ := run(t, "--version")
	if code != 0 || stdout != "buildit test-version\n" {
		t.Errorf("--version: exit %d, %q", code, stdout)
	}
	code, stdout, _ = run(t, "--help")
	if code != 0 || !strings.Contains(stdout, "validate") || !strings.Contains(stdout, "--verbose") {
		t.Errorf("--help: exit %d\n%s", code, stdout)
	}
	code, _, stderr := run(t, "--no-such-flag")
	if code != 2 || !strings.Contains(stderr, "unknown flag") {
		t.Errorf("bad flag: exit %d, %s", code, stderr)
	}
	code, _, stderr = run(t, "frobnicate")
	if code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("bad command: exit %d, %s", code, stderr)
	}
	good := writeFile(t, "good.kdl", "pipeline \"p\"\nstage \"a\" { run \"x\"; }\n")
	code, _, stderr = run(t, "-v", "validate", good)
	if code != 0 || !strings.Contains(stderr, "level=DEBUG") {
		t.Errorf("-v: exit %d, stderr %q", code, stderr)
	}
}
