package blobstore_test

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/archive"
	"github.com/buildit-ci/buildit/blobstore"
)

// heapPeak samples the heap in use until stop is called, which answers
// with the highest sample above the level when it started.
func heapPeak() (stop func() (growth, base uint64)) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	})
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return peak - base, base
	}
}

// TestConstantMemory packs a 1 GiB file, streams the archive into a store
// through a pipe, reads it back and unpacks it: the heap must not grow
// with the file. On S3, the upload's part buffers (blobstore.PartSize,
// PartConcurrency+1 of them) are most of the growth.
func TestConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads 1 GiB (-short)")
	}
	const size = 1 << 30
	src := t.TempDir()
	// In every MiB, 256 KiB of random bytes and a hole: 1 GiB to archive,
	// 256 MiB that zstd cannot shrink, 256 MiB of disk.
	f, err := os.Create(filepath.Join(src, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{42})
	chunk := make([]byte, 256<<10)
	for off := int64(0); off < size; off += 1 << 20 {
		_, _ = rng.Read(chunk)
		if _, err := f.WriteAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			roundTripBig(t, be.open(t).store, src, size)
		})
	}
}

func roundTripBig(t *testing.T, st *blobstore.Store, src string, size int64) {
	dst := t.TempDir()
	ctx := context.Background()

	stop := heapPeak()
	pr, pw := io.Pipe()
	go func() {
		_, err := archive.Pack(ctx, pw, []archive.Tree{{Dir: src, Paths: []string{"big.bin"}}})
		pw.CloseWithError(err)
	}()
	o, err := st.Put(ctx, "big.tar.zst", pr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.Get(ctx, "big.tar.zst", o)
	if err != nil {
		t.Fatal(err)
	}
	ust, err := archive.Unpack(ctx, r, []archive.Tree{{Dir: dst}})
	r.Close()
	growth, base := stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: 1 GiB file, %d MiB archive: heap grew by %.1f MiB at most (from %.1f MiB)", st, o.Size>>20, float64(growth)/(1<<20), float64(base)/(1<<20))
	if ust.Bytes != size {
		t.Errorf("unpacked %d bytes, want %d", ust.Bytes, size)
	}
	if growth > 32<<20 {
		t.Errorf("heap grew by %d MiB (> 32 MiB) for a 1 GiB file", growth>>20)
	}
	if a, b := fileDigest(t, filepath.Join(src, "big.bin")), fileDigest(t, filepath.Join(dst, "big.bin")); a != b {
		t.Error("the unpacked file differs from the packed one")
	}
}

func fileDigest(t *testing.T, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}
