package db

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// LogStream says where a log line came from.
type LogStream int16

// The log streams.
const (
	LogSystem LogStream = 0 // BuildIt's own messages about the stage
	LogStdout LogStream = 1
	LogStderr LogStream = 2
)

// LogLine is one line of a stage attempt's log. Seq orders the lines of an
// attempt and is chosen by the writer.
type LogLine struct {
	Seq    int64
	Stream LogStream
	Line   string
	At     time.Time
}

// LogRepo holds the logs of stage attempts, apart from the runs: logs are
// written in batches by workers and read by the API line by line, a traffic
// of its own.
type LogRepo struct{ h handle }

// AppendLogs stores log lines of a stage attempt with one COPY. A run that
// is not tenantID's is ErrInvalid; a Seq already stored is ErrConflict.
func (r LogRepo) AppendLogs(ctx context.Context, tenantID, runID uuid.UUID, stageID string, attempt int, lines []LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	rows := make([]sqlcdb.AppendStageLogsParams, len(lines))
	for i, l := range lines {
		rows[i] = sqlcdb.AppendStageLogsParams{
			TenantID: tenantID,
			RunID:    runID,
			StageID:  stageID,
			Attempt:  int32(attempt),
			Seq:      l.Seq,
			Stream:   int16(l.Stream),
			Line:     l.Line,
			At:       l.At,
		}
	}
	_, err := r.h.q.AppendStageLogs(ctx, rows)
	return wrap(err, "append logs of stage %q of run %s", stageID, runID)
}

// Bounds of ReadLogs' limit: a limit of zero or less means
// DefaultLogLines, and one above MaxLogLines is lowered to it.
const (
	DefaultLogLines = 1000
	MaxLogLines     = 10000
)

// ReadLogs returns up to limit lines of a stage attempt's log after afterSeq
// (0 for the start), in order. Pass the last line's Seq to read on.
func (r LogRepo) ReadLogs(ctx context.Context, tenantID, runID uuid.UUID, stageID string, attempt int, afterSeq int64, limit int) ([]LogLine, error) {
	if limit <= 0 {
		limit = DefaultLogLines
	}
	rows, err := r.h.q.ReadStageLogs(ctx, sqlcdb.ReadStageLogsParams{
		TenantID: tenantID, RunID: runID, StageID: stageID, Attempt: int32(attempt), AfterSeq: afterSeq, Lim: int32(min(limit, MaxLogLines)),
	})
	if err != nil {
		return nil, wrap(err, "read logs of stage %q of run %s", stageID, runID)
	}
	out := make([]LogLine, len(rows))
	for i, row := range rows {
		out[i] = LogLine{Seq: row.Seq, Stream: LogStream(row.Stream), Line: row.Line, At: row.At}
	}
	return out, nil
}

// ReadLogPage returns a page of a stage attempt's log after afterSeq (0 for
// the start), in order: at most limit lines (bounded as ReadLogs' limit)
// and at most maxBytes of line text, and whether
// lines remain after the page. A line longer than maxBytes is not returned:
// the page is empty and more is true, and only a larger maxBytes reads it.
// Postgres sends only the page: the budget is counted in the query, from
// the stored sizes, and the lines past it are not read. Pass the last
// line's Seq to read on.
func (r LogRepo) ReadLogPage(ctx context.Context, tenantID, runID uuid.UUID, stageID string, attempt int, afterSeq int64, limit, maxBytes int) (lines []LogLine, more bool, err error) {
	if limit <= 0 {
		limit = DefaultLogLines
	}
	rows, err := r.h.q.ReadStageLogPage(ctx, sqlcdb.ReadStageLogPageParams{
		TenantID: tenantID, RunID: runID, StageID: stageID, Attempt: int32(attempt), AfterSeq: afterSeq,
		Lim: int32(min(limit, MaxLogLines)), MaxBytes: int64(max(maxBytes, 0)),
	})
	if err != nil {
		return nil, false, wrap(err, "read logs of stage %q of run %s", stageID, runID)
	}
	lines = make([]LogLine, 0, len(rows))
	for _, row := range rows {
		if !row.Kept {
			return lines, true, nil
		}
		lines = append(lines, LogLine{Seq: row.Seq, Stream: LogStream(row.Stream), Line: row.Line, At: row.At})
	}
	return lines, false, nil
}

// LastLogSeq returns the highest Seq stored of a stage attempt's log, or 0
// when none is: where a resumed attempt's lines go on (runlog.NextSeq).
func (r LogRepo) LastLogSeq(ctx context.Context, tenantID, runID uuid.UUID, stageID string, attempt int) (int64, error) {
	last, err := r.h.q.LastStageLogSeq(ctx, sqlcdb.LastStageLogSeqParams{TenantID: tenantID, RunID: runID, StageID: stageID, Attempt: int32(attempt)})
	if err != nil {
		return 0, wrap(err, "last log seq of stage %q of run %s", stageID, runID)
	}
	return last, nil
}
