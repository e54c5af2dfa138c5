package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/pipeline"
)

// LogTail is how many lines of a log its page renders: the last ones, with
// a link to the lines before. The script appends followed lines in
// batches and keeps at most a few thousand in the page, so that a log of
// 100,000 lines never makes 100,000 elements.
const LogTail = 2000

type logLine struct {
	Seq    int64
	Stream string
	Spans  []span
}

type attemptTab struct {
	Attempt int
	Href    string
	Status  buildit.StageStatus
	Current bool
}

// logAttempt reads ?stage= and ?attempt= and finds that attempt (the
// latest by default) of the run's stage, and all the stage's attempts.
func (d *Dashboard) logAttempt(c *gin.Context, v Viewer, r db.Run) (db.StageRun, []db.StageRun, error) {
	stage := c.Query("stage")
	if stage == "" {
		return db.StageRun{}, nil, &Error{Status: http.StatusUnprocessableEntity, Message: "stage is required: the ID of the stage whose log to read"}
	}
	want := 0
	if a := c.Query("attempt"); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 {
			return db.StageRun{}, nil, &Error{Status: http.StatusUnprocessableEntity, Message: "attempt must be a whole number, 0 or more"}
		}
		want = n
	}
	all, err := d.store.Runs().ListStageRuns(c, v.Tenant.ID, r.ID)
	if err != nil {
		return db.StageRun{}, nil, err
	}
	attempts := attemptsOf(all, stage)
	for i := len(attempts) - 1; i >= 0; i-- {
		if want == 0 || attempts[i].Attempt == want {
			return attempts[i], attempts, nil
		}
	}
	return db.StageRun{}, nil, notFound("stage attempt")
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

func (d *Dashboard) logPage(c *gin.Context, v Viewer) {
	p, r, err := d.runOf(c, v)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	sr, attempts, err := d.logAttempt(c, v, r)
	if ne := (*Error)(nil); errors.As(err, &ne) && ne.Status == http.StatusNotFound && c.Query("attempt") == "" && !r.Status.Terminal() && planHas(p.Plan, c.Query("stage")) {
		// A stage of the plan that has not started yet (a graph node
		// clicked early): an empty page that follows the log, as the
		// API's follow waits for the stage to start.
		sr, err = db.StageRun{StageID: c.Query("stage"), Status: buildit.StagePending}, nil
	}
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	logs := d.store.Logs()
	last, err := logs.LastLogSeq(c, v.Tenant.ID, r.ID, sr.StageID, sr.Attempt)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	// ?before=SEQ shows the LogTail lines before SEQ; without it the
	// last ones, and the script follows the log on.
	before := last + 1
	paged := false
	if b := c.Query("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			d.opts.Fail(c, &Error{Status: http.StatusUnprocessableEntity, Message: "before must be a line number, 1 or more"})
			return
		}
		before, paged = min(n, last+1), n <= last
	}
	from := max(before-1-LogTail, 0)
	stored, err := logs.ReadLogs(c, v.Tenant.ID, r.ID, sr.StageID, sr.Attempt, from, LogTail)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	lines := make([]logLine, 0, len(stored))
	for _, l := range stored {
		if l.Seq >= before {
			break
		}
		lines = append(lines, logLine{Seq: l.Seq, Stream: streamName(l.Stream), Spans: ansiSpans(l.Line)})
	}
	base := pipeHref(v.Org.Slug, v.Tenant.Slug, p.Name)
	run := runHref(base, r.Number)
	q := "stage=" + url.QueryEscape(sr.StageID) + "&attempt=" + strconv.Itoa(sr.Attempt)
	here := run + "/log?" + q
	earlier := ""
	if len(lines) > 0 && lines[0].Seq > 1 {
		earlier = here + "&before=" + strconv.FormatInt(lines[0].Seq, 10)
	}
	tabs := make([]attemptTab, 0, len(attempts))
	for _, a := range attempts {
		tabs = append(tabs, attemptTab{Attempt: a.Attempt, Status: a.Status, Current: a.Attempt == sr.Attempt,
			Href: run + "/log?stage=" + url.QueryEscape(sr.StageID) + "&attempt=" + strconv.Itoa(a.Attempt)})
	}
	lastShown := int64(0)
	if len(lines) > 0 {
		lastShown = lines[len(lines)-1].Seq
	}
	follow := ""
	ended := sr.Status.Terminal()
	if !paged && !ended {
		follow = fmt.Sprintf("/api/v1%s/logs?%s&follow=1&after=%d", run, q, lastShown)
	}
	d.show(c, v, "log", page{Title: sr.StageID + " · " + p.Name + " #" + strconv.FormatInt(r.Number, 10),
		Crumbs: []crumb{{v.Org.Name, orgHref(v.Org.Slug)}, {v.Tenant.Name, tenantHref(v.Org.Slug, v.Tenant.Slug)}, {p.Name, base},
			{"#" + strconv.FormatInt(r.Number, 10), run}, {sr.StageID, ""}},
		Data: gin.H{"Stage": sr, "Lines": lines, "Tabs": tabs, "Earlier": earlier, "Paged": paged, "Latest": here,
			"Follow": follow, "Text": run + "/log.txt?" + q, "Duration": spanOf(sr.StartedAt, sr.EndedAt, time.Now()),
			"Run": run, "Tail": LogTail}})
}

// planHas reports whether the plan (JSON) has a step with the ID stage.
func planHas(raw []byte, stage string) bool {
	var plan pipeline.Plan
	if json.Unmarshal(raw, &plan) != nil {
		return false
	}
	for _, st := range plan.Steps {
		if st.ID == stage {
			return true
		}
	}
	return false
}

// logText sends a stage attempt's whole log as text, read a page at a
// time, for download.
func (d *Dashboard) logText(c *gin.Context, v Viewer) {
	p, r, err := d.runOf(c, v)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	sr, _, err := d.logAttempt(c, v, r)
	if err != nil {
		d.opts.Fail(c, err)
		return
	}
	name := fmt.Sprintf("%s-%d-%s-%d.log", p.Name, r.Number, sr.StageID, sr.Attempt)
	h := c.Writer.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(name))
	c.Status(http.StatusOK)
	rc := http.NewResponseController(c.Writer)
	var after int64
	var b strings.Builder
	for {
		lines, err := d.store.Logs().ReadLogs(c, v.Tenant.ID, r.ID, sr.StageID, sr.Attempt, after, db.MaxLogLines)
		if err != nil {
			d.opts.Log.Error("log download cut short", "error", err)
			return
		}
		b.Reset()
		for _, l := range lines {
			b.WriteString(l.Line)
			b.WriteByte('\n')
			after = l.Seq
		}
		// Each chunk gets its own deadline: a large log takes longer
		// than the server's write timeout, a client that stops reading
		// is cut off.
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Writer.WriteString(b.String()); err != nil {
			return
		}
		if len(lines) < db.MaxLogLines {
			return
		}
	}
}
