package apiview

import "time"

// Schedule is one `schedule` of a pipeline and its Temporal Schedule's
// state.
type Schedule struct {
	Pipeline string `json:"pipeline"`
	Name     string `json:"name"`
	// ID is the Temporal Schedule's ID (buildit/<tenant>/<pipeline>/<name>),
	// to find it in the Temporal UI.
	ID       string `json:"id"`
	Cron     string `json:"cron"`
	Timezone string `json:"timezone,omitempty"`
	Branch   string `json:"branch,omitempty"`
	Jitter   string `json:"jitter,omitempty"`
	Overlap  string `json:"overlap"`
	Paused   bool   `json:"paused"`
	Note     string `json:"note,omitempty"`
	// NextRuns are the next times it fires (before jitter).
	NextRuns []time.Time `json:"next_runs"`
	// RecentRuns are its latest actions, the latest last.
	RecentRuns []ScheduleAction `json:"recent_runs"`
	// Running is how many of its runs are in progress.
	Running int `json:"running"`
	// Warning says why the state is missing (the schedule is not in
	// Temporal yet, or Temporal is unreachable).
	Warning string `json:"warning,omitempty"`
}

// ScheduleAction is one time a schedule fired.
type ScheduleAction struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	// WorkflowID is the ScheduledRun workflow that started the run.
	WorkflowID string `json:"workflow_id,omitempty"`
}

// ScheduleList is GET …/schedules.
type ScheduleList struct {
	Items []Schedule `json:"items"`
}

// ScheduleNote is the body of pause and resume.
type ScheduleNote struct {
	Note string `json:"note,omitempty"`
}

// Backfill is the body of backfill: RFC 3339 times.
type Backfill struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}
