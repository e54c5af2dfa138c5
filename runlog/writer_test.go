package runlog_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/runlog"
)

func closeOK(t testing.TB, w *runlog.Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestOrderAcrossBatches(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const n = 100_000
	w := runlog.New(runlog.FromStore(e.store), e.key, runlog.Options{})
	begin := time.Now()
	for i := 1; i <= n; i++ {
		stream := executor.Stdout
		if i%7 == 0 {
			stream = executor.Stderr
		}
		w.WriteLine("ignored", stream, fmt.Sprintf("line %d", i))
	}
	closeOK(t, w)
	took := time.Since(begin)
	t.Logf("%d lines stored in %v: %.0f lines/s", n, took.Round(time.Millisecond), n/took.Seconds())

	lines := e.readAll(t, e.key)
	checkSeqs(t, lines, 1, n)
	for i, l := range lines {
		want := db.LogStdout
		if (i+1)%7 == 0 {
			want = db.LogStderr
		}
		if l.Line != fmt.Sprintf("line %d", i+1) || l.Stream != want {
			t.Fatalf("line %d = %q on stream %d", i+1, l.Line, l.Stream)
		}
		if i > 0 && l.At.Before(lines[i-1].At) {
			t.Fatalf("line %d arrived before line %d", i+1, i)
		}
	}
	if st := w.Stats(); st.Written != n || st.Stored != n || st.Dropped != 0 || st.Failures != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestFlushEvery(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const every = 100 * time.Millisecond
	w := runlog.New(runlog.FromStore(e.store), e.key, runlog.Options{FlushEvery: every})
	defer closeOK(t, w)

	began := time.Now()
	w.WriteLine("build", executor.Stdout, "hello")
	for {
		lines := e.readAll(t, e.key)
		if len(lines) == 1 {
			took := time.Since(began)
			t.Logf("a single line was stored after %v (FlushEvery %v)", took.Round(time.Millisecond), every)
			if took < every {
				t.Errorf("stored after %v, before FlushEvery", took)
			}
			if lines[0].Line != "hello" || lines[0].Seq != 1 || lines[0].Stream != db.LogStdout {
				t.Errorf("stored %+v", lines[0])
			}
			if at := lines[0].At; at.Before(began.Add(-time.Millisecond)) || at.After(began.Add(every)) {
				t.Errorf("At = %v, the line was written at %v", at, began)
			}
			return
		}
		if time.Since(began) > every+2*time.Second {
			t.Fatalf("the line was not stored %v after it was written", time.Since(began))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const each = 20_000
	w := runlog.New(runlog.FromStore(e.store), e.key, runlog.Options{MaxBatch: 300})
	var wg sync.WaitGroup
	for _, stream := range []executor.Stream{executor.Stdout, executor.Stderr} {
		wg.Go(func() {
			for i := range each {
				w.WriteLine("build", stream, fmt.Sprintf("%s %d", stream, i))
			}
		})
	}
	wg.Go(func() { // a third writer of BuildIt's own messages
		for i := range 100 {
			w.WriteSystem(fmt.Sprintf("system %d", i))
		}
	})
	wg.Wait()
	closeOK(t, w)

	lines := e.readAll(t, e.key)
	checkSeqs(t, lines, 1, 2*each+100)
	next := map[db.LogStream]int{}
	names := map[db.LogStream]string{db.LogStdout: "stdout", db.LogStderr: "stderr", db.LogSystem: "system"}
	for _, l := range lines {
		if want := fmt.Sprintf("%s %d", names[l.Stream], next[l.Stream]); l.Line != want {
			t.Fatalf("seq %d is %q, want %q: a stream's lines are out of order", l.Seq, l.Line, want)
		}
		next[l.Stream]++
	}
	if next[db.LogStdout] != each || next[db.LogStderr] != each || next[db.LogSystem] != 100 {
		t.Errorf("lines per stream = %v", next)
	}
}

func TestCloseFlushes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// Neither the size nor the age of a batch would write it.
	opts := runlog.Options{MaxBatch: 100_000, FlushEvery: time.Hour}
	w := runlog.New(runlog.FromStore(e.store), e.key, opts)
	for i := range 1234 {
		w.WriteLine("build", executor.Stdout, fmt.Sprint(i))
	}
	time.Sleep(50 * time.Millisecond)
	if got := e.readAll(t, e.key); len(got) != 0 {
		t.Fatalf("%d lines stored before Close", len(got))
	}
	closeOK(t, w)
	checkSeqs(t, e.readAll(t, e.key), 1, 1234)

	// Close again: the same answer. A line after Close is dropped, and
	// that is reported.
	closeOK(t, w)
	w.WriteLine("build", executor.Stdout, "too late")
	if st := w.Stats(); st.Dropped != 1 || st.Stored != 1234 {
		t.Errorf("Stats = %+v", st)
	}
	if err := w.Close(context.Background()); err == nil || !strings.Contains(err.Error(), "1 lines written after Close") {
		t.Errorf("Close after a dropped line = %v", err)
	}
}

func TestFlush(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w := runlog.New(runlog.FromStore(e.store), e.key, runlog.Options{MaxBatch: 100_000, FlushEvery: time.Hour})
	defer closeOK(t, w)
	ctx := context.Background()
	if err := w.Flush(ctx); err != nil { // nothing to flush
		t.Fatal(err)
	}
	for round := range 3 {
		for i := range 10 {
			w.WriteLine("build", executor.Stderr, fmt.Sprint(round, i))
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		checkSeqs(t, e.readAll(t, e.key), 1, 10*(round+1))
	}
}

// flaky fails its first n calls without storing anything.
type flaky struct {
	db.LogRepo
	n     atomic.Int32
	calls atomic.Int32
}

func (f *flaky) AppendLogs(ctx context.Context, tenantID, runID uuid.UUID, stageID string, attempt int, lines []db.LogLine) error {
	f.calls.Add(1)
	if f.n.Add(-1) >= 0 {
		return errors.New("connection refused")
	}
	return f.LogRepo.AppendLogs(ctx, tenantID, runID, stageID, attempt, lines)
}

func TestRetry(t *testing.T) {
	t.Parallel()
	e := setup(t)
	app := &flaky{LogRepo: e.repo}
	app.n.Store(4) // 50+100+200+400 ms of backoff
	w := runlog.New(app, e.key, runlog.Options{MaxBatch: 50, FlushEvery: 10 * time.Millisecond})
	began := time.Now()
	// Lines keep coming while the first batch is retried.
	for i := range 1000 {
		w.WriteLine("build", executor.Stdout, fmt.Sprint(i))
		if i%100 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	closeOK(t, w)
	took := time.Since(began)

	lines := e.readAll(t, e.key)
	checkSeqs(t, lines, 1, 1000)
	for i, l := range lines {
		if l.Line != fmt.Sprint(i) {
			t.Fatalf("seq %d is %q", l.Seq, l.Line)
		}
	}
	if st := w.Stats(); st.Failures != 4 || st.Stored != 1000 || st.Dropped != 0 {
		t.Errorf("Stats = %+v", st)
	}
	if took < 750*time.Millisecond {
		t.Errorf("four failures retried in %v; the backoff is 50 ms doubling", took)
	}
}

// committer stores a batch (or its first keep lines, when keep > 0) and
// then fails, on calls whose number fail says: the commit happened but its
// answer was lost.
type committer struct {
	db.LogRepo
	keep  int
	fail  func(call int) bool
	calls atomic.Int32
}

func (c *committer) AppendLogs(ctx context.Context, tenantID, runID uuid.UUID, stageID string, attempt int, lines []db.LogLine) error {
	call := int(c.calls.Add(1))
	if !c.fail(call) {
		return c.LogRepo.AppendLogs(ctx, tenantID, runID, stageID, attempt, lines)
	}
	stored := lines
	if c.keep > 0 && c.keep < len(lines) {
		stored = lines[:c.keep]
	}
	if err := c.LogRepo.AppendLogs(ctx, tenantID, runID, stageID, attempt, stored); err != nil {
		return err
	}
	return errors.New("connection reset by peer")
}

func TestCommittedThenError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		keep int
		fail func(call int) bool
	}{
		{"every other call", 0, func(call int) bool { return call%2 == 1 }},
		{"three times in a row", 0, func(call int) bool { return call >= 2 && call <= 4 }},
		// Not what a COPY does, but a retry must cope with it too.
		{"part of the batch", 7, func(call int) bool { return call%3 == 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			app := &committer{LogRepo: e.repo, keep: tc.keep, fail: tc.fail}
			w := runlog.New(app, e.key, runlog.Options{MaxBatch: 40, FlushEvery: 5 * time.Millisecond})
			for i := range 500 {
				w.WriteLine("build", executor.Stdout, fmt.Sprint(i))
				if i%50 == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
			closeOK(t, w)
			lines := e.readAll(t, e.key)
			checkSeqs(t, lines, 1, 500) // no duplicate can be stored: seq is the key
			for i, l := range lines {
				if l.Line != fmt.Sprint(i) {
					t.Fatalf("seq %d is %q", l.Seq, l.Line)
				}
			}
			st := w.Stats()
			if st.Stored != 500 || st.Dropped != 0 || st.Failures == 0 {
				t.Errorf("Stats = %+v", st)
			}
			t.Logf("%d calls, %d failed", app.calls.Load(), st.Failures)
		})
	}
}

func TestForeignLines(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	// Another writer stored seq 3 with other content.
	k := e.key
	if err := e.repo.AppendLogs(ctx, k.TenantID, k.RunID, k.StageID, k.Attempt, []db.LogLine{{Seq: 3, Stream: db.LogStdout, Line: "theirs", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	w := runlog.New(runlog.FromStore(e.store), e.key, runlog.Options{})
	for i := range 5 {
		w.WriteLine("build", executor.Stdout, fmt.Sprint("ours ", i))
	}
	err := w.Close(ctx)
	if !errors.Is(err, db.ErrConflict) || !strings.Contains(err.Error(), "5 lines not stored") {
		t.Errorf("Close = %v, want a conflict naming 5 lines", err)
	}
	if got := e.readAll(t, e.key); len(got) != 1 || got[0].Line != "theirs" {
		t.Errorf("stored %+v", got)
	}
}

func TestRunGone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	key := e.key
	key.RunID = uuid.New()
	w := runlog.New(runlog.FromStore(e.store), key, runlog.Options{FlushEvery: time.Millisecond})
	w.WriteLine("build", executor.Stdout, "x")
	if err := w.Flush(context.Background()); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("Flush = %v, want ErrInvalid", err)
	}
	// The writer has failed: lines are dropped at once, not buffered.
	w.WriteLine("build", executor.Stdout, "y")
	if err := w.Close(context.Background()); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("Close = %v, want ErrInvalid", err)
	}
	if st := w.Stats(); st.Dropped != 2 || st.Failures != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

// down never stores anything.
type down struct{ calls atomic.Int32 }

func (d *down) AppendLogs(context.Context, uuid.UUID, uuid.UUID, string, int, []db.LogLine) error {
	d.calls.Add(1)
	return errors.New("connection refused")
}

func TestCloseGivesUp(t *testing.T) {
	t.Parallel()
	app := &down{}
	w := runlog.New(app, runlog.Key{RunID: uuid.New(), StageID: "build", Attempt: 1}, runlog.Options{MaxBatch: 10})
	for i := range 25 {
		w.WriteLine("build", executor.Stdout, fmt.Sprint(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	fctx, fcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer fcancel()
	if err := w.Flush(fctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush = %v, want its context's error", err)
	}
	began := time.Now()
	err := w.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "25 lines not stored") {
		t.Errorf("Close = %v", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("Close took %v after its context ended", took)
	}
	// 50, 100 and 200 ms of backoff fit before the deadline: 4 calls,
	// fewer on a busy machine, never many more.
	if n := app.calls.Load(); n < 2 || n > 6 {
		t.Errorf("%d calls", n)
	}
}

// blocked waits for release before each call.
type blocked struct {
	db.LogRepo
	release chan struct{}
}

func (b *blocked) AppendLogs(ctx context.Context, tenantID, runID uuid.UUID, stageID string, attempt int, lines []db.LogLine) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.LogRepo.AppendLogs(ctx, tenantID, runID, stageID, attempt, lines)
}

func TestBackpressure(t *testing.T) {
	t.Parallel()
	e := setup(t)
	app := &blocked{LogRepo: e.repo, release: make(chan struct{})}
	const maxBuffered, total = 100, 300
	w := runlog.New(app, e.key, runlog.Options{MaxBatch: 10, MaxBuffered: maxBuffered, FlushEvery: time.Millisecond})
	var returned atomic.Int32
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i := range total {
			w.WriteLine("build", executor.Stdout, fmt.Sprint(i))
			returned.Add(1)
		}
	}()
	// The writer fills the buffer and then blocks in WriteLine.
	deadline := time.Now().Add(5 * time.Second)
	for returned.Load() < maxBuffered && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if n := returned.Load(); n != maxBuffered {
		t.Fatalf("%d WriteLine calls returned while the database was blocked, want MaxBuffered = %d", n, maxBuffered)
	}
	select {
	case <-finished:
		t.Fatal("the writer finished while the database was blocked")
	default:
	}
	close(app.release)
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("WriteLine still blocked after the database answered")
	}
	closeOK(t, w)
	lines := e.readAll(t, e.key)
	checkSeqs(t, lines, 1, total)
	for i, l := range lines {
		if l.Line != fmt.Sprint(i) {
			t.Fatalf("seq %d is %q", l.Seq, l.Line)
		}
	}
}

func TestBackpressureBytes(t *testing.T) {
	t.Parallel()
	app := &blocked{release: make(chan struct{})}
	w := runlog.New(app, runlog.Key{RunID: uuid.New(), StageID: "build", Attempt: 1}, runlog.Options{MaxBufferedBytes: 1000, FlushEvery: time.Millisecond})
	var returned atomic.Int32
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for range 20 {
			w.WriteLine("build", executor.Stdout, strings.Repeat("x", 300))
			returned.Add(1)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for returned.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := returned.Load(); n != 4 { // 4 × 300 ≥ 1000: the fifth waits
		t.Errorf("%d lines of 300 bytes buffered with MaxBufferedBytes 1000", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); err == nil || !strings.Contains(err.Error(), "lines not stored") {
		t.Errorf("Close = %v; the blocked store took nothing", err)
	}
	// Close released the WriteLine that waited for room: its line, and
	// those after it, are dropped and counted.
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("WriteLine still blocked after Close")
	}
	if st := w.Stats(); st.Dropped != 20 || st.Written != 4 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestInvalidText(t *testing.T) {
	t.Parallel()
	e := setup(t)
	long := strings.Repeat("é", 100_000) // 200,000 bytes: split at character boundaries
	in := []string{
		"nul\x00inside\x00",
		"bad \xff\xfe utf-8",
		"\xc3", // a truncated character
		"",
		"ok ✓",
		long,
		"\x00",
	}
	w := runlog.New(runlog.FromStore(e.store), e.key, runlog.Options{})
	for _, s := range in {
		w.WriteLine("build", executor.Stdout, s)
	}
	closeOK(t, w)

	lines := e.readAll(t, e.key)
	var got []string
	for _, l := range lines {
		got = append(got, l.Line)
	}
	if len(got) != 10 {
		t.Fatalf("%d lines stored, want 10 (the long line in 4 parts)", len(got))
	}
	want := []string{"nulinside", "bad \uFFFD utf-8", "\uFFFD", "", "ok ✓"}
	for i, s := range want {
		if got[i] != s {
			t.Errorf("line %d = %q, want %q", i+1, got[i], s)
		}
	}
	parts := got[5:9]
	for _, p := range parts {
		if len(p) > runlog.MaxLineBytes {
			t.Errorf("a part of %d bytes", len(p))
		}
	}
	if strings.Join(parts, "") != long {
		t.Error("the parts of the long line do not make it up")
	}
	if got[9] != "" {
		t.Errorf("last line = %q", got[9])
	}
	checkSeqs(t, lines, 1, 10)
}

func TestNextSeq(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	k := e.key
	next, err := runlog.NextSeq(ctx, e.repo, k)
	if err != nil || next != 1 {
		t.Fatalf("NextSeq of an empty log = %d, %v", next, err)
	}

	// A first worker writes 5000 lines; the attempt resumes elsewhere and
	// continues after them.
	w := runlog.New(runlog.FromStore(e.store), k, runlog.Options{})
	for i := range 5000 {
		w.WriteLine("build", executor.Stdout, fmt.Sprint(i))
	}
	closeOK(t, w)
	next, err = runlog.NextSeq(ctx, e.repo, k)
	if err != nil || next != 5001 {
		t.Fatalf("NextSeq = %d, %v; want 5001", next, err)
	}
	w = runlog.New(runlog.FromStore(e.store), k, runlog.Options{FirstSeq: next})
	w.WriteSystem("buildit: attached to the running stage")
	closeOK(t, w)
	lines := e.readAll(t, k)
	checkSeqs(t, lines, 1, 5001)
	if l := lines[5000]; l.Stream != db.LogSystem || l.Line != "buildit: attached to the running stage" {
		t.Errorf("last line %+v", l)
	}

	// Seq numbers far apart, and other attempts beside this one.
	other := k
	other.Attempt = 2
	for _, s := range []int64{7, 1 << 20, 1<<40 + 3} {
		if err := e.repo.AppendLogs(ctx, k.TenantID, k.RunID, k.StageID, other.Attempt, []db.LogLine{{Seq: s, Line: "x", At: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		if next, err := runlog.NextSeq(ctx, e.repo, other); err != nil || next != s+1 {
			t.Errorf("NextSeq after seq %d = %d, %v", s, next, err)
		}
	}
	if next, err := runlog.NextSeq(ctx, e.repo, k); err != nil || next != 5002 {
		t.Errorf("NextSeq of attempt 1 = %d, %v", next, err)
	}
}

// NextSeq looks at the attempt's own lines only: an attempt with none
// starts at 1 whatever its neighbours (other attempts, stages, runs) hold,
// and after a gap it goes on past the highest Seq, not past the first run
// of consecutive ones.
func TestNextSeqOfAnEmptyAttemptAndAfterAGap(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	k := e.key
	for _, s := range []int64{1, 2, 3, 10} {
		if err := e.repo.AppendLogs(ctx, k.TenantID, k.RunID, k.StageID, k.Attempt, []db.LogLine{{Seq: s, Line: "x", At: time.Now()}}); err != nil {
			t.Fatal(err)
		}
	}
	if next, err := runlog.NextSeq(ctx, e.repo, k); err != nil || next != 11 {
		t.Errorf("NextSeq after seqs 1, 2, 3 and 10 = %d, %v; want 11", next, err)
	}
	other := setup(t) // another tenant's run, with a stage "build" too
	if err := other.repo.AppendLogs(ctx, other.key.TenantID, other.key.RunID, other.key.StageID, other.key.Attempt, []db.LogLine{{Seq: 99, Line: "y", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	empty := map[string]runlog.Key{}
	for name, change := range map[string]func(*runlog.Key){
		"next attempt":  func(k *runlog.Key) { k.Attempt = 2 },
		"another stage": func(k *runlog.Key) { k.StageID = "test" },
		"another run":   func(k *runlog.Key) { k.RunID = uuid.New() },
		"another tenant's run": func(k *runlog.Key) {
			k.TenantID = other.key.TenantID
		},
	} {
		ek := k
		change(&ek)
		empty[name] = ek
	}
	for name, ek := range empty {
		if next, err := runlog.NextSeq(ctx, e.repo, ek); err != nil || next != 1 {
			t.Errorf("NextSeq of an attempt with no lines (%s) = %d, %v; want 1", name, next, err)
		}
	}
}
