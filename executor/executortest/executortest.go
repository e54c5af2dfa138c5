// Package executortest holds what the executors' tests share: a sink that
// counts what streams through it, and a heap probe.
package executortest

import (
	"runtime"
	"sync"
	"sync/atomic"
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
