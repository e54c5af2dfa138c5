package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/forge"
	"github.com/buildit-ci/buildit/workflows"
)

// StatusRepositories finds a connected repository for the commit statuses
// of its runs. The worker's database implements it (workerstore).
type StatusRepositories interface {
	// RepositoryForStatus returns the tenant's repository: its forge
	// (github, gitlab, gitea), clone URL, API base ("" when ParseRepo
	// finds it from the URL) and the name of the tenant secret holding
	// the forge token. A repository that is not there (deleted since the
	// run started) is ErrRepositoryGone, or an error wrapped with
	// Permanent.
	RepositoryForStatus(ctx context.Context, tenantID, repositoryID uuid.UUID) (forgeKind, url, apiURL, tokenSecret string, err error)
}

// ErrRepositoryGone is a repository that is not connected (any more):
// its statuses are not reported, and retrying does not change that.
var ErrRepositoryGone = errors.New("the repository is not connected")

// Error types of ReportStatus's failures.
const (
	// ErrTypeForgeRefused is a status the forge refused for good (a 4xx
	// other than 429: a wrong token, a repository it does not know) or
	// one that cannot be sent (no repository, no token secret).
	ErrTypeForgeRefused = "ForgeRefused"
	// ErrTypeForgeRateLimited is a forge's rate limit: retried after
	// the time it asked for.
	ErrTypeForgeRateLimited = "ForgeRateLimited"
	// ErrTypeForgeUnavailable is a forge that could not be reached or
	// failed (5xx): retried with the workflow's backoff.
	ErrTypeForgeUnavailable = "ForgeUnavailable"
)

// MaxRetryAfter bounds how long a forge's rate limit may hold a report
// back before the next attempt: a later reset is asked again then.
const MaxRetryAfter = 10 * time.Minute

// Forges holds the activities that speak to forges on a run's behalf:
// ReportStatus. Its Shared (secrets, logger) is set by New.
type Forges struct {
	*Shared
	// Repositories finds a run's connected repository; nil on a worker
	// without a database (ReportStatus then fails for good).
	Repositories StatusRepositories
	// HTTP is the client statuses are posted with; nil is forge's
	// default (a 30 s timeout).
	HTTP *http.Client
	// NewClient makes a forge client; nil is forge.NewClient. Tests
	// hand in stand-ins.
	NewClient func(kind forge.Kind, token string, hc *http.Client) forge.Client
}

// ReportStatus posts a run's state to its repository's forge as a commit
// status, with the forge token from the tenant's secret. The token is
// never in what it returns or logs. Retrying decides by its error:
// a rate limit is retried after the forge's Retry-After (bounded by
// MaxRetryAfter), a forge that is down or failing (5xx, network) with the
// workflow's backoff, and a refusal (4xx), a repository that is gone or a
// missing token secret not at all.
func (a *Forges) ReportStatus(ctx context.Context, in workflows.ReportStatusInput) error {
	kind, repo, token, err := a.target(ctx, in.StatusReport)
	if err != nil {
		return err
	}
	newClient := a.NewClient
	if newClient == nil {
		newClient = forge.NewClient
	}
	st := forge.Status{State: in.State, Context: in.Context, Description: in.Description, TargetURL: in.TargetURL}
	err = newClient(kind, token, a.HTTP).SetStatus(ctx, repo, in.Commit, st)
	if err != nil {
		return reportError(err, token)
	}
	a.logger().Info("commit status reported", "repository", in.RepositoryID, "commit", in.Commit, "context", in.Context, "state", in.State)
	return nil
}

// target finds where in reports and the token it reports with.
func (a *Forges) target(ctx context.Context, in workflows.StatusReport) (forge.Kind, forge.Repo, string, error) {
	refuse := func(format string, args ...any) (forge.Kind, forge.Repo, string, error) {
		return "", forge.Repo{}, "", temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrTypeForgeRefused, nil)
	}
	if a.Repositories == nil {
		return refuse("this worker has no database to find repository %s in (start it with DATABASE_URL)", in.RepositoryID)
	}
	if a.Shared == nil || a.Secrets == nil {
		return refuse("this worker has no tenant secrets to read the forge token from")
	}
	tenant, err := uuid.Parse(in.TenantID)
	if err != nil {
		return refuse("report status: tenant %q is not an ID", in.TenantID)
	}
	repoID, err := uuid.Parse(in.RepositoryID)
	if err != nil {
		return refuse("report status: repository %q is not an ID", in.RepositoryID)
	}
	kindName, url, apiURL, secret, err := a.Repositories.RepositoryForStatus(ctx, tenant, repoID)
	var appErr *temporal.ApplicationError
	switch {
	case errors.Is(err, ErrRepositoryGone):
		return refuse("repository %s is not connected any more: no status reported", in.RepositoryID)
	case errors.As(err, &appErr):
		return "", forge.Repo{}, "", err
	case err != nil:
		return "", forge.Repo{}, "", fmt.Errorf("find repository %s: %w", in.RepositoryID, err)
	}
	kind, err := forge.ParseKind(kindName)
	if err != nil {
		return refuse("repository %s: %v", in.RepositoryID, err)
	}
	repo, err := forge.ParseRepo(kind, url, apiURL)
	if err != nil {
		return refuse("repository %s: %v", in.RepositoryID, err)
	}
	if secret == "" {
		return refuse("repository %s names no token secret: statuses cannot be reported", in.RepositoryID)
	}
	values, err := a.Secrets.Secrets(ctx, &buildit.RunRef{TenantID: in.TenantID}, []string{secret})
	if err != nil {
		if errors.As(err, &appErr) {
			return "", forge.Repo{}, "", err
		}
		return "", forge.Repo{}, "", fmt.Errorf("read the token secret %q: %w", secret, err)
	}
	token := values[secret]
	if token == "" {
		return refuse("the tenant has no secret %q (repository %s's forge token): no status reported", secret, in.RepositoryID)
	}
	return kind, repo, token, nil
}

// reportError sorts a forge client's error into what Temporal retries,
// with the token (should the forge have echoed it) hidden.
func reportError(err error, token string) error {
	msg := hideToken(err.Error(), token)
	var rl *forge.RateLimitError
	if errors.As(err, &rl) {
		opts := temporal.ApplicationErrorOptions{}
		if rl.RetryAfter > 0 {
			opts.NextRetryDelay = min(rl.RetryAfter, MaxRetryAfter)
		}
		return temporal.NewApplicationErrorWithOptions(msg, ErrTypeForgeRateLimited, opts)
	}
	var se *forge.StatusError
	if errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != http.StatusTooManyRequests {
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeForgeRefused, nil)
	}
	// A 5xx, a 429 without the rate limit's words, the network: the
	// forge may be back on the next attempt.
	return temporal.NewApplicationError(msg, ErrTypeForgeUnavailable)
}

// hideToken replaces token in text.
func hideToken(text, token string) string {
	if token == "" {
		return text
	}
	return strings.ReplaceAll(text, token, "xxxxx")
}
