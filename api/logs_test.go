package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

// logStage is run 1 of pipeline "app" with its stage "greet" recorded as
// running, made through the store as a worker would, so that a test writes
// its log directly instead of running a stage that prints it.
type logStage struct {
	owner  *client
	key    string // an API key of the owner's, every scope
	tenant uuid.UUID
	run    uuid.UUID
	// logs is the stage's log URL under /api/v1, with ?stage=greet.
	logs string
}

func (e *env) logStage(email, org string) logStage {
	t := e.t
	t.Helper()
	ctx := context.Background()
	slug := strings.ToLower(org)
	owner := e.signup(email, org)
	owner.must(201, "POST", "/orgs/"+slug+"/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/"+slug+"/tenants/web/pipelines", map[string]string{"name": "app", "source": helloKDL})
	o, err := e.store.Organizations().GetBySlug(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := e.store.Tenants().Get(ctx, o.ID, "web")
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.store.Pipelines().Get(ctx, tn.ID, "app")
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.store.Runs().CreateRun(ctx, tn.ID, p.ID, db.NewRun{Trigger: "test"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := e.store.Runs().PutStageRun(ctx, tn.ID, db.StageRun{RunID: r.ID, StageID: "greet", Attempt: 1, Status: buildit.StageRunning, StartedAt: &now}); err != nil {
		t.Fatal(err)
	}
	return logStage{
		owner: owner, key: owner.apiKey(slug, map[string]any{"name": "reader", "scopes": Scopes}),
		tenant: tn.ID, run: r.ID,
		logs: fmt.Sprintf("/orgs/%s/tenants/web/pipelines/app/runs/%d/logs?stage=greet", slug, r.Number),
	}
}

// logLineText is line seq of a test log: its number, then filler up to
// size bytes, so that a reader can tell each line is the one expected.
func logLineText(seq int64, size int) string {
	head := fmt.Sprintf("%08d|", seq)
	return head + strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789"[seq%36:seq%36+1], size-len(head))
}

// appendLog stores lines from..to (inclusive) of size bytes each in the
// stage's log, in batches as a worker does.
func (e *env) appendLog(ls logStage, from, to int64, size int) {
	e.t.Helper()
	const batch = 256
	for first := from; first <= to; first += batch {
		var lines []db.LogLine
		for seq := first; seq <= min(to, first+batch-1); seq++ {
			lines = append(lines, db.LogLine{Seq: seq, Stream: db.LogStdout, Line: logLineText(seq, size), At: time.Now()})
		}
		if err := e.store.Logs().AppendLogs(context.Background(), ls.tenant, ls.run, "greet", 1, lines); err != nil {
			e.t.Error(err)
			return
		}
	}
}

func (e *env) endStage(ls logStage) {
	e.t.Helper()
	now := time.Now()
	if _, err := e.store.Runs().PutStageRun(context.Background(), ls.tenant, db.StageRun{RunID: ls.run, StageID: "greet", Attempt: 1, Status: buildit.StageSucceeded, StartedAt: &now, EndedAt: &now}); err != nil {
		e.t.Fatal(err)
	}
}

// pageSummary is what readLogPage saw of one answer of GET .../logs.
type pageSummary struct {
	stage     string
	attempt   int
	first     int64 // seq of the first line, 0 when none
	lines     int
	textBytes int
	next      int64
	ended     bool
}

// readLogPage reads one page of a log as a stream of JSON tokens, never
// holding the whole answer: the test's own memory stays small while it
// measures the server's. It checks that the answer is one valid JSON
// object of the documented shape, that its lines follow after in order
// without a gap, and that each is the line the test wrote.
func readLogPage(hc *http.Client, key, url string, after int64, size int) (pageSummary, error) {
	var p pageSummary
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := hc.Do(req)
	if err != nil {
		return p, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return p, fmt.Errorf("GET %s: %d %s", url, res.StatusCode, b)
	}
	dec := json.NewDecoder(res.Body)
	expect := func(want json.Delim) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); !ok || d != want {
			return fmt.Errorf("got %v, want %v", tok, want)
		}
		return nil
	}
	if err := expect('{'); err != nil {
		return p, err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return p, err
		}
		key, _ := tok.(string)
		seen[key] = true
		switch key {
		case "stage":
			err = dec.Decode(&p.stage)
		case "attempt":
			err = dec.Decode(&p.attempt)
		case "next":
			err = dec.Decode(&p.next)
		case "ended":
			err = dec.Decode(&p.ended)
		case "lines":
			if err := expect('['); err != nil {
				return p, err
			}
			want := after + 1
			for dec.More() {
				var l apiview.LogLine
				if err := dec.Decode(&l); err != nil {
					return p, err
				}
				if l.Seq != want || l.Line != logLineText(l.Seq, size) || l.Stream != "stdout" {
					return p, fmt.Errorf("line %d (%d bytes) where line %d was due", l.Seq, len(l.Line), want)
				}
				if p.first == 0 {
					p.first = l.Seq
				}
				want++
				p.lines++
				p.textBytes += len(l.Line)
			}
			err = expect(']')
		default:
			return p, fmt.Errorf("unexpected field %q", key)
		}
		if err != nil {
			return p, err
		}
	}
	if err := expect('}'); err != nil {
		return p, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return p, fmt.Errorf("after the object: %w", err)
	}
	for _, k := range []string{"stage", "attempt", "lines", "next", "ended"} {
		if !seen[k] {
			return p, fmt.Errorf("no %q in the answer", k)
		}
	}
	return p, nil
}

