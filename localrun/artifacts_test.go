package localrun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit"
)

// artifactsSetup is setup with a blob store and an artifacts folder of
// the test's own (blobs is shared between runs given the same one).
func artifactsSetup(t *testing.T, src, blobs string) (Options, *lines) {
	t.Helper()
	o, sink := setup(t, src)
	o.BlobURL = "file://" + blobs
	o.ArtifactsDir = filepath.Join(o.Workspace, ".buildit", "artifacts")
	return o, sink
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Stage 2 reads stage 1's artifact; the run's artifacts are unpacked into
// .buildit/artifacts/<run-id>/<name>/ afterwards; a failed stage's
// when="always" reports are kept, its other artifacts not asked for.
func TestRunKeepsArtifacts(t *testing.T) {
	o, sink := artifactsSetup(t, `pipeline "arts"
stage "build" {
    run "mkdir -p dist && echo v1 > dist/app"
    artifacts "dist/app"
}
stage "test" needs="build" {
    run "test \"$(cat dist/app)\" = v1 && mkdir -p reports && echo ok > reports/t.xml && exit 4"
    artifacts "reports/*.xml" name="reports" when="always"
    artifacts "coverage" name="coverage"
}
`, t.TempDir())
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.State.Status != buildit.RunFailed || res.State.Stages[0].Status != buildit.StageSucceeded || res.State.Stages[1].Error != "exit status 4" {
		t.Fatalf("state %+v\n%s", res.State, sink)
	}
	want := filepath.Join(o.ArtifactsDir, res.RunID)
	if res.Artifacts != want {
		t.Fatalf("artifacts in %q, want %q", res.Artifacts, want)
	}
	if readFile(t, filepath.Join(want, "build", "dist", "app")) != "v1" || readFile(t, filepath.Join(want, "reports", "reports", "t.xml")) != "ok" {
		t.Fatal("unpacked artifacts differ")
	}
	if _, err := os.Stat(filepath.Join(want, "coverage")); !os.IsNotExist(err) {
		t.Fatal("coverage was kept after a failure")
	}
	for _, line := range []string{"build | buildit: saved artifact build (1 file, 3 B)", "test | buildit: saved artifact reports (1 file, 3 B)"} {
		if !strings.Contains(sink.String(), line) {
			t.Errorf("no %q in the log:\n%s", line, sink)
		}
	}
}

// A missing artifact path fails the stage, naming it.
func TestRunFailsOnAMissingArtifactPath(t *testing.T) {
	o, sink := artifactsSetup(t, `pipeline "missing"
stage "build" { run "true"; artifacts "dist/app" "dist/lib" optional=#false; }
`, t.TempDir())
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	st := res.State.Stages[0]
	if res.State.Status != buildit.RunFailed || st.Status != buildit.StageFailed || st.Attempt != 1 || !strings.Contains(st.Error, "artifact build: no such file or folder in the workspace: dist/app, dist/lib") {
		t.Fatalf("stage %+v", st)
	}
	if !strings.Contains(sink.String(), "build | buildit: artifact build: no such file or folder in the workspace: dist/app, dist/lib") {
		t.Errorf("log:\n%s", sink)
	}
}

// A cache keyed by hashFiles misses on the first run and hits on the
// second (restoring what was deleted); a new lock file falls back on
// restore-keys; a corrupt blob is reported and taken as a miss.
func TestRunCacheAcrossRuns(t *testing.T) {
	blobs := t.TempDir()
	src := `pipeline "cached"
stage "deps" {
    run "if test -f out/dep; then echo HIT $(cat out/dep); else mkdir -p out && cat lock > out/dep && echo BUILT; fi"
    cache "out" key="deps-{{ hashFiles('lock') }}" restore-keys="deps-"
}
`
	o, sink := artifactsSetup(t, src, blobs)
	ws := o.Workspace
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(ws, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func() string {
		t.Helper()
		*sink = lines{}
		res, err := Run(context.Background(), o)
		if err != nil || res.State.Status != buildit.RunSucceeded {
			t.Fatalf("run: %v %+v\n%s", err, res.State, sink)
		}
		return sink.String()
	}
	write("lock", "one")
	log := run()
	if !strings.Contains(log, "deps | buildit: cache miss: deps-") || !strings.Contains(log, "deps | BUILT") || !strings.Contains(log, "deps | buildit: saved cache deps-") {
		t.Fatalf("first run:\n%s", log)
	}
	os.RemoveAll(filepath.Join(ws, "out"))
	log = run()
	if !strings.Contains(log, "deps | buildit: cache hit: deps-") || !strings.Contains(log, "deps | HIT one") || strings.Contains(log, "saved cache") {
		t.Fatalf("second run:\n%s", log)
	}

	os.RemoveAll(filepath.Join(ws, "out"))
	write("lock", "two")
	log = run()
	if !strings.Contains(log, "deps | HIT one") || !strings.Contains(log, ": restored deps-") || !strings.Contains(log, "deps | buildit: saved cache deps-") {
		t.Fatalf("restore-keys run:\n%s", log)
	}

	// Corrupt every cache blob: the next run reports it and builds.
	err := filepath.Walk(blobs, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".tar.zst") && strings.Contains(p, "caches") {
			b, rerr := os.ReadFile(p)
			if rerr != nil {
				return rerr
			}
			b[len(b)/2] ^= 0xff
			return os.WriteFile(p, b, 0o600)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(ws, "out"))
	log = run()
	if !strings.Contains(log, "is unusable and was deleted") || !strings.Contains(log, "blob is corrupt") || !strings.Contains(log, "deps | BUILT") {
		t.Fatalf("corrupt run:\n%s", log)
	}
}
