package buildit

// DeploySpec is one revision of a service in an environment: what a deploy
// stage asks for, what the deploy workflow carries and what a deploy
// backend applies.
type DeploySpec struct {
	Service     string `json:"service"`
	Environment string `json:"environment,omitempty"`
	// Revision numbers the service's deploys to the environment; backends
	// mark what they apply with it, which is how applying knows what is
	// done.
	Revision int               `json:"revision"`
	Image    string            `json:"image"`
	Replicas int               `json:"replicas,omitempty"`
	Port     int               `json:"port,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	// Strategy is pipeline.StrategyRolling (one instance at a time, the
	// default) or pipeline.StrategyAllAtOnce.
	Strategy   string `json:"strategy,omitempty"`
	HealthPath string `json:"health_path,omitempty"`
	// CPU and Memory are the `resources` of each instance, in Kubernetes'
	// notation ("500m", "2"; "512Mi", "1Gi"); empty for the target's
	// default.
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	// Labels tie what is deployed to BuildIt: tenant, run, stage.
	Labels map[string]string `json:"labels,omitempty"`
}

// DeployStatus is the status of one deployment: how the deploy workflow
// says it ended and what the platform's database records.
type DeployStatus string

// The deployment statuses. A deployment is pending until it is applied and
// running while it rolls out; a failed one whose previous revision was
// applied again is rolled_back.
const (
	DeployPending    DeployStatus = "pending"
	DeployRunning    DeployStatus = "running"
	DeploySucceeded  DeployStatus = "succeeded"
	DeployFailed     DeployStatus = "failed"
	DeployCancelled  DeployStatus = "cancelled"
	DeployRolledBack DeployStatus = "rolled_back"
)

// Valid reports whether s is one of the deployment statuses; values that
// come from outside (a stored row, a workflow's outcome) are checked with
// it.
func (s DeployStatus) Valid() bool {
	switch s {
	case DeployPending, DeployRunning, DeploySucceeded, DeployFailed, DeployCancelled, DeployRolledBack:
		return true
	}
	return false
}

// Terminal reports whether s is final: a deployment in it changes no more.
func (s DeployStatus) Terminal() bool {
	return s.Valid() && s != DeployPending && s != DeployRunning
}

// RolloutState is where a backend's rollout of one revision is.
type RolloutState string

// The rollout states: still rolling out, every instance healthy, or failed
// for good (the deploy then rolls back without waiting longer).
const (
	RolloutProgressing RolloutState = "progressing"
	RolloutHealthy     RolloutState = "healthy"
	RolloutFailed      RolloutState = "failed"
)
