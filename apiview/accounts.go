package apiview

import (
	"time"

	"github.com/google/uuid"
)

// User is a user account.
type User struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Org is an organization, with the caller's role in it when it has one.
type Org struct {
	ID        uuid.UUID `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Plan      string    `json:"plan"`
	Role      string    `json:"role,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Member is a user's membership of an organization or a tenant.
type Member struct {
	UserID    uuid.UUID `json:"user_id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// Tenant is a tenant of an organization, with the caller's role in it
// when it has one.
type Tenant struct {
	ID        uuid.UUID `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Role      string    `json:"role,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// ArtifactRetentionDays is how long the tenant's artifacts are kept.
	ArtifactRetentionDays int `json:"artifact_retention_days,omitempty"`
}

// APIKey is an API key's metadata.
type APIKey struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	Tenant     string     `json:"tenant,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// Secret is the whole key, in the create response only.
	Secret string `json:"secret,omitempty"`
}

// Me is GET /me: the user and their organizations, or the API key and
// its organization.
type Me struct {
	User          *User   `json:"user,omitempty"`
	APIKey        *APIKey `json:"api_key,omitempty"`
	Organizations []Org   `json:"organizations"`
}

// Audit is one entry of an organization's audit log.
type Audit struct {
	ID          int64          `json:"id"`
	Tenant      *uuid.UUID     `json:"tenant_id,omitempty"`
	ActorUser   *uuid.UUID     `json:"actor_user_id,omitempty"`
	ActorAPIKey *uuid.UUID     `json:"actor_api_key_id,omitempty"`
	Action      string         `json:"action"`
	TargetType  string         `json:"target_type"`
	TargetID    string         `json:"target_id"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	IP          string         `json:"ip,omitempty"`
	CreatedAt   time.Time      `json:"created_at"`
}