// heapSampler records the peak of the process's heap (objects allocated
// and not yet freed) from a goroutine that samples it every 2 ms.
type heapSampler struct {
	base, peak uint64
	stop       chan struct{}
	done       chan struct{}
}

func heapNow() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func sampleHeap() *heapSampler {
	runtime.GC()
	h := &heapSampler{base: heapNow(), stop: make(chan struct{}), done: make(chan struct{})}
	h.peak = h.base
	go func() {
		defer close(h.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
				h.peak = max(h.peak, heapNow())
			}
		}
	}()
	return h
}

// growth stops sampling and returns the peak heap's growth over the heap
// when sampling began.
func (h *heapSampler) growth() uint64 {
	close(h.stop)
	<-h.done
	return h.peak - h.base
}

// peakRSS returns the process's peak resident set (VmHWM) in bytes, and
// resetPeakRSS sets it back to the current RSS (Linux); both are for the
// report, not asserted: the Go runtime keeps freed memory a while.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

const mib = 1 << 20

// Five clients read a 120 MiB stage log (10,240 lines of 12 KiB) at once,
// each with limit=10000 and after= to read on, as finding 6 did: before,
// each answer held the whole 120 MiB page (rows, view and JSON) in the
// server at once and the heap grew by gigabytes. Every answer must now be
// valid JSON within the byte budget, the pages must give every line
// exactly once, and the server's heap must stay bounded while they read.
// Not parallel: the heap measured is the whole test process's.
func TestSecurityLogReadsAreBounded(t *testing.T) {
	e := setup(t)
	ls := e.logStage("owner@acme.test", "Acme")
	const lines, size = 10240, 12 << 10
	e.appendLog(ls, 1, lines, size)
	e.endStage(ls)
	budget := DefaultLogPageBytes

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	resetPeakRSS()
	rssBefore := peakRSS()
	heap := sampleHeap()
	var wg sync.WaitGroup
	pages := make([]int, 5)
	errs := make(chan error, 5)
	for i := range 5 {
		wg.Go(func() {
			after, read := int64(0), 0
			for {
				p, err := readLogPage(hc, ls.key, fmt.Sprintf("%s/api/v1%s&limit=10000&after=%d", e.srv.URL, ls.logs, after), after, size)
				if err != nil {
					errs <- fmt.Errorf("reader %d, page after %d: %w", i, after, err)
					return
				}
				pages[i]++
				switch {
				case p.textBytes > budget:
					errs <- fmt.Errorf("reader %d: a page of %d lines holds %d bytes of text, over the %d budget", i, p.lines, p.textBytes, budget)
					return
				case p.stage != "greet" || p.attempt != 1:
					errs <- fmt.Errorf("reader %d: page of stage %q attempt %d", i, p.stage, p.attempt)
					return
				case p.lines > 0 && p.next != after+int64(p.lines):
					errs <- fmt.Errorf("reader %d: next %d after %d lines from %d", i, p.next, p.lines, after)
					return
				case p.lines == 0 && !p.ended:
					errs <- fmt.Errorf("reader %d: an empty page after %d that does not say ended", i, after)
					return
				}
				after = p.next
				read += p.lines
				if p.ended {
					break
				}
			}
			if read != lines || after != lines {
				errs <- fmt.Errorf("reader %d read %d lines up to %d, want %d", i, read, after, lines)
			}
		})
	}
	wg.Wait()
	growth := heap.growth()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rss := peakRSS()
	t.Logf("5 parallel readers of a %d MiB log: pages per reader %v; peak heap growth %d MiB; peak RSS %d MiB (%d MiB before)",
		lines*size/mib, pages, growth/mib, rss/mib, rssBefore/mib)
	if growth > 256*mib {
		t.Errorf("the heap grew by %d MiB while 5 clients read the log, over the 256 MiB bound", growth/mib)
	}
}

