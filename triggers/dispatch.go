package triggers

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

// EventStarter starts a delivery's RepositoryEvent workflow, once (see
// Starter.StartEvent).
type EventStarter interface {
	StartEvent(ctx context.Context, in EventInput) (workflowID string, err error)
}

// Dispatcher starts the RepositoryEvent workflows of the deliveries the
// webhook route records, out of the route's way: the route records a
// delivery with its workflow input, hands it to Accept and answers 202 at
// once; a few starters take it from a bounded queue and start its
// workflow. A delivery the queue could not take (full), whose start
// failed (Temporal unavailable) or that was still queued when the server
// stopped is started by the sweeper, which reads the deliveries not
// started from Postgres: none is lost, and a start that happens twice
// (the queue's and the sweeper's) is one workflow, since the workflow ID
// is the delivery's.
type Dispatcher struct {
	starter EventStarter
	store   *db.Store
	log     *slog.Logger
	queue   chan EventInput
	workers int
	// lastAccept is when Accept last took a delivery (UnixNano).
	lastAccept atomic.Int64

	// SweepEvery is how often the sweeper looks for deliveries not
	// started; HandOff is how old a delivery must be before the sweeper
	// takes it from the queue; StartTimeout bounds one start. (Old
	// deliveries are pruned by package retention.)
	SweepEvery, HandOff, StartTimeout time.Duration
}

// Dispatcher defaults.
const (
	DefaultDispatchWorkers = 4
	DefaultDispatchQueue   = 1024
	DefaultSweepEvery      = 5 * time.Second
	DefaultHandOff         = 30 * time.Second
	defaultStartTimeout    = 10 * time.Second
	sweepBatch             = 100
	sweepBatches           = 10
)

// NewDispatcher returns a Dispatcher of starter over store, with workers
// starters (DefaultDispatchWorkers when < 1) and a queue of queue
// deliveries (DefaultDispatchQueue when < 1). Run runs it.
func NewDispatcher(starter EventStarter, store *db.Store, log *slog.Logger, workers, queue int) *Dispatcher {
	if workers < 1 {
		workers = DefaultDispatchWorkers
	}
	if queue < 1 {
		queue = DefaultDispatchQueue
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{
		starter: starter, store: store, log: log, queue: make(chan EventInput, queue), workers: workers,
		SweepEvery: DefaultSweepEvery, HandOff: DefaultHandOff, StartTimeout: defaultStartTimeout,
	}
}

// Accept hands a recorded delivery to the starters and reports whether
// the queue took it; it never blocks. A delivery it did not take is the
// sweeper's.
func (d *Dispatcher) Accept(in EventInput) bool {
	d.lastAccept.Store(time.Now().UnixNano())
	select {
	case d.queue <- in:
		return true
	default:
		d.log.Warn("the webhook queue is full: the sweeper will start the delivery", "repository", in.RepositoryID, "delivery", in.Event.Delivery)
		return false
	}
}

// Run starts the deliveries' workflows until ctx ends; deliveries still
// queued then are left to the next sweep (of this server or another).
func (d *Dispatcher) Run(ctx context.Context) {
	marks := make(chan db.DeliveryKey, cap(d.queue))
	var marking sync.WaitGroup
	marking.Go(func() { d.mark(marks) })
	var wg sync.WaitGroup
	for range d.workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case in := <-d.queue:
					d.settle(ctx)
					d.start(ctx, in, marks)
				}
			}
		})
	}
	wg.Go(func() { d.sweep(ctx, marks) })
	wg.Wait()
	close(marks)
	marking.Wait()
}

// Starts yield to answers: while deliveries keep coming (one within
// settleQuiet of the last), the starters wait, at most settleMax, so
// that a burst is answered before its workflows take the CPU and
// Postgres from the route. A delivery alone waits settleQuiet.
const (
	settleQuiet = 25 * time.Millisecond
	settleMax   = time.Second
)

