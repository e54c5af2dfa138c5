package apiview

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit"
)

// Target is a tenant's deploy target; its credentials are a tenant
// secret, named.
type Target struct {
	Name              string            `json:"name"`
	Kind              string            `json:"kind"`
	Settings          map[string]string `json:"settings"`
	CredentialsSecret string            `json:"credentials_secret,omitempty"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

// Environment is a tenant's deploy environment and its protection.
type Environment struct {
	Name            string    `json:"name"`
	RequireApproval bool      `json:"require_approval"`
	AllowedBranches []string  `json:"allowed_branches"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// Service is a deployable service and its settings.
type Service struct {
	Name      string          `json:"name"`
	Settings  json.RawMessage `json:"settings"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Deployment is one deployment of a service to an environment.
type Deployment struct {
	ID               uuid.UUID            `json:"id"`
	Service          string               `json:"service,omitempty"`
	Environment      string               `json:"environment"`
	Revision         int                  `json:"revision"`
	Image            string               `json:"image"`
	Status           buildit.DeployStatus `json:"status"`
	Actor            string               `json:"actor,omitempty"`
	Target           string               `json:"target,omitempty"`
	Stage            string               `json:"stage,omitempty"`
	PreviousRevision *int                 `json:"previous_revision,omitempty"`
	RolledBackTo     *int                 `json:"rolled_back_to,omitempty"`
	Message          string               `json:"message,omitempty"`
	CreatedAt        time.Time            `json:"created_at"`
	FinishedAt       *time.Time           `json:"finished_at,omitempty"`
}