// sse is a client's view of a followed log.
type sse struct {
	res    *http.Response
	events *apiview.EventReader
	cancel context.CancelFunc
}

// openFollow starts following url with the API key and returns the answer
// (whatever its status).
func (e *env) openFollow(key, url string, header ...string) (*sse, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1"+url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req) //nolint:bodyclose // the body is the stream s reads; s.close, a Cleanup, closes it
	if err != nil {
		cancel()
		return nil, err
	}
	s := &sse{res: res, events: apiview.NewEventReader(res.Body), cancel: cancel}
	e.t.Cleanup(s.close)
	return s, nil
}

func (s *sse) close() {
	s.cancel()
	s.res.Body.Close()
}

// next returns the next event, or an error when the stream ends or
// nothing comes within d.
func (s *sse) next(d time.Duration) (apiview.Event, error) {
	timer := time.AfterFunc(d, s.cancel)
	defer timer.Stop()
	return s.events.Next()
}

// followHandlers counts the goroutines serving a followed log.
func followHandlers() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "api.(*Server).followLogs(")
}

// A client follows a growing log and then stops reading, with a small
// receive buffer, as finding 6's stalled SSE client did: before, the
// handler blocked in a write for ever, holding its goroutine and buffers.
// Now every write has a deadline: the handler gives up and its goroutine
// ends. Not parallel: it counts the process's follow handlers.
func TestSecurityStalledFollowerIsDropped(t *testing.T) {
	e := setup(t)
	e.api.cfg.StreamWriteTimeout = 300 * time.Millisecond
	ls := e.logStage("owner@acme.test", "Acme")
	const size = 12 << 10
	e.appendLog(ls, 1, 700, size) // more than the socket buffers hold
	stop := make(chan struct{})
	grown := make(chan struct{})
	go func() {
		defer close(grown)
		for seq := int64(701); seq < 3000; seq += 20 {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			e.appendLog(ls, seq, seq+19, size)
		}
	}()
	defer func() { close(stop); <-grown }()

	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1%s&follow=1 HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\n\r\n", ls.logs, ls.key)

	waitFor := func(what string, d time.Duration, cond func() bool) bool {
		for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("%s after %s", what, d)
				return false
			}
		}
		return true
	}
	if !waitFor("no follow handler started", 20*time.Second, func() bool { return followHandlers() > 0 }) {
		return
	}
	if !waitFor("the stalled follower's handler still runs", 20*time.Second, func() bool { return followHandlers() == 0 }) {
		return
	}
	e.api.followers.mu.Lock()
	n := e.api.followers.n[ls.tenant]
	e.api.followers.mu.Unlock()
	if n != 0 {
		t.Errorf("the dropped follower still counts among its tenant's: %d", n)
	}
	// The server closed the connection: what it had sent, then the end.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("the stalled client's connection: %v", err)
	}
}

