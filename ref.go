package buildit

// RunRef names a run in the platform's database (server mode): the tenant
// that owns it and the run's own ID, both UUIDs in text. Workflows carry it
// so that their activities can record the run, store its logs and read the
// tenant's secrets; a local run has none.
type RunRef struct {
	TenantID string `json:"tenant_id"`
	RunID    string `json:"run_id"`
}
