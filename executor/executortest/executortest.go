// Package executortest holds what the executors' tests share: a sink that
// counts what streams through it, a heap probe, and folders a stage's own
// user can reach.
package executortest

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/executor"
)

// CountSink counts the bytes and lines written to it and keeps nothing.
type CountSink struct {
	Bytes, Lines, Longest atomic.Int64
}

// WriteLine implements executor.LogSink.
func (c *CountSink) WriteLine(_ string, _ executor.Stream, line string) {
	c.Bytes.Add(int64(len(line)) + 1)
	c.Lines.Add(1)
	for n := int64(len(line)); ; {
		old := c.Longest.Load()
		if n <= old || c.Longest.CompareAndSwap(old, n) {
			break
		}
	}
}

var _ executor.LogSink = (*CountSink)(nil)

// HeapGrowth runs fn and returns by how much the heap in use grew above
// where it was before fn, at most, sampled every 20 ms while fn ran.
func HeapGrowth(fn func()) int64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return int64(peak.Load()) - int64(base.HeapInuse)
}

// ReachableDir is a temporary folder that a host stage's own user (a
// worker running as root runs each run's stages as a uid of their own) can
// pass through: t.TempDir and its parent are private to the user running
// the tests, so both are opened to search (0711), not to listing.
func ReachableDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
