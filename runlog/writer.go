// Package runlog stores stage logs in Postgres, for server mode: a Writer
// per stage attempt is the executor's log sink, numbers the lines, and
// appends them to the attempt's log in ordered batches from a goroutine of
// its own, so that a stage's output never waits for a round trip to the
// database.
//
// A batch is written when MaxBatch lines are waiting or FlushEvery after the
// first of them arrived. While Postgres is unreachable the same batch is
// retried with backoff and new lines wait in a bounded buffer; when that is
// full, WriteLine blocks (the stage's output waits) rather than drop lines.
// A retried batch never duplicates lines: a batch is one COPY, all or
// nothing, and when a retry finds some of its lines stored (the earlier try
// committed but its answer was lost) those are taken as written.
//
// Some failures no retry mends: the run is gone or is not the tenant's
// (db.ErrInvalid), or a Seq of the batch holds another writer's line (the
// Writer did not start at NextSeq, or a worker presumed dead still writes).
// Then the Writer fails: it drops what it holds and what comes after,
// counts it in Stats, logs that once, and Flush and Close return the error.
//
// Lines reach the Writer already masked (the stage activity wraps it in its
// masking sink); this package never logs their contents.
package runlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/executor"
)

// The defaults of Options' zero fields.
const (
	DefaultMaxBatch         = 500
	DefaultFlushEvery       = 25 * time.Millisecond
	DefaultMaxBuffered      = 10_000
	DefaultMaxBufferedBytes = 32 << 20
	DefaultAppendTimeout    = 30 * time.Second
)

