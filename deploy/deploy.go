// Package deploy is what a deploy stage needs of a deployment target: a
// Backend applies one revision of a service (a buildit.DeploySpec) and
// reports how the rollout goes (a buildit.RolloutState). Backends live in subpackages (fly/, kubernetes/); the deploy
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

	"github.com/buildit-ci/buildit"
)

// Status is a rollout's state and, when it is not healthy, why.
type Status struct {
	State   buildit.RolloutState `json:"state"`
	Message string               `json:"message,omitempty"`
}

// Backend ships specs to one target.
type Backend interface {
	// Apply makes spec the target's desired state and returns once the
	// target has taken it (for a rolling update of machines, once each has
	// been updated in turn); it is idempotent.
	Apply(ctx context.Context, spec buildit.DeploySpec) error
	// Status reports the rollout of spec's revision.
	Status(ctx context.Context, spec buildit.DeploySpec) (Status, error)
	// Current returns the revision the target runs for service (its
	// Revision and Image), or nil when it runs none or is in the middle of
	// a change.
	Current(ctx context.Context, service string) (*buildit.DeploySpec, error)
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
