package api

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/buildit-ci/buildit/pipeline"
)

// BenchmarkScheduleSync measures Sync of a pipeline with one schedule on
// the embedded Temporal server: unchanged (one Describe after the Create
// that finds it), and with its cron changed each time (an Update too).
func BenchmarkScheduleSync(b *testing.B) {
	e := setup(b).withRuns(b)
	sy := e.withSchedules(b)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	owner.must(201, "POST", "/orgs/acme/tenants/web/pipelines", map[string]string{"name": "app", "source": fmt.Sprintf(sleepKDL, 0)})
	p := e.setSchedules(b, "web", "app", pipeline.Schedule{Name: "nightly", Cron: "0 3 * * *"})
	ctx := context.Background()
	b.Run("unchanged", func(b *testing.B) {
		for b.Loop() {
			if err := sy.Sync(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("changed", func(b *testing.B) {
		var plan pipeline.Plan
		if err := json.Unmarshal(p.Plan, &plan); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			plan.On.Schedules[0].Cron = fmt.Sprintf("%d 3 * * *", i%60)
			p.Plan, _ = json.Marshal(plan)
			if err := sy.Sync(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
