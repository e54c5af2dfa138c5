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

// HookLookup is one repository ForHooks looked up: the repository, or
// why not (ErrNotFound, or its webhook secret that would not open).
type HookLookup struct {
	HookRepository
	Err error
}

// ForHooks returns repositories by id, whatever their tenants, with their
// webhook secrets opened: for the webhook route, which checks a
// delivery's signature with it before anything else. One indexed query
// for several ids (the route batches concurrent deliveries); one lookup
// per id, in order, each failing alone, so that one repository's secret
// that will not open fails no other's delivery.
func (r RepositoryRepo) ForHooks(ctx context.Context, ids []uuid.UUID) ([]HookLookup, error) {
	rows, err := r.h.q.GetRepositoriesForHooks(ctx, ids)
	if err != nil {
		return nil, wrap(err, "get repositories for webhooks")
	}
	found := make(map[uuid.UUID]HookLookup, len(rows))
	for _, row := range rows {
		repo := row.Repository
		l := HookLookup{HookRepository: HookRepository{Repository: toRepository(repo), OrgID: row.OrgID}}
		if r.h.box == nil {
			l.Err = ErrNoSecretKey
		} else {
			l.Secret, l.Err = r.h.box.Open(secretbox.Sealed{Ciphertext: repo.WebhookCiphertext, Nonce: repo.WebhookNonce, KeyID: repo.WebhookKeyID},
				webhookAAD(repo.TenantID, repo.ID))
		}
		if l.Err != nil {
			l = HookLookup{Err: fmt.Errorf("open the webhook secret of repository %s: %w", repo.ID, l.Err)}
		}
		found[repo.ID] = l
	}
	out := make([]HookLookup, len(ids))
	for i, id := range ids {
		l, ok := found[id]
		if !ok {
			l.Err = wrap(ErrNotFound, "get repository %s", id)
		}
		out[i] = l
	}
	return out, nil
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

// NewDelivery is a webhook delivery to record.
type NewDelivery struct {
	RepositoryID uuid.UUID
	Delivery     string
	// Input is the JSON of the workflow input that starts its work.
	Input []byte
}

// TakeDeliveries records webhook deliveries with the workflow inputs that
// start their work (started later, by the dispatcher that marks them with
// StartedDeliveries, or its sweeper), in one statement (the webhook route
// batches concurrent deliveries): whether each was taken, false for one
// taken before (a redelivery). A delivery twice in ds is taken at its
// first place at most.
func (r RepositoryRepo) TakeDeliveries(ctx context.Context, ds []NewDelivery) ([]bool, error) {
	p := sqlcdb.InsertWebhookDeliveriesParams{
		RepositoryIds: make([]uuid.UUID, len(ds)), DeliveryIds: make([]string, len(ds)), Inputs: make([]string, len(ds)),
	}
	for i, d := range ds {
		p.RepositoryIds[i], p.DeliveryIds[i], p.Inputs[i] = d.RepositoryID, d.Delivery, string(d.Input)
	}
	rows, err := r.h.q.InsertWebhookDeliveries(ctx, p)
	if err != nil {
		return nil, wrap(err, "record %d deliveries", len(ds))
	}
	type key struct {
		repo     uuid.UUID
		delivery string
	}
	inserted := make(map[key]bool, len(rows))
	for _, row := range rows {
		inserted[key{row.RepositoryID, row.DeliveryID}] = true
	}
	taken := make([]bool, len(ds))
	for i, d := range ds {
		k := key{d.RepositoryID, d.Delivery}
		taken[i] = inserted[k]
		delete(inserted, k)
	}
	return taken, nil
}

// DeliveryKey names a webhook delivery.
type DeliveryKey struct {
	RepositoryID uuid.UUID
	Delivery     string
}

// StartedDeliveries marks deliveries' work started and forgets their
// inputs, in one statement.
func (r RepositoryRepo) StartedDeliveries(ctx context.Context, keys []DeliveryKey) error {
	p := sqlcdb.MarkWebhookDeliveriesStartedParams{RepositoryIds: make([]uuid.UUID, len(keys)), DeliveryIds: make([]string, len(keys))}
	for i, k := range keys {
		p.RepositoryIds[i], p.DeliveryIds[i] = k.RepositoryID, k.Delivery
	}
	return wrap(r.h.q.MarkWebhookDeliveriesStarted(ctx, p), "mark %d deliveries started", len(keys))
}

// FailedDeliveryStart counts a failed start of a delivery's work and backs
// off its next one.
func (r RepositoryRepo) FailedDeliveryStart(ctx context.Context, repositoryID uuid.UUID, delivery string) error {
	err := r.h.q.FailWebhookDeliveryStart(ctx, sqlcdb.FailWebhookDeliveryStartParams{RepositoryID: repositoryID, DeliveryID: delivery})
	return wrap(err, "count a failed start of delivery %q", delivery)
}

// PendingDelivery is a delivery whose work has not started.
type PendingDelivery struct {
	RepositoryID uuid.UUID
	Delivery     string
	// Input is the workflow input recorded with it.
	Input    []byte
	Attempts int
}

// PendingDeliveries lists at most limit deliveries received before
// before whose work has not started and whose backoff is over, the
// oldest first.
func (r RepositoryRepo) PendingDeliveries(ctx context.Context, before time.Time, limit int) ([]PendingDelivery, error) {
	rows, err := r.h.q.ListPendingWebhookDeliveries(ctx, sqlcdb.ListPendingWebhookDeliveriesParams{ReceivedBefore: before, Lim: int32(limit)})
	if err != nil {
		return nil, wrap(err, "list pending deliveries")
	}
	out := make([]PendingDelivery, len(rows))
	for i, row := range rows {
		out[i] = PendingDelivery{RepositoryID: row.RepositoryID, Delivery: row.DeliveryID, Input: row.Input, Attempts: int(row.Attempts)}
	}
	return out, nil
}

// PruneDeliveries forgets the deliveries received before before and
// returns how many.
func (r RepositoryRepo) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	n, err := r.h.q.PruneWebhookDeliveries(ctx, before)
	return n, wrap(err, "prune deliveries")
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
