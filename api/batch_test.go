package api

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A batcher answers every call with its own result; calls that come while
// batches run go together (fewer batches than calls), no batch is larger
// than max and no more than limit run at once; a failed batch fails each
// of its calls; a call whose context ends returns at once.
func TestBatcher(t *testing.T) {
	t.Parallel()
	var batches, running, most, taken atomic.Int64
	release := make(chan struct{})
	b := newBatcher(func(_ context.Context, ins []int) ([]int, error) {
		batches.Add(1)
		taken.Add(int64(len(ins)))
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		if len(ins) > 100 {
			return nil, errors.New("a batch over max")
		}
		outs := make([]int, len(ins))
		for i, in := range ins {
			if in < 0 {
				return nil, errors.New("negative")
			}
			outs[i] = in * 2
		}
		return outs, nil
	})
	const calls = 300
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			out, err := b.do(context.Background(), i)
			if err != nil || out != 2*i {
				errs <- errors.Join(err, errors.New("wrong answer"))
			}
		})
	}
	// Let the calls queue behind the first batches (which took what was
	// pending when they began), then let them run.
	queued := func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.pending)
	}
	for queued()+int(taken.Load()) < calls {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := batches.Load(); n >= calls/10 {
		t.Errorf("%d batches for %d concurrent calls", n, calls)
	}
	if m := most.Load(); m > int64(b.limit) {
		t.Errorf("%d batches ran at once; limit %d", m, b.limit)
	}

	// A failed batch fails its calls.
	if _, err := b.do(context.Background(), -1); err == nil || err.Error() != "negative" {
		t.Errorf("a failed batch: %v", err)
	}
	// A call whose context has ended returns.
	stuck := newBatcher(func(ctx context.Context, ins []int) ([]int, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	stuck.timeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := stuck.do(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("an ended context: %v", err)
	}
}
