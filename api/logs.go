package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

type logLineView struct {
	Seq     int64     `json:"seq"`
	Stream  string    `json:"stream"`
	Line    string    `json:"line"`
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt,omitempty"`
}

func streamName(s db.LogStream) string {
	switch s {
	case db.LogStdout:
		return "stdout"
	case db.LogStderr:
		return "stderr"
	}
	return "system"
}

type logsView struct {
	Stage   string        `json:"stage"`
	Attempt int           `json:"attempt"`
	Lines   []logLineView `json:"lines"`
	// Next is the seq to pass as after for the lines that follow.
	Next int64 `json:"next"`
	// Ended reports that the attempt has ended: no line will follow.
	Ended bool `json:"ended"`
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

func isNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// getLogs returns a stage's stored log lines (?stage=ID, optional
// attempt=N, after=SEQ, limit=N), or with follow=1 streams them as
// server-sent events until the stage ends: an event "line" per line (its
// JSON), "attempt" when a retry starts a new attempt, and "end" with the
// stage's final status.
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
	_, r, err := s.runOf(c)
	if err != nil {
		fail(c, err)
		return
	}
	tenant := tenantOf(c).ID
	var wake <-chan struct{}
	if follow && s.cfg.Logs != nil {
		w, stop := s.cfg.Logs.Subscribe(r.ID.String())
		defer stop()
		wake = w
	}
	sr, err := s.stageAttempt(c, tenant, r.ID, stage, int(attempt))
	for wait := time.Now().Add(FollowStartWait); follow && isNotFound(err) && !r.Status.Done() && time.Now().Before(wait); {
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
		s.followLogs(c, tenant, r.ID, sr, attempt == 0, after, wake)
		return
	}
	lines, err := s.store.Pipelines().ReadLogs(c, tenant, r.ID, stage, sr.Attempt, after, int(limit))
	if err != nil {
		fail(c, err)
		return
	}
	v := logsView{Stage: stage, Attempt: sr.Attempt, Lines: []logLineView{}, Next: after}
	for _, l := range lines {
		v.Lines = append(v.Lines, logLineView{Seq: l.Seq, Stream: streamName(l.Stream), Line: l.Line, At: l.At})
		v.Next = l.Seq
	}
	v.Ended = stageEnded(sr.Status) && len(lines) < int(max(limit, 1))
	ok(c, v)
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
	all, err := s.store.Pipelines().ListStageRuns(c, tenant, run)
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

func stageEnded(st db.StageStatus) bool {
	return st != db.StagePending && st != db.StageRunning && st != db.StageWaiting
}

// followLogs streams an attempt's log as server-sent events from Postgres,
// polling for new lines, until the stage ends (and, when latest, until no
// retry follows) or the client goes away.
func (s *Server) followLogs(c *gin.Context, tenant, run uuid.UUID, sr db.StageRun, latest bool, after int64, wake <-chan struct{}) {
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		w.Flush()
		return true
	}
	ctx := c.Request.Context()
	pl := s.store.Pipelines()
	lastPing := time.Now()
	w.Flush()
	for {
		// Read the status before the lines: lines stored before the stage
		// ended are all read once the status says it ended.
		cur, err := s.stageAttempt(c, tenant, run, sr.StageID, sr.Attempt)
		if err != nil {
			if !db.IsUnavailable(err) {
				logger(c).Error("following a log failed", "error", err)
				send("error", gin.H{"message": "internal error; it has been logged"})
				return
			}
			// The database is away: keep the stream, try again.
			cur = sr
			cur.Status = db.StageRunning
		}
		for {
			lines, err := pl.ReadLogs(ctx, tenant, run, sr.StageID, sr.Attempt, after, db.MaxLogLines)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if !db.IsUnavailable(err) {
					logger(c).Error("following a log failed", "error", err)
					send("error", gin.H{"message": "internal error; it has been logged"})
					return
				}
				cur.Status = db.StageRunning
				break
			}
			for _, l := range lines {
				if !send("line", logLineView{Seq: l.Seq, Stream: streamName(l.Stream), Line: l.Line, At: l.At, Attempt: sr.Attempt}) {
					return
				}
				after = l.Seq
				lastPing = time.Now()
			}
			if len(lines) < db.MaxLogLines {
				break
			}
		}
		if stageEnded(cur.Status) {
			next, err := s.stageAttempt(c, tenant, run, sr.StageID, 0)
			if latest && err == nil && next.Attempt > sr.Attempt {
				sr, after = next, 0
				if !send("attempt", gin.H{"stage": sr.StageID, "attempt": sr.Attempt}) {
					return
				}
				continue
			}
			send("end", gin.H{"stage": sr.StageID, "attempt": sr.Attempt, "status": cur.Status, "exit_code": cur.ExitCode, "error": cur.Error})
			return
		}
		if time.Since(lastPing) > 15*time.Second {
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			w.Flush()
			lastPing = time.Now()
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
