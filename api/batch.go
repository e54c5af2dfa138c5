package api

import (
	"context"
	"sync"
	"time"
)

// batcher runs concurrent calls of one kind together, as one query: a
// call that comes while limit batches are running waits and runs in the
// next batch with every call that came meanwhile (up to max). A call
// alone runs at once, so nothing waits for a batch to fill: batches form
// only when calls queue anyway (a burst of webhooks, where a hundred
// round trips to Postgres would queue on its pool).
type batcher[In, Out any] struct {
	// run answers a batch, one Out per In, or fails it whole.
	run   func(ctx context.Context, ins []In) ([]Out, error)
	max   int
	limit int
	// timeout bounds one batch, which serves several requests and so
	// runs under none of their contexts.
	timeout time.Duration

	mu      sync.Mutex
	pending []*batchCall[In, Out]
	running int
}

type batchCall[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{}
}

func newBatcher[In, Out any](run func(context.Context, []In) ([]Out, error)) *batcher[In, Out] {
	return &batcher[In, Out]{run: run, max: 100, limit: 2, timeout: 10 * time.Second}
}

// do runs in, in a batch, and returns its Out; ctx ending returns its
// error at once (the batch still runs).
func (b *batcher[In, Out]) do(ctx context.Context, in In) (Out, error) {
	c := &batchCall[In, Out]{in: in, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	if b.running < b.limit {
		b.running++
		go b.loop()
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.out, c.err
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	}
}

// loop runs the pending calls, a batch at a time, until none is left.
func (b *batcher[In, Out]) loop() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), b.max)
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		calls := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.mu.Unlock()

		ins := make([]In, n)
		for i, c := range calls {
			ins[i] = c.in
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		outs, err := b.run(ctx, ins)
		cancel()
		for i, c := range calls {
			if err != nil {
				c.err = err
			} else {
				c.out = outs[i]
			}
			close(c.done)
		}
	}
}
