package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
	"github.com/buildit-ci/buildit/db/secretbox"
)

// Repository is a tenant's connected repository on a forge: its webhooks
// start runs of the pipelines in its PipelinesPath. Its webhook secret is
// sealed in the row and only HookRepository opens it.
type Repository struct {
	ID       uuid.UUID
	TenantID uuid.UUID
	// Forge is github, gitlab or gitea.
	Forge string
	// URL is the normalised clone URL; APIURL the forge's API base, ""
	// to derive it from URL.
	URL    string
	APIURL string
	// TokenSecret names the tenant secret holding the forge token.
	TokenSecret   string
	PipelinesPath string
	// ForkSecrets gives pull requests from forks the tenant's secrets.
	ForkSecrets bool
	// DefaultBranch is "" until a webhook tells.
	DefaultBranch string
	CreatedBy     string
	CreatedAt     time.Time
}

// NewRepository is what CreateRepository needs.
type NewRepository struct {
	Forge, URL, APIURL, TokenSecret string
	// PipelinesPath is ".buildit" when empty.
	PipelinesPath string
	ForkSecrets   bool
	CreatedBy     string
	// WebhookSecret is sealed into the row.
	WebhookSecret string
}

// RepositoryPatch changes a repository's settings; nil fields keep theirs.
type RepositoryPatch struct {
	TokenSecret   *string
	PipelinesPath *string
	APIURL        *string
	ForkSecrets   *bool
}

// DefaultPipelinesPath is where a repository keeps its pipelines unless
// it says otherwise.
const DefaultPipelinesPath = ".buildit"

// RepositoryRepo holds connected repositories and their webhooks'
// deliveries.
type RepositoryRepo struct{ h handle }

// Repositories returns the repository of connected repositories.
func (s *Store) Repositories() RepositoryRepo { return RepositoryRepo{s.h} }

// Repositories returns the repository of connected repositories, in this
// transaction.
func (t *Tx) Repositories() RepositoryRepo { return RepositoryRepo{t.h} }

// webhookAAD binds a sealed webhook secret to its repository.
func webhookAAD(tenantID, id uuid.UUID) []byte {
	aad := make([]byte, 0, 64)
	aad = append(aad, "buildit webhook secret v1\x00"...)
	aad = append(aad, tenantID[:]...)
	return append(aad, id[:]...)
}

func (r RepositoryRepo) seal(tenantID, id uuid.UUID, secret string) (secretbox.Sealed, error) {
	if r.h.box == nil {
		return secretbox.Sealed{}, ErrNoSecretKey
	}
	return r.h.box.Seal([]byte(secret), webhookAAD(tenantID, id))
}

// Create connects a repository. A URL the tenant connected already is an
// ErrConflict.
func (r RepositoryRepo) Create(ctx context.Context, tenantID uuid.UUID, n NewRepository) (Repository, error) {
	id := uuid.New()
	sealed, err := r.seal(tenantID, id, n.WebhookSecret)
	if err != nil {
		return Repository{}, fmt.Errorf("connect repository: %w", err)
	}
	path := n.PipelinesPath
	if path == "" {
		path = DefaultPipelinesPath
	}
	row, err := r.h.q.CreateRepository(ctx, sqlcdb.CreateRepositoryParams{
		ID: id, TenantID: tenantID, Forge: n.Forge, Url: n.URL, ApiUrl: n.APIURL, TokenSecret: n.TokenSecret,
		WebhookCiphertext: sealed.Ciphertext, WebhookNonce: sealed.Nonce, WebhookKeyID: sealed.KeyID,
		PipelinesPath: path, ForkSecrets: n.ForkSecrets, CreatedBy: n.CreatedBy,
	})
	return toRepository(row), wrap(err, "connect repository")
}

// Get returns tenantID's repository id.
func (r RepositoryRepo) Get(ctx context.Context, tenantID, id uuid.UUID) (Repository, error) {
	row, err := r.h.q.GetRepository(ctx, sqlcdb.GetRepositoryParams{TenantID: tenantID, ID: id})
	return toRepository(row), wrap(err, "get repository %s", id)
}

// HookRepository is what the webhook route needs of a repository.
type HookRepository struct {
	Repository
	// OrgID is the organization of the repository's tenant.
	OrgID uuid.UUID
	// Secret is the webhook secret, opened.
	Secret []byte
}

