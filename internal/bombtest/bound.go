// Package bombtest holds the pipeline bombs of issue 11 (pipelines of a
// few hundred bytes that asked for gigabytes) and measures the memory a
// call takes on them, for the tests that check each is refused before
// memory grows. It is imported by tests only.
package bombtest

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MiB is a mebibyte, for limits.
const MiB = 1 << 20

// Result is what Bound measured.
type Result struct {
	// Allocated is what the call allocated on the heap, freed or not
	// (the growth of runtime.MemStats.TotalAlloc).
	Allocated uint64
	// Peak is the most heap in use above what was in use before the
	// call, sampled every millisecond while it ran.
	Peak uint64
	// Took is how long the call took.
	Took time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("allocated %.1f MiB, peak heap +%.1f MiB, took %v", float64(r.Allocated)/MiB, float64(r.Peak)/MiB, r.Took.Round(time.Millisecond))
}

// Bound runs f, logs what it took and fails t when it allocated limit
// bytes or more. The test must not run in parallel with others: the
// counters are the process's.
//
// A call that grows without end would take the machine down before it
// returned, so a watchdog ends the test binary with a failure once the
// heap in use grows past abortAt (4 × limit, at least 512 MiB) or the call
// runs for 5 minutes.
func Bound(t testing.TB, limit uint64, f func()) Result {
	t.Helper()
	abortAt := max(4*limit, 512*MiB)
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	var (
		mu   sync.Mutex
		peak uint64
	)
	done := make(chan struct{})
	watched := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(watched)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(s)
			inUse := s[0].Value.Uint64()
			mu.Lock()
			if inUse > base && inUse-base > peak {
				peak = inUse - base
			}
			grown := peak
			mu.Unlock()
			if grown > abortAt || time.Since(start) > 5*time.Minute {
				fmt.Fprintf(os.Stderr, "--- FAIL: %s: the heap grew by %d MiB in %v and kept going: stopped before it takes the machine (limit %d MiB)\n",
					t.Name(), grown/MiB, time.Since(start).Round(time.Millisecond), limit/MiB)
				os.Exit(1)
			}
		}
	}()
	f()
	took := time.Since(start)
	close(done)
	<-watched
	runtime.ReadMemStats(&after)
	r := Result{Allocated: after.TotalAlloc - before.TotalAlloc, Peak: peak, Took: took}
	t.Logf("%s (process peak RSS so far %s)", r, PeakRSS())
	if r.Allocated >= limit {
		t.Errorf("the call allocated %.1f MiB, want under %d MiB", float64(r.Allocated)/MiB, limit/MiB)
	}
	return r
}

// PeakRSS is the process's peak resident set size so far (VmHWM), or "?"
// where /proc does not say.
func PeakRSS() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				return "?"
			}
			return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
		}
	}
	return "?"
}
