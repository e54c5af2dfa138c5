package workerstore

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/db"
)

// Repositories reads connected repositories for the worker: where a run
// reports its commit status and which secret its clone authenticates with.
type Repositories struct{ Store *db.Store }

// RepositoryForStatus returns what posting a commit status to tenantID's
// repository needs: its forge, clone URL, API base ("" to derive it from
// the URL) and the name of the tenant secret holding the forge token
// (never the token). A repository of another tenant, or one deleted, is
// db.ErrNotFound.
func (r Repositories) RepositoryForStatus(ctx context.Context, tenantID, repositoryID uuid.UUID) (forge, url, apiURL, tokenSecret string, err error) {
	repo, err := r.Store.Repositories().Get(ctx, tenantID, repositoryID)
	if errors.Is(err, db.ErrNotFound) {
		return "", "", "", "", activities.ErrRepositoryGone
	}
	if err != nil {
		return "", "", "", "", err
	}
	return repo.Forge, repo.URL, repo.APIURL, repo.TokenSecret, nil
}
