package workerstore

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/dbtest"
	"github.com/buildit-ci/buildit/db/secretbox"
)

// A run's status report names its tenant and repository, and the worker
// reads the repository (its forge, URL and token secret's name) with the
// tenant in the query: a report that names another tenant's repository
// finds nothing, as one of a deleted repository does, so no token of the
// other tenant is used and nothing is posted to its forge.
func TestSecurityStatusRepositoryOfAnotherTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	store := db.NewStore(dbtest.Pool(t), box)
	tenant := func() db.Tenant {
		o, err := store.Organizations().Create(ctx, db.NewOrganization{Slug: "o-" + uuid.NewString()[:8], Name: "O"})
		if err != nil {
			t.Fatal(err)
		}
		tn, err := store.Tenants().Create(ctx, o.ID, db.NewTenant{Slug: "t-" + uuid.NewString()[:8], Name: "T"})
		if err != nil {
			t.Fatal(err)
		}
		return tn
	}
	mine, theirs := tenant(), tenant()
	repo, err := store.Repositories().Create(ctx, theirs.ID, db.NewRepository{
		Forge: "gitea", URL: "https://git.example.com/them/app", TokenSecret: "THEIR_TOKEN", WebhookSecret: "s",
	})
	if err != nil {
		t.Fatal(err)
	}
	r := Repositories{Store: store}
	if forge, url, _, secret, err := r.RepositoryForStatus(ctx, theirs.ID, repo.ID); err != nil || forge != "gitea" || url != repo.URL || secret != "THEIR_TOKEN" {
		t.Fatalf("the owner's lookup: %q %q %q %v", forge, url, secret, err)
	}
	_, url, _, secret, err := r.RepositoryForStatus(ctx, mine.ID, repo.ID)
	if !errors.Is(err, activities.ErrRepositoryGone) || url != "" || secret != "" {
		t.Errorf("another tenant's lookup: %q %q %v, want ErrRepositoryGone and nothing", url, secret, err)
	}
}
