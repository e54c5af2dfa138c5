package remote

import (
	"context"
	"net/url"
	"time"

	"github.com/buildit-ci/buildit/apiview"
)

// Schedules lists the schedules of the tenant's pipelines.
func (c *Client) Schedules(ctx context.Context, s Scope) ([]apiview.Schedule, error) {
	var l apiview.ScheduleList
	return l.Items, c.Do(ctx, "GET", s.path()+"/schedules", nil, &l)
}

func schedulePath(s Scope, pipeline, name string) string {
	return pipelinePath(s, pipeline) + "/schedules/" + url.PathEscape(name)
}

// SteerSchedule pauses ("pause"), resumes ("resume") or triggers
// ("trigger") a schedule; note goes with pause and resume.
func (c *Client) SteerSchedule(ctx context.Context, s Scope, pipeline, name, action, note string) (apiview.Schedule, error) {
	var v apiview.Schedule
	var body any
	if action != "trigger" {
		body = apiview.ScheduleNote{Note: note}
	}
	return v, c.Do(ctx, "POST", schedulePath(s, pipeline, name)+"/"+action, body, &v)
}

// Backfill runs a schedule for every time it fires from start to end.
func (c *Client) Backfill(ctx context.Context, s Scope, pipeline, name string, start, end time.Time) (apiview.Schedule, error) {
	var v apiview.Schedule
	return v, c.Do(ctx, "POST", schedulePath(s, pipeline, name)+"/backfill", apiview.Backfill{Start: start, End: end}, &v)
}
