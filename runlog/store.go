package runlog

import (
	"context"
	"fmt"
	"math"

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

// FromStore returns the Appender of s's log repository. It is also a
// Reader, for NextSeq and for a Writer's handling of retried batches.
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
// highest stored, or 1 when nothing is stored. A Writer for an attempt that
// is resumed (the stage activity retried on another worker, attaching to the
// running stage) takes it as Options.FirstSeq, so that its lines follow those
// already stored.
//
// db has no query for the highest Seq, so NextSeq finds it with ReadLogs
// probes of one line each (is any line stored after s?): a doubling search
// and then a bisection, about 2·log₂(lines) round trips, which read no more
// than one line each whatever the log's length.
func NextSeq(ctx context.Context, r Reader, key Key) (int64, error) {
	// after returns the lowest stored Seq above s.
	after := func(s int64) (int64, bool, error) {
		lines, err := r.ReadLogs(ctx, key.TenantID, key.RunID, key.StageID, key.Attempt, s, 1)
		if err != nil {
			return 0, false, fmt.Errorf("next log seq of %s: %w", key, err)
		}
		if len(lines) == 0 {
			return 0, false, nil
		}
		return lines[0].Seq, true, nil
	}
	lo, ok, err := after(0)
	if err != nil || !ok {
		return 1, err
	}
	// lo is stored; find hi with nothing stored above it.
	hi := int64(math.MaxInt64)
	for step := int64(1024); ; step *= 2 {
		probe := lo + step
		if probe < lo || step <= 0 { // overflow
			break
		}
		s, ok, err := after(probe)
		if err != nil {
			return 0, err
		}
		if !ok {
			hi = probe
			break
		}
		lo = s
	}
	// Invariant: lo is stored and nothing is stored above hi.
	for lo < hi {
		mid := lo + (hi-lo)/2
		s, ok, err := after(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = s
		} else {
			hi = mid
		}
	}
	return lo + 1, nil
}
