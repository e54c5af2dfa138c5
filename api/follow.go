package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

// Bounds of followed logs; Config can change them.
const (
	// DefaultFollowIdle ends a followed log that had no new line for that
	// long (a stage that sleeps, a gate that waits for days): a follower
	// that went away without closing its connection must not stay for
	// ever. The client follows again from the idle event's id.
	DefaultFollowIdle = 10 * time.Minute
	// DefaultFollowersPerTenant caps the logs a tenant follows at once on
	// one server process: each holds a goroutine, a connection and a
	// read of Postgres at every poll.
	DefaultFollowersPerTenant = 32
	// followRetryAfter is the Retry-After, in seconds, of a follower
	// refused for its tenant's cap.
	followRetryAfter = 10
	// followPing is how often a follower with nothing to send sends a
	// comment, so that proxies keep the connection open.
	followPing = 15 * time.Second
)

// followers counts the logs each tenant follows at once in this process.
type followers struct {
	mu sync.Mutex
	n  map[uuid.UUID]int
}

// take counts one more follower of tenant, unless it has limit already.
func (f *followers) take(tenant uuid.UUID, limit int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n = map[uuid.UUID]int{}
	}
	if f.n[tenant] >= limit {
		return false
	}
	f.n[tenant]++
	return true
}

// give counts a follower of tenant fewer.
func (f *followers) give(tenant uuid.UUID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[tenant]--; f.n[tenant] <= 0 {
		delete(f.n, tenant)
	}
}

// eventID is the id of a followed log's event: the attempt and the Seq of
// the last line sent (0 before the first). A client that follows again
// sends it back as Last-Event-ID to go on from there.
func eventID(attempt int, seq int64) string {
	return strconv.Itoa(attempt) + ":" + strconv.FormatInt(seq, 10)
}

func parseEventID(id string) (attempt int, seq int64, ok bool) {
	a, sq, found := strings.Cut(id, ":")
	attempt, aerr := strconv.Atoi(a)
	seq, serr := strconv.ParseInt(sq, 10, 64)
	return attempt, seq, found && aerr == nil && serr == nil && attempt >= 1 && seq >= 0
}

// followLogs streams an attempt's log as server-sent events from Postgres,
// polling for new lines, until the stage ends (and, when latest, until no
// retry follows), the client goes away or stops reading (every write has
// Config.StreamWriteTimeout), or no line came for Config.FollowIdle: then
// an "idle" event says where to follow on. Lines are read and sent in
// batches of at most logChunkLines lines and logChunkBytes bytes, each line
// event with an id (eventID) that Last-Event-ID takes back.
func (s *Server) followLogs(c *gin.Context, tenant, run uuid.UUID, sr db.StageRun, latest bool, after int64, wake <-chan struct{}) {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	out := stream(c, s.cfg.StreamWriteTimeout, time.Time{})
	// event writes an event into the batch; send writes it and flushes.
	event := func(name, id string, v any) bool {
		b, _ := json.Marshal(v)
		if id != "" {
			fmt.Fprintf(out, "id: %s\n", id)
		}
		fmt.Fprintf(out, "event: %s\ndata: %s\n\n", name, b)
		return out.err == nil
	}
	send := func(name, id string, v any) bool { return event(name, id, v) && out.Flush() == nil }
	if out.Flush() != nil {
		return
	}
	ctx := c.Request.Context()
	lastLine, lastWrite := time.Now(), time.Now()
	for {
		// Read the status before the lines: lines stored before the stage
		// ended are all read once the status says it ended.
		cur, err := s.stageAttempt(c, tenant, run, sr.StageID, sr.Attempt)
		if err != nil {
			if !db.IsUnavailable(err) {
				logger(c).Error("following a log failed", "error", err)
				send(apiview.EventError, "", apiview.FollowError{Message: "internal error; it has been logged"})
				return
			}
			// The database is away: keep the stream, try again.
			cur = sr
			cur.Status = buildit.StageRunning
		}
		for {
			lines, more, err := s.readLogChunk(c, tenant, run, sr, after, logChunkLines, logChunkBytes, true)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if !db.IsUnavailable(err) {
					logger(c).Error("following a log failed", "error", err)
					send(apiview.EventError, "", apiview.FollowError{Message: "internal error; it has been logged"})
					return
				}
				cur.Status = buildit.StageRunning
				break
			}
			for _, l := range lines {
				if !event(apiview.EventLine, eventID(sr.Attempt, l.Seq), apiview.LogLine{Seq: l.Seq, Stream: streamName(l.Stream), Line: l.Line, At: l.At, Attempt: sr.Attempt}) {
					return
				}
				after = l.Seq
			}
			if len(lines) > 0 {
				if out.Flush() != nil {
					return
				}
				lastLine, lastWrite = time.Now(), time.Now()
			}
			if !more {
				break
			}
		}
		if stageEnded(cur.Status) {
			next, err := s.stageAttempt(c, tenant, run, sr.StageID, 0)
			if latest && err == nil && next.Attempt > sr.Attempt {
				sr, after = next, 0
				if !send(apiview.EventAttempt, eventID(sr.Attempt, 0), apiview.FollowAttempt{Stage: sr.StageID, Attempt: sr.Attempt}) {
					return
				}
				lastLine, lastWrite = time.Now(), time.Now()
				continue
			}
			send(apiview.EventEnd, "", apiview.FollowEnd{Stage: sr.StageID, Attempt: sr.Attempt, Status: cur.Status, ExitCode: cur.ExitCode, Error: cur.Error})
			return
		}
		if idle := s.cfg.FollowIdle; time.Since(lastLine) >= idle {
			id := eventID(sr.Attempt, after)
			send(apiview.EventIdle, id, apiview.FollowIdle{Stage: sr.StageID, Attempt: sr.Attempt, Next: after, Message: fmt.Sprintf(
				"no new line for %s; follow again with Last-Event-ID: %s (or attempt=%d&after=%d) to read on", idle, id, sr.Attempt, after)})
			return
		}
		if time.Since(lastWrite) > followPing {
			if _, err := fmt.Fprint(out, ": ping\n\n"); err != nil || out.Flush() != nil {
				return
			}
			lastWrite = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(s.followPoll()):
		}
	}
}

// followPoll is how often a follower reads again without a wake-up.
func (s *Server) followPoll() time.Duration {
	if s.cfg.Logs != nil && s.cfg.Logs.Listening() {
		return FollowPollNotified
	}
	return FollowPoll
}
