package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

func streamName(s db.LogStream) string {
	switch s {
	case db.LogStdout:
		return "stdout"
	case db.LogStderr:
		return "stderr"
	}
	return "system"
}

// FollowPoll is how often a followed log looks for new lines;
// FollowStartWait how long it waits for a just-started run to record the
// stage.
var (
	FollowPoll      = 100 * time.Millisecond
	FollowStartWait = 30 * time.Second
	// FollowPollNotified is the poll's period while notifications
	// arrive: only a fallback.
	FollowPollNotified = time.Second
)

// Bounds of the answers of GET .../logs. Config can change the first
// three; see its fields.
const (
	// DefaultLogPageBytes bounds the line text of one page of a stored
	// log: 4 MiB, 64 lines of the longest a worker stores (64 KiB).
	DefaultLogPageBytes = 4 << 20
	// DefaultStreamWriteTimeout is how long a write of a log page or a
	// followed log may wait for the client.
	DefaultStreamWriteTimeout = 10 * time.Second
	// logPageTime bounds the time a client takes to read a whole page
	// (4 MiB in a minute is 70 KB/s), so that one that reads a trickle
	// does not hold the handler, and its chunk of the log, for long.
	logPageTime = time.Minute
	// logChunkLines and logChunkBytes bound one read from Postgres, which
	// is sent before the next is made: what a page or a followed log
	// holds in memory at once, and one batch of a followed log's events.
	logChunkLines = 1000
	logChunkBytes = 256 << 10
)

func isNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// getLogs returns a page of a stage's stored log lines (?stage=ID, optional
// attempt=N, after=SEQ, limit=N), or with follow=1 streams them as
// server-sent events until the stage ends: an event "line" per line (its
// JSON), "attempt" when a retry starts a new attempt, "end" with the
// stage's final status, and "idle" when no line came for a while (see
// followLogs).
//
// A page holds at most limit lines (default db.DefaultLogLines, at most
// db.MaxLogLines) and at most Config.LogPageBytes of line text; next says
// where the following page starts, and ended is true only on a page that
// holds the last line of an attempt that has ended.
func (s *Server) getLogs(c *gin.Context) {
	stage := c.Query("stage")
	if stage == "" {
		fail(c, invalid("stage is required: the ID of the stage whose log to read"))
		return
	}
	attempt, err := intParam(c, "attempt", 0)
	if err != nil {
		fail(c, err)
		return
	}
	after, err := intParam(c, "after", 0)
	if err != nil {
		fail(c, err)
		return
	}
	limit, err := intParam(c, "limit", db.DefaultLogLines)
	if err != nil {
		fail(c, err)
		return
	}
	follow := c.Query("follow") == "1" || c.Query("follow") == "true"
	// A follower that reconnects says where it was with the id of the
	// last event it got, as EventSource does.
	latest := attempt == 0
	if id := c.GetHeader("Last-Event-ID"); follow && id != "" {
		a, seq, ok := parseEventID(id)
		if !ok {
			fail(c, invalid("Last-Event-ID must be the id of an event of this log (ATTEMPT:SEQ)"))
			return
		}
		attempt, after = int64(a), seq
	}
	_, r, err := s.runOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	tenant := tenantOf(c).ID
	if follow {
		if !s.followers.take(tenant, s.cfg.FollowersPerTenant) {
			c.Header("Retry-After", strconv.Itoa(followRetryAfter))
			fail(c, errorf(http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf(
				"this tenant already follows %d logs at once, the most this server allows; close one, or try again in %d s", s.cfg.FollowersPerTenant, followRetryAfter)))
			return
		}
		defer s.followers.give(tenant)
	}
	var wake <-chan struct{}
	if follow && s.cfg.Logs != nil {
		w, stop := s.cfg.Logs.Subscribe(r.ID.String())
		defer stop()
		wake = w
	}
	sr, err := s.stageAttempt(c, tenant, r.ID, stage, int(attempt))
	for wait := time.Now().Add(FollowStartWait); follow && isNotFound(err) && !r.Status.Terminal() && time.Now().Before(wait); {
		// A run just triggered has not recorded its stages yet.
		select {
		case <-c.Request.Context().Done():
			return
		case <-wake:
		case <-time.After(s.followPoll()):
		}
		sr, err = s.stageAttempt(c, tenant, r.ID, stage, int(attempt))
	}
	if err != nil {
		fail(c, err)
		return
	}
	if follow {
		s.followLogs(c, tenant, r.ID, sr, latest, after, wake)
		return
	}
	if limit == 0 {
		limit = db.DefaultLogLines
	}
	s.writeLogPage(c, tenant, r.ID, sr, after, int(min(limit, db.MaxLogLines)))
}

