package apiview

import (
	"time"

	"github.com/buildit-ci/buildit"
)

// Run is a run, with its stages in a detail.
type Run struct {
	Number     int64             `json:"number"`
	Pipeline   string            `json:"pipeline"`
	Status     buildit.RunStatus `json:"status"`
	Branch     string            `json:"branch,omitempty"`
	Commit     string            `json:"commit,omitempty"`
	Event      string            `json:"event,omitempty"`
	Repository string            `json:"repository,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	// Trigger is how the run was started (api, rerun, a webhook…);
	// TriggerDetail is what started it: the event and what the forge
	// said of it (tag, pull request, base, author, message, schedule).
	Trigger       string           `json:"trigger,omitempty"`
	TriggerDetail *buildit.Trigger `json:"trigger_detail,omitempty"`
	// Inputs are the run's input values, defaults included.
	Inputs           map[string]string `json:"inputs,omitempty"`
	Actor            string            `json:"actor,omitempty"`
	Error            string            `json:"error,omitempty"`
	RerunOf          *int64            `json:"rerun_of,omitempty"`
	Reused           []string          `json:"reused,omitempty"`
	ConcurrencyGroup string            `json:"concurrency_group,omitempty"`
	WorkflowID       string            `json:"workflow_id"`
	TemporalURL      string            `json:"temporal_url,omitempty"`
	CreatedAt        time.Time         `json:"created_at"`
	StartedAt        *time.Time        `json:"started_at,omitempty"`
	EndedAt          *time.Time        `json:"ended_at,omitempty"`
	Stages           []Stage           `json:"stages,omitempty"`
}

// Ended reports whether the run has ended.
func (r Run) Ended() bool { return r.Status.Terminal() }

// Stage is the latest attempt of one stage of a run.
type Stage struct {
	ID        string              `json:"id"`
	Status    buildit.StageStatus `json:"status"`
	Attempt   int                 `json:"attempt"`
	ExitCode  *int                `json:"exit_code,omitempty"`
	StartedAt *time.Time          `json:"started_at,omitempty"`
	EndedAt   *time.Time          `json:"ended_at,omitempty"`
	// DurationMS is how long the attempt ran, when it has started.
	DurationMS *int64 `json:"duration_ms,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Started reports whether the stage has started (or ended without
// starting, as a skipped one does).
func (s Stage) Started() bool { return s.Status != buildit.StagePending }

// TriggerRequest is the body of a trigger (POST .../runs); every field
// may be left out.
type TriggerRequest struct {
	Branch     string            `json:"branch,omitempty"`
	Commit     string            `json:"commit,omitempty"`
	Event      string            `json:"event,omitempty"`
	Repository string            `json:"repository,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	// Inputs are values for the pipeline's inputs, by name; the run
	// gets every declared input's default for those left out.
	Inputs map[string]string `json:"inputs,omitempty"`
}

// Artifact is an archive a stage of a run kept, downloadable until it
// expires.
type Artifact struct {
	Name      string    `json:"name"`
	Stage     string    `json:"stage"`
	Size      int64     `json:"size"`
	Digest    string    `json:"digest"`
	Files     int       `json:"files"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Cache is a cache entry of a pipeline: an archive a run saved under a key,
// on a branch.
type Cache struct {
	Pipeline   string    `json:"pipeline"`
	Branch     string    `json:"branch"`
	Key        string    `json:"key"`
	Size       int64     `json:"size"`
	Digest     string    `json:"digest"`
	Files      int       `json:"files"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
}