// The backoff between tries of a batch that failed.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// Options tune a Writer; the zero value is the defaults.
type Options struct {
	// MaxBatch is the most lines one AppendLogs call stores; a batch is
	// written as soon as that many are waiting. Default 500.
	MaxBatch int
	// FlushEvery is how long a line waits at most for others to join its
	// batch while the database answers. Default 25 ms: a line is readable
	// that soon, and a chatty stage costs at most 40 writes a second.
	FlushEvery time.Duration
	// MaxBuffered bounds the lines held in memory, the batch being written
	// included; WriteLine blocks while that many are held. Default 10,000.
	MaxBuffered int
	// MaxBufferedBytes bounds the same lines by size (a line is at most
	// MaxLineBytes, so 10,000 of them could take 640 MiB). Default 32 MiB.
	MaxBufferedBytes int
	// FirstSeq is the Seq of the first line, 1 when zero; a resumed
	// attempt takes it from NextSeq.
	FirstSeq int64
	// AppendTimeout bounds one AppendLogs (or ReadLogs) call, so that a
	// connection that hangs is tried again. Default 30 s.
	AppendTimeout time.Duration
	// Logger receives failures and recoveries (never line contents);
	// nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = DefaultMaxBuffered
	}
	if o.MaxBufferedBytes <= 0 {
		o.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if o.FirstSeq <= 0 {
		o.FirstSeq = 1
	}
	if o.AppendTimeout <= 0 {
		o.AppendTimeout = DefaultAppendTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Stats counts a Writer's lines. A line longer than MaxLineBytes counts as
// the parts it was split into.
type Stats struct {
	// Written lines were accepted by WriteLine or WriteSystem.
	Written int64
	// Stored lines are in the database (or were found there on a retry).
	Stored int64
	// Dropped lines will never be stored: they came after the Writer
	// failed or was closed, or were still buffered when it failed.
	Dropped int64
	// Failures counts failed AppendLogs calls, each retried or fatal.
	Failures int64
}

// Writer stores one stage attempt's log lines in batches. It implements
// executor.LogSink; WriteLine and WriteSystem are safe for concurrent use
// (the stdout and stderr pumps), and Flush and Close may be called from any
// goroutine. Lines get consecutive Seq numbers in the order the calls
// took them, and are stored in that order.
type Writer struct {
	store  Appender
	reader Reader // nil when store is not a Reader
	key    Key
	opts   Options
	log    *slog.Logger

	mu       sync.Mutex
	space    *sync.Cond   // broadcast when held lines go, or the Writer stops
	pending  []db.LogLine // accepted, not yet taken into a batch
	pendSize int          // bytes of pending's lines
	inflight int          // lines of the batch being written
	inSize   int          // bytes of them
	next     int64        // Seq of the next line
	stored   int64        // every Seq up to this one is stored
	urgent   int64        // Flush asked for every Seq up to this one now
	closing  bool         // Close was called: no more lines
	err      error        // why the Writer failed; nothing more is stored
	stats    Stats
	progress chan struct{} // closed (and replaced) when stored or err change

	wake     chan struct{} // tells the flusher to look at the state again
	stopCtx  context.Context
	stop     context.CancelFunc // ends the flusher's calls and backoff
	done     chan struct{}      // closed when the flusher has returned
	warnOnce sync.Once
}

// New returns a Writer of key's log on store and starts its flusher, which
// runs until Close. When store is also a Reader (db.LogRepo, and so
// FromStore's result, is), a retried batch that meets db.ErrConflict is
// resolved by reading back what is stored; otherwise such a conflict fails
// the Writer.
func New(store Appender, key Key, opts Options) *Writer {
	opts = opts.withDefaults()
	w := &Writer{
		store:    store,
		key:      key,
		opts:     opts,
		log:      opts.Logger.With("run_id", key.RunID, "stage", key.StageID, "attempt", key.Attempt),
		next:     opts.FirstSeq,
		stored:   opts.FirstSeq - 1,
		urgent:   opts.FirstSeq - 1,
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	w.reader, _ = store.(Reader)
	w.space = sync.NewCond(&w.mu)
	w.stopCtx, w.stop = context.WithCancel(context.Background())
	go w.run()
	return w
}

// WriteLine implements executor.LogSink: it buffers line as the stream's
// next line. stage is ignored; the Writer's Key says where lines go. It
// returns at once unless the buffer is full (the database is down or slow),
// in which case it waits for room.
func (w *Writer) WriteLine(_ string, stream executor.Stream, line string) {
	s := db.LogStdout
	if stream == executor.Stderr {
		s = db.LogStderr
	}
	w.write(s, line)
}

// WriteSystem buffers a message of BuildIt's own about the stage (stream
// db.LogSystem), in order with the stage's output. It does not pass through
// the activity's masking sink, so it must not contain secrets.
func (w *Writer) WriteSystem(line string) { w.write(db.LogSystem, line) }

var _ executor.LogSink = (*Writer)(nil)

func (w *Writer) write(stream db.LogStream, line string) {
	line = clean(line)
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && !w.closing && w.full() {
		w.kick() // a full buffer is a batch to write now
		w.space.Wait()
	}
	if w.err != nil || w.closing {
		n := int64(0)
		for rest := line; ; {
			_, rest = cut(rest)
			n++
			if rest == "" {
				break
			}
		}
		w.stats.Dropped += n
		w.warnDropped()
		return
	}
	now := time.Now()
	before := len(w.pending)
	for rest := line; ; {
		var part string
		part, rest = cut(rest)
		w.pending = append(w.pending, db.LogLine{Seq: w.next, Stream: stream, Line: part, At: now})
		w.pendSize += len(part)
		w.next++
		w.stats.Written++
		if rest == "" {
			break
		}
	}
	// The flusher needs to hear of a first line (to time it) and of a
	// full batch; lines in between it finds when it looks.
	if before == 0 || (before < w.opts.MaxBatch && len(w.pending) >= w.opts.MaxBatch) {
		w.kick()
	}
}

// full reports whether the held lines reach a bound; mu is held. An empty
// buffer is never full, so that one line larger than MaxBufferedBytes
// still goes through.
func (w *Writer) full() bool {
	n := len(w.pending) + w.inflight
	return n > 0 && (n >= w.opts.MaxBuffered || w.pendSize+w.inSize >= w.opts.MaxBufferedBytes)
}

func (w *Writer) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// warnDropped logs, once, that lines are being dropped; mu is held.
func (w *Writer) warnDropped() {
	w.warnOnce.Do(func() {
		reason := "writer closed"
		if w.err != nil {
			reason = w.err.Error()
		}
		w.log.Warn("log lines dropped", "reason", reason)
	})
}

// Flush returns when every line written before it is stored, or with the
// error that failed the Writer, or with ctx's error when ctx ends first (the
// lines stay buffered and are still written).
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	target := w.next - 1
	if target > w.urgent {
		w.urgent = target
		w.kick()
	}
	for {
		if w.stored >= target {
			w.mu.Unlock()
			return nil
		}
		if w.err != nil {
			err := w.failure()
			w.mu.Unlock()
			return err
		}
		ch := w.progress
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("flush log of %s: %w", w.key, ctx.Err())
		}
		w.mu.Lock()
	}
}

// Close stores what is buffered, stops the flusher and returns nil when every
// line written is stored. While ctx lasts it keeps retrying a database that
// is down; when ctx ends, what is not stored yet is given up and the error
// says how many lines that is. Lines written after Close are dropped (and
// counted in Stats), and so is the line of a WriteLine that Close finds
// waiting for room: a caller whose stage output pump is stuck on a full
// buffer gets it back by calling Close. Calling Close again returns the same
// result, unless lines were dropped since.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closing {
		w.closing = true
		w.kick()
		w.space.Broadcast()
	}
	w.mu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
		w.stop()
		<-w.done
	}
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.failure()
	}
	if w.stats.Dropped > 0 {
		return fmt.Errorf("log of %s: %d lines written after Close were dropped", w.key, w.stats.Dropped)
	}
	return nil
}

