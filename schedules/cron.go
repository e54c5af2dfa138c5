package schedules

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/buildit-ci/buildit/pipeline"
)

// CountFirings counts the times sc fires in [start, end] (both ends
// included, as in a Temporal backfill), in its time
// zone, up to limit (a backfill's bound). Jitter is not counted: it moves a
// run, it adds none.
func CountFirings(sc pipeline.Schedule, start, end time.Time, limit int) (int, error) {
	expr := sc.Cron
	if sc.Timezone != "" {
		if _, err := time.LoadLocation(sc.Timezone); err != nil {
			return 0, fmt.Errorf("time zone %q: %w", sc.Timezone, err)
		}
		expr = "CRON_TZ=" + sc.Timezone + " " + expr
	}
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return 0, err
	}
	n := 0
	// Next is strictly after its argument: start a moment before.
	for t := s.Next(start.Add(-time.Nanosecond)); !t.After(end) && !t.IsZero(); t = s.Next(t) {
		n++
		if n >= limit {
			break
		}
	}
	return n, nil
}