// followRunning follows ls's log n times with key and returns the streams,
// checking each was accepted.
func (e *env) followRunning(ls logStage, n int) []*sse {
	e.t.Helper()
	var out []*sse
	for range n {
		s, err := e.openFollow(ls.key, ls.logs+"&follow=1")
		if err != nil {
			e.t.Fatal(err)
		}
		if s.res.StatusCode != 200 {
			b, _ := io.ReadAll(s.res.Body)
			e.t.Fatalf("follow %d: %d %s", len(out)+1, s.res.StatusCode, b)
		}
		out = append(out, s)
	}
	return out
}

// A tenant opens followers past its cap, as a hostile one would to hold
// the server's goroutines and buffers: the one past the cap gets a 429
// with a JSON error and Retry-After, another tenant's followers are not
// affected, and a closed follower frees its place.
func TestSecurityFollowersPerTenantAreCapped(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const limit = 3
	e.api.cfg.FollowersPerTenant = limit
	ls := e.logStage("owner@acme.test", "Acme")
	other := e.logStage("owner@other.test", "Other")
	open := e.followRunning(ls, limit)

	extra, err := e.openFollow(ls.key, ls.logs+"&follow=1")
	if err != nil {
		t.Fatal(err)
	}
	if extra.res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("follower %d of a tenant: %d, want 429", limit+1, extra.res.StatusCode)
	}
	body, _ := io.ReadAll(extra.res.Body)
	r := resp{status: extra.res.StatusCode, body: body}
	if r.code() != CodeRateLimited || extra.res.Header.Get("Retry-After") == "" {
		t.Errorf("follower %d of a tenant: %d %q, Retry-After %q", limit+1, r.status, body, extra.res.Header.Get("Retry-After"))
	}
	e.followRunning(other, 1)

	open[0].close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		s, err := e.openFollow(ls.key, ls.logs+"&follow=1")
		if err != nil {
			t.Fatal(err)
		}
		if s.res.StatusCode == 200 {
			break
		}
		s.close()
		if time.Now().After(deadline) {
			t.Fatalf("a closed follower's place is still taken: %d", s.res.StatusCode)
		}
	}
}

// A follower of a stage that prints nothing more is ended with an "idle"
// event saying where to read on; following again from there (with the
// event's id as Last-Event-ID) gets the lines that came since, once.
func TestSecurityIdleFollowerIsEnded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.api.cfg.FollowIdle = 500 * time.Millisecond
	ls := e.logStage("owner@acme.test", "Acme")
	e.appendLog(ls, 1, 2, 100)
	s := e.followRunning(ls, 1)[0]
	var last apiview.Event
	for i := 1; ; i++ {
		ev, err := s.next(20 * time.Second)
		if err != nil {
			t.Fatalf("event %d: %v (the last was %+v)", i, err, last)
		}
		last = ev
		if ev.Name == "idle" {
			break
		}
		if ev.Name != "line" || i > 2 {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	var idle struct {
		Stage   string `json:"stage"`
		Attempt int    `json:"attempt"`
		Next    int64  `json:"next"`
	}
	if err := json.Unmarshal([]byte(last.Data), &idle); err != nil || idle.Stage != "greet" || idle.Attempt != 1 || idle.Next != 2 || last.ID != "1:2" {
		t.Fatalf("idle event %+v (%v)", last, err)
	}
	if ev, err := s.next(10 * time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("after the idle event: %+v, %v", ev, err)
	}

	e.appendLog(ls, 3, 3, 100)
	again, err := e.openFollow(ls.key, ls.logs+"&follow=1", "Last-Event-ID", last.ID)
	if err != nil || again.res.StatusCode != 200 {
		t.Fatalf("following on: %v", err)
	}
	ev, err := again.next(20 * time.Second)
	if err != nil || ev.Name != "line" || ev.ID != "1:3" || !strings.Contains(ev.Data, logLineText(3, 100)) {
		t.Fatalf("first event following on: %+v, %v", ev, err)
	}
	if ev, err := again.next(20 * time.Second); err != nil || ev.Name != "idle" {
		t.Fatalf("second event following on: %+v, %v", ev, err)
	}
}