// ForHook returns repository id, whatever its tenant, with its webhook
// secret opened: for the webhook route, which checks the delivery's
// signature with it before anything else. One indexed query.
func (r RepositoryRepo) ForHook(ctx context.Context, id uuid.UUID) (HookRepository, error) {
	row, err := r.h.q.GetRepositoryForHook(ctx, id)
	if err != nil {
		return HookRepository{}, wrap(err, "get repository %s", id)
	}
	if r.h.box == nil {
		return HookRepository{}, fmt.Errorf("open the webhook secret of repository %s: %w", id, ErrNoSecretKey)
	}
	repo := row.Repository
	secret, err := r.h.box.Open(secretbox.Sealed{Ciphertext: repo.WebhookCiphertext, Nonce: repo.WebhookNonce, KeyID: repo.WebhookKeyID},
		webhookAAD(repo.TenantID, repo.ID))
	if err != nil {
		return HookRepository{}, fmt.Errorf("open the webhook secret of repository %s: %w", id, err)
	}
	return HookRepository{Repository: toRepository(repo), OrgID: row.OrgID, Secret: secret}, nil
}

// List lists a tenant's repositories by URL.
func (r RepositoryRepo) List(ctx context.Context, tenantID uuid.UUID, after string, limit int) (Page[Repository], error) {
	from, err := decodeNameCursor(after)
	if err != nil {
		return Page[Repository]{}, err
	}
	size := pageSize(limit)
	rows, err := r.h.q.ListRepositories(ctx, sqlcdb.ListRepositoriesParams{TenantID: tenantID, After: from, Lim: int32(size + 1)})
	if err != nil {
		return Page[Repository]{}, wrap(err, "list repositories of tenant %s", tenantID)
	}
	return pageOf(rows, size, toRepository, func(row sqlcdb.Repository) string { return nameCursor(row.Url) }), nil
}

// Update changes a repository's settings.
func (r RepositoryRepo) Update(ctx context.Context, tenantID, id uuid.UUID, p RepositoryPatch) (Repository, error) {
	row, err := r.h.q.UpdateRepository(ctx, sqlcdb.UpdateRepositoryParams{
		TenantID: tenantID, ID: id, TokenSecret: p.TokenSecret, PipelinesPath: p.PipelinesPath, ApiUrl: p.APIURL, ForkSecrets: p.ForkSecrets,
	})
	return toRepository(row), wrap(err, "update repository %s", id)
}

// SetWebhookSecret replaces a repository's webhook secret.
func (r RepositoryRepo) SetWebhookSecret(ctx context.Context, tenantID, id uuid.UUID, secret string) (Repository, error) {
	sealed, err := r.seal(tenantID, id, secret)
	if err != nil {
		return Repository{}, fmt.Errorf("rotate the webhook secret of repository %s: %w", id, err)
	}
	row, err := r.h.q.SetRepositoryWebhookSecret(ctx, sqlcdb.SetRepositoryWebhookSecretParams{
		TenantID: tenantID, ID: id, WebhookCiphertext: sealed.Ciphertext, WebhookNonce: sealed.Nonce, WebhookKeyID: sealed.KeyID,
	})
	return toRepository(row), wrap(err, "rotate the webhook secret of repository %s", id)
}

// SetDefaultBranch records the default branch a webhook told.
func (r RepositoryRepo) SetDefaultBranch(ctx context.Context, tenantID, id uuid.UUID, branch string) error {
	err := r.h.q.SetRepositoryDefaultBranch(ctx, sqlcdb.SetRepositoryDefaultBranchParams{TenantID: tenantID, ID: id, DefaultBranch: branch})
	return wrap(err, "set the default branch of repository %s", id)
}

// Delete disconnects a repository: its pipelines stay, no longer linked
// to it.
func (r RepositoryRepo) Delete(ctx context.Context, tenantID, id uuid.UUID) error {
	n, err := r.h.q.DeleteRepository(ctx, sqlcdb.DeleteRepositoryParams{TenantID: tenantID, ID: id})
	return wrap(affected(n, err), "delete repository %s", id)
}