// settle waits until no delivery has been accepted for settleQuiet, at
// most settleMax.
func (d *Dispatcher) settle(ctx context.Context) {
	deadline := time.Now().Add(settleMax)
	for {
		wait := time.Until(time.Unix(0, d.lastAccept.Load()).Add(settleQuiet))
		if wait <= 0 {
			return
		}
		if left := time.Until(deadline); wait > left {
			if left <= 0 {
				return
			}
			wait = left
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// start starts in's workflow and records the outcome on its delivery: a
// failure at once (for the sweeper's backoff), a start through marks.
func (d *Dispatcher) start(ctx context.Context, in EventInput, marks chan<- db.DeliveryKey) {
	log := d.log.With("repository", in.RepositoryID, "delivery", in.Event.Delivery)
	repoID, err := uuid.Parse(in.RepositoryID)
	if err != nil {
		log.Error("a delivery's input names no repository", "error", err)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, d.StartTimeout)
	_, err = d.starter.StartEvent(sctx, in)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		log.Warn("starting a webhook's workflow failed; the sweeper retries it", "error", err)
		rctx, rcancel := context.WithTimeout(ctx, d.StartTimeout)
		defer rcancel()
		if err := d.store.Repositories().FailedDeliveryStart(rctx, repoID, in.Event.Delivery); err != nil {
			log.Error("recording a failed start failed", "error", err)
		}
		return
	}
	marks <- db.DeliveryKey{RepositoryID: repoID, Delivery: in.Event.Delivery}
}

// markLinger is how long the first started delivery of a batch waits for
// others before they are marked together: marks have no hurry (the
// sweeper takes only deliveries older than HandOff, and a second start is
// harmless), while a burst's hundred UPDATEs would take Postgres from the
// webhook route answering the burst.
const markLinger = 200 * time.Millisecond

// markBatch bounds the deliveries one UPDATE marks started.
const markBatch = 500

// mark marks the started deliveries from marks, in batches, until marks
// is closed.
func (d *Dispatcher) mark(marks <-chan db.DeliveryKey) {
	for {
		k, ok := <-marks
		if !ok {
			return
		}
		batch := []db.DeliveryKey{k}
		linger := time.NewTimer(markLinger)
	gather:
		for len(batch) < markBatch {
			select {
			case k, ok := <-marks:
				if !ok {
					break gather
				}
				batch = append(batch, k)
			case <-linger.C:
				break gather
			}
		}
		linger.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), d.StartTimeout)
		if err := d.store.Repositories().StartedDeliveries(ctx, batch); err != nil {
			d.log.Error("marking deliveries started failed; the sweeper starts them again, harmlessly", "count", len(batch), "error", err)
		}
		cancel()
	}
}

// sweep starts, every SweepEvery, the deliveries older than HandOff that
// have not started.
func (d *Dispatcher) sweep(ctx context.Context, marks chan<- db.DeliveryKey) {
	t := time.NewTicker(d.SweepEvery)
	defer t.Stop()
	for {
		d.sweepOnce(ctx, marks)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepOnce starts the deliveries older than HandOff that have not
// started, a batch at a time, until none is left, ctx ends or it has
// gone through sweepBatches batches (the rest wait for the next sweep).
// A delivery it started is marked after a while (see mark) and may be
// listed again meanwhile: it is not started twice in one sweep.
func (d *Dispatcher) sweepOnce(ctx context.Context, marks chan<- db.DeliveryKey) {
	seen := make(map[db.DeliveryKey]bool)
	for range sweepBatches {
		if ctx.Err() != nil {
			return
		}
		pending, err := d.store.Repositories().PendingDeliveries(ctx, time.Now().Add(-d.HandOff), sweepBatch)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("listing webhook deliveries not started failed", "error", err)
			}
			return
		}
		fresh := 0
		for _, p := range pending {
			k := db.DeliveryKey{RepositoryID: p.RepositoryID, Delivery: p.Delivery}
			if seen[k] {
				continue
			}
			seen[k] = true
			fresh++
			var in EventInput
			if err := json.Unmarshal(p.Input, &in); err != nil {
				d.log.Error("a delivery's recorded input is unreadable", "repository", p.RepositoryID, "delivery", p.Delivery, "error", err)
				// Marked started, so that it is not read again.
				marks <- k
				continue
			}
			d.start(ctx, in, marks)
		}
		if len(pending) < sweepBatch || fresh == 0 {
			return
		}
	}
}
