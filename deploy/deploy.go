// Package deploy is what a deploy stage needs of a deployment target: a
// Backend applies one revision of a service (its Spec) and reports how the
// rollout goes. Backends live in subpackages (fly/, kubernetes/); the deploy
// workflow drives them through activities, so every Backend method must be
// idempotent: applying the revision that is already there changes nothing
// and never makes a second release.
//
// Errors say whether trying again can help: a TransientError (timeouts,
// 5xx, 429 with its Retry-After) is retried with backoff; a ConfigError (bad
// settings, refused credentials, an app that does not exist) is not, and its
// message says what to fix. Neither ever holds a credential.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Spec is one revision of a service in an environment.
type Spec struct {
	Service     string `json:"service"`
	Environment string `json:"environment,omitempty"`
	// Revision numbers the service's deploys to the environment; backends
	// mark what they apply with it, which is how Apply knows what is done.
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

// State is where a rollout is.
type State string

// The rollout states.
const (
	Progressing State = "progressing"
	Healthy     State = "healthy"
	Failed      State = "failed"
)

// Status is a rollout's state and, when it is not healthy, why.
type Status struct {
	State   State  `json:"state"`
	Message string `json:"message,omitempty"`
}

// Backend ships specs to one target.
type Backend interface {
	// Apply makes spec the target's desired state and returns once the
	// target has taken it (for a rolling update of machines, once each has
	// been updated in turn); it is idempotent.
	Apply(ctx context.Context, spec Spec) error
	// Status reports the rollout of spec's revision.
	Status(ctx context.Context, spec Spec) (Status, error)
	// Current returns the revision the target runs for service (its
	// Revision and Image), or nil when it runs none or is in the middle of
	// a change.
	Current(ctx context.Context, service string) (*Spec, error)
}

// TransientError is a failure that may pass: try again, after RetryAfter
// when the target said so.
type TransientError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient marks err as worth retrying.
func Transient(err error, retryAfter time.Duration) error {
	return &TransientError{Err: err, RetryAfter: retryAfter}
}

// ConfigError is a failure that trying again cannot fix.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Configf returns a ConfigError with a message that says what to fix.
func Configf(format string, args ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, args...)}
}

// IsConfig reports whether err is a ConfigError.
func IsConfig(err error) bool {
	var c *ConfigError
	return errors.As(err, &c)
}

// RetryAfter returns how long the target asked to wait, if err says.
func RetryAfter(err error) (time.Duration, bool) {
	var t *TransientError
	if errors.As(err, &t) && t.RetryAfter > 0 {
		return t.RetryAfter, true
	}
	return 0, false
}
