// Package benchtree makes the file trees the storage benchmarks archive:
// many files of varied sizes, some incompressible (like binaries), most
// compressible about 2:1 (like sources and text), from a seeded PRNG so
// that every run archives the same bytes.
package benchtree

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
)

// Spec says what tree to make.
type Spec struct {
	Files int   // number of files
	Bytes int64 // their total size, about
	Seed  uint64
}

// Tree500MB is the benchmark tree: 500 MB in 20,000 files.
var Tree500MB = Spec{Files: 20_000, Bytes: 500_000_000, Seed: 13}

// Make writes the tree of s into dir, in folders of 100 files, and
// answers with the bytes written.
func Make(dir string, s Spec) (int64, error) {
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
	mean := s.Bytes / int64(s.Files)
	var seed [32]byte
	seed[0] = byte(s.Seed)
	src := rand.NewChaCha8(seed)
	buf := make([]byte, 4*mean)
	var total int64
	for i := range s.Files {
		// Sizes spread uniformly over [0, 2·mean).
		n := rng.Int64N(2 * mean)
		b := buf[:n]
		_, _ = src.Read(b)
		if i%3 != 0 {
			// 16 symbols: 4 bits of entropy a byte, zstd halves it.
			for j := range b {
				b[j] = "etaoinshrdlu \n{}"[b[j]&15]
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d.dat", i))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return total, err
			}
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// Cache keeps trees made once per process, in a temporary folder that
// Cleanup removes.
type Cache struct {
	mu    sync.Mutex
	dir   string
	trees map[Spec]cached
}

type cached struct {
	dir   string
	bytes int64
}

// Get answers with the folder of s's tree and its size, made on the first
// call.
func (c *Cache) Get(s Spec) (string, int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.trees[s]; ok {
		return t.dir, t.bytes, nil
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "buildit-benchtree-")
		if err != nil {
			return "", 0, err
		}
		c.dir, c.trees = d, map[Spec]cached{}
	}
	dir := filepath.Join(c.dir, fmt.Sprintf("%d-%d-%d", s.Files, s.Bytes, s.Seed))
	n, err := Make(dir, s)
	if err != nil {
		return "", 0, err
	}
	c.trees[s] = cached{dir, n}
	return dir, n, nil
}

// Cleanup removes the trees.
func (c *Cache) Cleanup() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir != "" {
		os.RemoveAll(c.dir)
		c.dir, c.trees = "", nil
	}
}
