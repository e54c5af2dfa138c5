package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildit run --blob-url keeps the artifacts in that store and unpacks
// them next to the pipeline file, saying where.
func TestRunArtifactsWithBlobURL(t *testing.T) {
	t.Parallel()
	blobs := t.TempDir()
	file := writeFile(t, "arts.kdl", `pipeline "arts"
stage "build" { run "mkdir -p dist && echo built > dist/app"; artifacts "dist/app" name="app"; }
`)
	code, stdout, stderr := run(t, "run", file, "--executor", "local", "--blob-url", "file://"+blobs)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	prefix := "buildit: artifacts in " + filepath.Join(filepath.Dir(file), ".buildit", "artifacts") + string(filepath.Separator)
	i := strings.Index(stderr, prefix)
	if i < 0 {
		t.Fatalf("stderr lacks %q:\n%s", prefix, stderr)
	}
	dir := strings.TrimSpace(strings.SplitN(stderr[i+len("buildit: artifacts in "):], "\n", 2)[0])
	if b, err := os.ReadFile(filepath.Join(dir, "app", "dist", "app")); err != nil || string(b) != "built\n" {
		t.Fatalf("artifact: %q %v", b, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(blobs, "tenants", "local", "artifacts")); len(entries) != 1 {
		t.Fatalf("blob store holds %d runs' artifacts, want 1", len(entries))
	}
}