// failure is the error Flush and Close return once the Writer failed; mu is
// held.
func (w *Writer) failure() error {
	return fmt.Errorf("log of %s: %d lines not stored: %w", w.key, w.stats.Dropped, w.err)
}

// Stats returns the Writer's counts so far.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// run is the flusher: it takes batches off the buffer, in order, and writes
// each until it is stored, until the Writer is closed and empty or fails.
func (w *Writer) run() {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch []db.LogLine
	for {
		w.mu.Lock()
		for !w.ready() {
			if w.err != nil || (w.closing && len(w.pending) == 0) {
				w.mu.Unlock()
				return
			}
			var due <-chan time.Time
			if len(w.pending) > 0 {
				timer.Reset(w.opts.FlushEvery - time.Since(w.pending[0].At))
				due = timer.C
			}
			w.mu.Unlock()
			select {
			case <-w.wake:
			case <-due:
			}
			w.mu.Lock()
		}
		k := min(len(w.pending), w.opts.MaxBatch)
		batch = append(batch[:0], w.pending[:k]...)
		size := 0
		for _, l := range batch {
			size += len(l.Line)
		}
		n := copy(w.pending, w.pending[k:])
		clear(w.pending[n:]) // let the strings go
		w.pending = w.pending[:n]
		w.pendSize -= size
		w.inflight, w.inSize = k, size
		w.mu.Unlock()

		left, err := w.write1(batch)

		w.mu.Lock()
		w.inflight, w.inSize = 0, 0
		if err != nil {
			w.err = err
			w.stats.Dropped += int64(left + len(w.pending))
			clear(w.pending)
			w.pending, w.pendSize = nil, 0
			w.log.Error("log lines not stored; the writer stops", "lines", w.stats.Dropped, "error", err)
		} else {
			w.stored = batch[len(batch)-1].Seq
			w.stats.Stored += int64(len(batch))
		}
		close(w.progress)
		w.progress = make(chan struct{})
		w.space.Broadcast()
		w.mu.Unlock()
		clear(batch)
	}
}

// ready reports whether the flusher should take a batch now; mu is held.
func (w *Writer) ready() bool {
	if w.err != nil || len(w.pending) == 0 {
		return false
	}
	return len(w.pending) >= w.opts.MaxBatch || w.closing || w.urgent >= w.pending[0].Seq ||
		w.full() || time.Since(w.pending[0].At) >= w.opts.FlushEvery
}

// errStopped: Close's context ended before the batch was stored.
var errStopped = errors.New("closed before the lines were stored")

