package artifact

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/buildit-ci/buildit/pipeline"
)

// BenchmarkArtifact1MB saves and restores a 1 MB random file as an
// artifact, and restores it as a cache hit: the service's own share of a
// stage's overhead (file://).
func BenchmarkArtifact1MB(b *testing.B) {
	ctx := context.Background()
	svc, _ := newService(b)
	ws := b.TempDir()
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	if err := os.MkdirAll(filepath.Join(ws, "payload"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "payload", "data"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	step := pipeline.Step{ID: "s", Stage: "s",
		Artifacts: []pipeline.ArtifactSpec{{Name: "payload", Paths: []string{"payload"}}},
		Cache:     []pipeline.Cache{{Key: "k", Paths: []string{"payload"}}}}
	scope := Scope{Tenant: LocalTenant}
	b.Run("save", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := svc.SaveArtifacts(ctx, scope, "r", step, Workspace{Dir: ws}, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	kept, _, _ := svc.SaveArtifacts(ctx, scope, "r", step, Workspace{Dir: ws}, true)
	b.Run("restore", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.RestoreArtifact(ctx, scope, kept[0], Workspace{Dir: b.TempDir()}); err != nil {
				b.Fatal(err)
			}
		}
	})
	cr := CacheRun{Scope: CacheScope{Tenant: LocalTenant, Pipeline: "p", Branch: "main"}}
	states, _ := svc.RestoreCaches(ctx, cr, step, Workspace{Dir: ws})
	svc.SaveCaches(ctx, cr, step, Workspace{Dir: ws}, states)
	b.Run("cache-hit", func(b *testing.B) {
		for b.Loop() {
			states, evs := svc.RestoreCaches(ctx, cr, step, Workspace{Dir: b.TempDir()})
			if !states[0].Hit {
				b.Fatal(evs)
			}
		}
	})
}
