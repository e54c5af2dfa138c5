package apiview

import "time"

// Repository is a tenant's connected repository. WebhookSecret is only
// in the answer that creates it (or rotates its secret): it is never
// shown again.
type Repository struct {
	ID            string    `json:"id"`
	Forge         string    `json:"forge"`
	URL           string    `json:"url"`
	APIURL        string    `json:"api_url,omitempty"`
	TokenSecret   string    `json:"token_secret"`
	PipelinesPath string    `json:"pipelines_path"`
	ForkSecrets   bool      `json:"fork_secrets"`
	DefaultBranch string    `json:"default_branch,omitempty"`
	WebhookURL    string    `json:"webhook_url"`
	WebhookSecret string    `json:"webhook_secret,omitempty"`
	CreatedBy     string    `json:"created_by,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}