// writeLogPage answers with a page of sr's log after after as JSON, the
// shape of logsView, written as its lines are read: a chunk at a time from
// Postgres, so that neither the page nor its JSON is ever whole in memory.
func (s *Server) writeLogPage(c *gin.Context, tenant, run uuid.UUID, sr db.StageRun, after int64, limit int) {
	budget := s.cfg.LogPageBytes
	lines, more, err := s.readLogChunk(c, tenant, run, sr, after, min(limit, logChunkLines), min(budget, logChunkBytes), true)
	if err != nil {
		fail(c, err)
		return
	}
	out := stream(c, s.cfg.StreamWriteTimeout, time.Now().Add(logPageTime))
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Status(http.StatusOK)
	stage, _ := json.Marshal(sr.StageID)
	fmt.Fprintf(out, `{"stage":%s,"attempt":%d,"lines":[`, stage, sr.Attempt)
	sent, used := 0, 0
	for {
		for _, l := range lines {
			if sent > 0 {
				_, _ = out.Write([]byte{','})
			}
			b, _ := json.Marshal(apiview.LogLine{Seq: l.Seq, Stream: streamName(l.Stream), Line: l.Line, At: l.At})
			_, _ = out.Write(b)
			sent++
			used += len(l.Line)
			after = l.Seq
		}
		if out.err != nil {
			return // the client is gone or too slow
		}
		if !more || sent >= limit || used >= budget {
			break
		}
		lines, more, err = s.readLogChunk(c, tenant, run, sr, after, min(limit-sent, logChunkLines), min(budget-used, logChunkBytes), false)
		if err != nil {
			logger(c).Error("reading a log page failed", "error", err)
			out.Abort(c)
			return
		}
		if len(lines) == 0 {
			break // the next line does not fit in what is left
		}
	}
	fmt.Fprintf(out, `],"next":%d,"ended":%t}`, after, stageEnded(sr.Status) && !more)
}

// readLogChunk reads the lines of sr's log after after that fit in limit
// lines and maxBytes bytes of text, and whether more remain. When first,
// a line longer than maxBytes comes alone rather than stopping the reader
// for good.
func (s *Server) readLogChunk(c *gin.Context, tenant, run uuid.UUID, sr db.StageRun, after int64, limit, maxBytes int, first bool) ([]db.LogLine, bool, error) {
	logs := s.store.Logs()
	lines, more, err := logs.ReadLogPage(c.Request.Context(), tenant, run, sr.StageID, sr.Attempt, after, limit, maxBytes)
	if err == nil && first && len(lines) == 0 && more {
		lines, more, err = logs.ReadLogPage(c.Request.Context(), tenant, run, sr.StageID, sr.Attempt, after, 1, math.MaxInt32)
	}
	return lines, more, err
}

func intParam(c *gin.Context, name string, def int64) (int64, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, invalid(name + " must be a whole number, 0 or more")
	}
	return n, nil
}

// stageAttempt finds a stage's attempt: the given one, or the latest.
func (s *Server) stageAttempt(c *gin.Context, tenant, run uuid.UUID, stage string, attempt int) (db.StageRun, error) {
	all, err := s.store.Runs().ListStageRuns(c, tenant, run)
	if err != nil {
		return db.StageRun{}, err
	}
	var found *db.StageRun
	for i, sr := range all {
		if sr.StageID != stage {
			continue
		}
		if attempt == sr.Attempt || attempt == 0 && (found == nil || sr.Attempt > found.Attempt) {
			found = &all[i]
		}
	}
	if found == nil {
		return db.StageRun{}, notFound("stage attempt")
	}
	return *found, nil
}

func stageEnded(st buildit.StageStatus) bool {
	return st != buildit.StagePending && st != buildit.StageRunning && st != buildit.StageWaiting
}
