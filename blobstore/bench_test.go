package blobstore_test

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/buildit-ci/buildit/archive"
	"github.com/buildit-ci/buildit/internal/benchtree"
)

var trees benchtree.Cache

func TestMain(m *testing.M) {
	code := m.Run()
	trees.Cleanup()
	os.Exit(code)
}

// benchTree answers with the tree (500 MB in 20,000 files), made
// once per test binary; its making is not timed.
func benchTree(b *testing.B) (string, int64) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	dir, n, err := trees.Get(benchtree.Tree500MB)
	if err != nil {
		b.Fatal(err)
	}
	return dir, n
}

// BenchmarkSave packs the tree and streams the archive into the store
// (what saving a cache or an artifact does); MB/s counts the tree's bytes.
func BenchmarkSave(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			src, size := benchTree(b)
			st := be.open(b).store
			ctx := context.Background()
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				pr, pw := io.Pipe()
				go func() {
					_, err := archive.Pack(ctx, pw, []archive.Tree{{Dir: src, Paths: []string{"."}}})
					pw.CloseWithError(err)
				}()
				o, err := st.Put(ctx, "bench/tree.tar.zst", pr)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(o.Size)/float64(size), "ratio")
			}
		})
	}
}

// BenchmarkRestore reads the archive back from the store, checking its
// digest, and unpacks it into an empty folder (what restoring does).
func BenchmarkRestore(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			src, size := benchTree(b)
			st := be.open(b).store
			ctx := context.Background()
			pr, pw := io.Pipe()
			go func() {
				_, err := archive.Pack(ctx, pw, []archive.Tree{{Dir: src, Paths: []string{"."}}})
				pw.CloseWithError(err)
			}()
			o, err := st.Put(ctx, "bench/tree.tar.zst", pr)
			if err != nil {
				b.Fatal(err)
			}
			base := b.TempDir()
			b.SetBytes(size)
			b.ResetTimer()
			i := 0
			for b.Loop() {
				b.StopTimer()
				dst := filepath.Join(base, "dst")
				if err := os.RemoveAll(dst); err != nil {
					b.Fatal(err)
				}
				i++
				b.StartTimer()
				r, err := st.Get(ctx, "bench/tree.tar.zst", o)
				if err != nil {
					b.Fatal(err)
				}
				ust, err := archive.Unpack(ctx, r, []archive.Tree{{Dir: dst}})
				r.Close()
				if err != nil {
					b.Fatal(err)
				}
				if ust.Bytes != size {
					b.Fatalf("restored %d bytes of %d", ust.Bytes, size)
				}
			}
		})
	}
}

// BenchmarkCopyTree is the floor restore is measured against: the same
// tree copied file by file (read, then os.WriteFile) into an empty
// folder, with no archive, compression or store.
func BenchmarkCopyTree(b *testing.B) {
	src, size := benchTree(b)
	base := b.TempDir()
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		dst := filepath.Join(base, "dst")
		if err := os.RemoveAll(dst); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