// TakeDelivery records a webhook delivery of the repository; false when
// it was taken before (a redelivery).
func (r RepositoryRepo) TakeDelivery(ctx context.Context, repositoryID uuid.UUID, delivery string) (bool, error) {
	n, err := r.h.q.InsertWebhookDelivery(ctx, sqlcdb.InsertWebhookDeliveryParams{RepositoryID: repositoryID, DeliveryID: delivery})
	return n == 1, wrap(err, "record delivery %q", delivery)
}

// ReleaseDelivery forgets a delivery, so that the forge's retry of it is
// taken: for a delivery whose work could not be started.
func (r RepositoryRepo) ReleaseDelivery(ctx context.Context, repositoryID uuid.UUID, delivery string) error {
	err := r.h.q.DeleteWebhookDelivery(ctx, sqlcdb.DeleteWebhookDeliveryParams{RepositoryID: repositoryID, DeliveryID: delivery})
	return wrap(err, "forget delivery %q", delivery)
}

func toRepository(row sqlcdb.Repository) Repository {
	return Repository{
		ID: row.ID, TenantID: row.TenantID, Forge: row.Forge, URL: row.Url, APIURL: row.ApiUrl,
		TokenSecret: row.TokenSecret, PipelinesPath: row.PipelinesPath, ForkSecrets: row.ForkSecrets,
		DefaultBranch: row.DefaultBranch, CreatedBy: row.CreatedBy, CreatedAt: row.CreatedAt,
	}
}

// RepositoryPipeline is a pipeline read from a file of a repository.
type RepositoryPipeline struct {
	PipelineSpec
	RepositoryID uuid.UUID
	// Path is the file in the repository.
	Path string
}

// EnsureForRepository returns the pipeline named p.Name, creating it from
// p when the tenant has none (created reports that). A pipeline of that
// name that is not p's repository's is returned as it is: the caller
// tells by its RepositoryID.
func (r PipelineRepo) EnsureForRepository(ctx context.Context, tenantID uuid.UUID, p RepositoryPipeline) (_ Pipeline, created bool, _ error) {
	repoID := p.RepositoryID
	row, err := r.h.q.CreateRepositoryPipeline(ctx, sqlcdb.CreateRepositoryPipelineParams{
		TenantID: tenantID, Name: p.Name, Source: p.Source, Plan: planJSON(p.Plan), RepositoryID: &repoID, RepositoryPath: p.Path,
	})
	if err == nil {
		return toPipeline(row), true, nil
	}
	if !errors.Is(translate(err), ErrNotFound) {
		return Pipeline{}, false, wrap(err, "create pipeline %q", p.Name)
	}
	got, err := r.Get(ctx, tenantID, p.Name)
	return got, false, err
}

// UpdateForRepository replaces the source and plan of pipeline id of
// repository p.RepositoryID when they changed (changed reports that); the
// pipeline as it is now is returned either way.
func (r PipelineRepo) UpdateForRepository(ctx context.Context, tenantID, id uuid.UUID, p RepositoryPipeline) (_ Pipeline, changed bool, _ error) {
	repoID := p.RepositoryID
	row, err := r.h.q.UpdateRepositoryPipeline(ctx, sqlcdb.UpdateRepositoryPipelineParams{
		TenantID: tenantID, ID: id, RepositoryID: &repoID, Source: p.Source, Plan: planJSON(p.Plan), RepositoryPath: p.Path,
	})
	if err == nil {
		return toPipeline(row), true, nil
	}
	if !errors.Is(translate(err), ErrNotFound) {
		return Pipeline{}, false, wrap(err, "update pipeline %q", p.Name)
	}
	got, err := r.GetByID(ctx, tenantID, id)
	return got, false, err
}

// GetRunByTriggerKey returns the run of tenantID's pipeline started with
// key (runclient's Trigger.Key).
func (r RunRepo) GetRunByTriggerKey(ctx context.Context, tenantID, pipelineID uuid.UUID, key string) (Run, error) {
	row, err := r.h.q.GetRunByTriggerKey(ctx, sqlcdb.GetRunByTriggerKeyParams{TenantID: tenantID, PipelineID: pipelineID, TriggerKey: key})
	return toRun(row), wrap(err, "get the run of key %q", key)
}
