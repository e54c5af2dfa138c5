package runlog

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

// Appender stores log lines of a stage attempt; db.LogRepo is one.
// One call is one batch, stored whole or not at all (db's AppendLogs is a
// single COPY), and a Seq already stored makes it fail with db.ErrConflict.
type Appender interface {
	AppendLogs(ctx context.Context, tenantID, runID uuid.UUID, stageID string, attempt int, lines []db.LogLine) error
}

// Reader reads a stage attempt's log back; db.LogRepo is one. A Writer
// whose Appender is also a Reader uses it to find out which lines of a batch
// are already stored when a retry of the batch meets db.ErrConflict.
type Reader interface {
	ReadLogs(ctx context.Context, tenantID, runID uuid.UUID, stageID string, attempt int, afterSeq int64, limit int) ([]db.LogLine, error)
}

// SeqReader finds where an attempt's log goes on; db.LogRepo is one.
type SeqReader interface {
	// LastLogSeq returns the highest Seq stored of the attempt's log, or 0
	// when none is.
	LastLogSeq(ctx context.Context, tenantID, runID uuid.UUID, stageID string, attempt int) (int64, error)
}

// FromStore returns the Appender of s's log repository. It is also a
// Reader, for a Writer's handling of retried batches, and a SeqReader, for
// NextSeq.
func FromStore(s *db.Store) Appender { return s.Logs() }

// Key names the stage attempt whose log a Writer stores.
type Key struct {
	TenantID uuid.UUID
	RunID    uuid.UUID
	StageID  string
	Attempt  int
}

// String names the attempt in errors, as "run ID stage "name" attempt N".
func (k Key) String() string {
	return fmt.Sprintf("run %s stage %q attempt %d", k.RunID, k.StageID, k.Attempt)
}

// NextSeq returns the Seq that the next line of key's log gets: one past the
// highest stored (whatever gaps lie below it), or 1 when nothing is stored.
// A Writer for an attempt that is resumed (the stage activity retried on
// another worker, attaching to the running stage) takes it as
// Options.FirstSeq, so that its lines follow those already stored. It is one
// query, whatever the log's length.
func NextSeq(ctx context.Context, r SeqReader, key Key) (int64, error) {
	last, err := r.LastLogSeq(ctx, key.TenantID, key.RunID, key.StageID, key.Attempt)
	if err != nil {
		return 0, fmt.Errorf("next log seq of %s: %w", key, err)
	}
	return last + 1, nil
}
