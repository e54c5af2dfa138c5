package activities

import (
	"testing"

	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/workflows"
)

// BenchmarkStageArtifactsOverhead runs one host stage that writes a 1 MB
// random payload, through RunStage: plain, keeping it as an artifact,
// restoring it as an artifact into a fresh workspace, and with a cache of
// it that hits (restored into a fresh workspace, not saved again). The
// difference to "plain" is the overhead of artifacts and caches.
func BenchmarkStageArtifactsOverhead(b *testing.B) {
	const write = "mkdir -p payload && head -c 1048576 /dev/urandom > payload/data"
	a, _, _ := artifactStages(b)
	run := func(b *testing.B, in workflows.StageInput) workflows.StageResult {
		res, err := runStage(b, a, in)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("%+v %v", res, err)
		}
		return res
	}
	in := func(b *testing.B, st pipeline.Step) workflows.StageInput {
		return workflows.StageInput{RunID: "bench", Pipeline: "p", Step: st, Attempt: 1, Workspace: b.TempDir()}
	}
	b.Run("plain", func(b *testing.B) {
		st := hostStep("s", write)
		for b.Loop() {
			run(b, in(b, st))
		}
	})
	b.Run("artifacts-save", func(b *testing.B) {
		st := hostStep("s", write)
		st.Artifacts = []pipeline.ArtifactSpec{{Name: "payload", Paths: []string{"payload"}}}
		for b.Loop() {
			run(b, in(b, st))
		}
	})
	b.Run("artifacts-restore", func(b *testing.B) {
		st := hostStep("p", write)
		st.Artifacts = []pipeline.ArtifactSpec{{Name: "restored", Paths: []string{"payload"}}}
		kept := run(b, in(b, st)).Artifacts
		use := hostStep("s", write)
		for b.Loop() {
			i := in(b, use)
			i.Restore = kept
			run(b, i)
		}
	})
	b.Run("cache-hit", func(b *testing.B) {
		st := hostStep("s", write)
		st.Cache = []pipeline.Cache{{Key: "bench", Paths: []string{"payload"}}}
		run(b, in(b, st)) // saves it
		for b.Loop() {
			run(b, in(b, st))
		}
	})
}