// write1 writes one batch, retrying with backoff until it is stored, it
// fails for good (the run is gone, or another writer's lines hold its Seq
// numbers), or Close gives up. It returns how many of its lines were not
// stored when it fails.
func (w *Writer) write1(batch []db.LogLine) (int, error) {
	delay := minBackoff
	failures := 0
	for {
		err := w.call(func(ctx context.Context) error {
			return w.store.AppendLogs(ctx, w.key.TenantID, w.key.RunID, w.key.StageID, w.key.Attempt, batch)
		})
		if err == nil {
			if failures > 0 {
				w.log.Info("log lines stored after retries", "lines", len(batch), "failures", failures)
			}
			return 0, nil
		}
		w.mu.Lock()
		w.stats.Failures++
		w.mu.Unlock()
		if w.stopCtx.Err() != nil {
			return len(batch), fmt.Errorf("%w (last error: %v)", errStopped, err) //nolint:errorlint // the last error is context for the log; callers branch on errStopped alone
		}
		switch {
		case errors.Is(err, db.ErrConflict):
			// Some Seq of the batch is stored: by an earlier try of it
			// that committed although its call failed, since COPY is
			// all or nothing, or by another writer of this attempt.
			if w.reader == nil {
				return len(batch), fmt.Errorf("%w (cannot read back what is stored)", err)
			}
			rest, rerr := w.unstored(batch)
			switch {
			case errors.Is(rerr, errForeign):
				return len(batch), rerr
			case rerr != nil:
				err = rerr
			case len(rest) == 0:
				w.log.Info("log lines found stored on retry", "lines", len(batch))
				return 0, nil
			case len(rest) < len(batch):
				batch = rest
				delay = minBackoff
				continue // the rest at once
			}
			// Nothing of the batch is stored after all: try again later.
		case errors.Is(err, db.ErrInvalid):
			// The run is gone, or is not the tenant's: no retry helps.
			return len(batch), err
		}
		failures++
		if failures == 1 || failures%10 == 0 {
			w.log.Warn("log lines not stored; retrying", "lines", len(batch), "failures", failures, "retry_in", delay, "error", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-w.stopCtx.Done():
			t.Stop()
			return len(batch), fmt.Errorf("%w (last error: %v)", errStopped, err) //nolint:errorlint // the last error is context for the log; callers branch on errStopped alone
		}
		delay = min(2*delay, maxBackoff)
	}
}

// call runs f with a context that ends after AppendTimeout or when Close
// gives up.
func (w *Writer) call(f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(w.stopCtx, w.opts.AppendTimeout)
	defer cancel()
	return f(ctx)
}

// errForeign: a Seq of the batch is stored with other content, so another
// writer is writing this attempt's log (a Writer that did not start at
// NextSeq, or a worker presumed dead).
var errForeign = fmt.Errorf("%w: another writer's lines are stored under this attempt's Seq numbers", db.ErrConflict)

// unstored reads back the stored lines in batch's Seq range and returns
// the lines of batch that are not among them. A stored line with another
// stream or text than batch's line of the same Seq is errForeign.
func (w *Writer) unstored(batch []db.LogLine) ([]db.LogLine, error) {
	last := batch[len(batch)-1].Seq
	var rest []db.LogLine
	i := 0
	for after := batch[0].Seq - 1; after < last; {
		limit := int(min(last-after, db.MaxLogLines))
		var got []db.LogLine
		err := w.call(func(ctx context.Context) (err error) {
			got, err = w.reader.ReadLogs(ctx, w.key.TenantID, w.key.RunID, w.key.StageID, w.key.Attempt, after, limit)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("read back stored log lines: %w", err)
		}
		for _, s := range got {
			if s.Seq > last {
				break
			}
			for i < len(batch) && batch[i].Seq < s.Seq {
				rest = append(rest, batch[i])
				i++
			}
			if i < len(batch) && batch[i].Seq == s.Seq {
				if batch[i].Stream != s.Stream || batch[i].Line != s.Line {
					return nil, fmt.Errorf("%w (seq %d)", errForeign, s.Seq)
				}
				i++
			}
		}
		if len(got) < limit {
			break
		}
		after = got[len(got)-1].Seq
	}
	return append(rest, batch[i:]...), nil
}
