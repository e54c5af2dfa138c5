package apiview

import (
	"encoding/json"
	"time"
)

// Pipeline is a tenant's pipeline; lists leave out its source and plan.
type Pipeline struct {
	Name      string          `json:"name"`
	Source    string          `json:"source,omitempty"`
	Plan      json.RawMessage `json:"plan,omitempty"`
	Version   int             `json:"version"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	// RepositoryID is the connected repository whose webhooks run the
	// pipeline: the one it was read from, or the one a pipeline stored
	// through the API names. Empty for none.
	RepositoryID string `json:"repository_id,omitempty"`
	// RepositoryPath is the file of that repository the pipeline is read
	// from; empty for a pipeline stored through the API.
	RepositoryPath string `json:"repository_path,omitempty"`
	// Warning, on a create, replace or delete, says what went wrong after
	// the change was stored (its schedules could not be synced with
	// Temporal; the next change of the pipeline tries again).
	Warning string `json:"warning,omitempty"`
}

// Problem is one problem of an invalid pipeline: the details of an
// invalid_pipeline error.
type Problem struct {
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// Secret is a tenant secret's metadata: values are write-only.
type Secret struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}
