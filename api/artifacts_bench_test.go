package api

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
)

// BenchmarkArtifactDownload streams a 32 MiB artifact (incompressible
// contents) through the API from a file:// blob store: the whole archive
// (read, checked and sent), and one file from inside it (read, checked,
// decompressed and untarred).
func BenchmarkArtifactDownload(b *testing.B) {
	a := setupArtifacts(b, "Acme", "web")
	body := make([]byte, 32<<20)
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // test data
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	art := a.keep(b, "big", map[string]string{"data.bin": string(body), "small.txt": "x"})
	key := a.owner.apiKey("acme", map[string]any{"name": "bench", "scopes": []string{ScopeRunsRead}, "tenant": "web"})
	get := func(b *testing.B, path string) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", a.srv.URL+"/api/v1"+a.base+"/artifacts/"+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("%d after %d bytes: %v", res.StatusCode, n, err)
		}
	}
	b.Run("archive", func(b *testing.B) {
		b.SetBytes(art.Size)
		for b.Loop() {
			get(b, "big")
		}
	})
	b.Run("path", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			get(b, "big?path=data.bin")
		}
	})
}
