package db

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// LogChannel is the notification channel on which Postgres names the runs
// whose stage logs or stage attempts a statement changed (migration 00007).
const LogChannel = "buildit_stage_logs"

// LogNotifier listens on LogChannel with one connection of its own and
// wakes the followers of the runs named. Followers still poll, more slowly:
// a notification can be missed while the listener reconnects.
type LogNotifier struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
	up   bool
}

// NewLogNotifier returns a notifier on pool; Run makes it listen.
func NewLogNotifier(pool *pgxpool.Pool, log *slog.Logger) *LogNotifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LogNotifier{pool: pool, log: log, subs: map[string]map[chan struct{}]struct{}{}}
}

// Run listens until ctx ends, reconnecting after failures.
func (n *LogNotifier) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := n.listen(ctx)
		n.setUp(false)
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("log notifications lost; listening again", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (n *LogNotifier) listen(ctx context.Context) error {
	conn, err := n.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection will hold a LISTEN: take it out of the pool, and
	// close it rather than give it back.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, "LISTEN "+LogChannel); err != nil {
		return err
	}
	n.setUp(true)
	for {
		note, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		n.wake(note.Payload)
	}
}

func (n *LogNotifier) setUp(up bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.up = up
}

// Listening reports whether notifications arrive now.
func (n *LogNotifier) Listening() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up
}

func (n *LogNotifier) wake(runID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs[runID] {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// Subscribe returns a channel that receives (at most one pending) wake-up
// whenever the run's stage logs or attempts change, and the function that
// ends the subscription.
func (n *LogNotifier) Subscribe(runID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.subs[runID] == nil {
		n.subs[runID] = map[chan struct{}]struct{}{}
	}
	n.subs[runID][ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.subs[runID], ch)
		if len(n.subs[runID]) == 0 {
			delete(n.subs, runID)
		}
	}
}
