package db_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

func TestRepositories(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	org := mkOrg(t, s)
	t1, t2 := mkTenant(t, s, org.ID), mkTenant(t, s, org.ID)
	const secret = "0123456789abcdef-webhook-secret"
	r, err := s.Repositories().Create(ctx, t1.ID, db.NewRepository{
		Forge: "gitea", URL: "https://git.example.com/acme/app", TokenSecret: "GITEA_TOKEN", WebhookSecret: secret, CreatedBy: "owner@acme.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.PipelinesPath != ".buildit" || r.ForkSecrets || r.DefaultBranch != "" || r.CreatedBy != "owner@acme.test" {
		t.Errorf("created %+v", r)
	}
	// The secret is sealed: not in the row as it was given.
	var n int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM repositories WHERE position($1::bytea in webhook_ciphertext) > 0", []byte(secret)).Scan(&n); err != nil || n != 0 {
		t.Errorf("the webhook secret is stored in the clear (%d, %v)", n, err)
	}
	// The same URL twice in a tenant is a conflict; in another, not.
	if _, err := s.Repositories().Create(ctx, t1.ID, db.NewRepository{Forge: "gitea", URL: r.URL, TokenSecret: "X", WebhookSecret: "y"}); !errors.Is(err, db.ErrConflict) {
		t.Errorf("the same URL again: %v", err)
	}
	if _, err := s.Repositories().Create(ctx, t2.ID, db.NewRepository{Forge: "gitea", URL: r.URL, TokenSecret: "X", WebhookSecret: "y"}); err != nil {
		t.Errorf("the URL in another tenant: %v", err)
	}
	if _, err := s.Repositories().Create(ctx, t1.ID, db.NewRepository{Forge: "svn", URL: "https://x.test/a/b", TokenSecret: "X", WebhookSecret: "y"}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("an unknown forge: %v", err)
	}

	// The hook's lookup opens the secret and names the organization.
	h, err := forHook(ctx, s, r.ID)
	if err != nil || string(h.Secret) != secret || h.OrgID != org.ID || h.TenantID != t1.ID {
		t.Fatalf("ForHook: %+v %v", h, err)
	}
	// Tenant isolation: another tenant's id finds nothing, changes nothing.
	if _, err := s.Repositories().Get(ctx, t2.ID, r.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("get across tenants: %v", err)
	}
	yes := true
	if _, err := s.Repositories().Update(ctx, t2.ID, r.ID, db.RepositoryPatch{ForkSecrets: &yes}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("update across tenants: %v", err)
	}
	if err := s.Repositories().Delete(ctx, t2.ID, r.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("delete across tenants: %v", err)
	}
	if _, err := s.Repositories().SetWebhookSecret(ctx, t2.ID, r.ID, "other"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("rotate across tenants: %v", err)
	}
	page, err := s.Repositories().List(ctx, t2.ID, "", 10)
	if err != nil || len(page.Items) != 1 || page.Items[0].ID == r.ID {
		t.Errorf("t2's list: %+v %v", page, err)
	}
	path := "ci"
	up, err := s.Repositories().Update(ctx, t1.ID, r.ID, db.RepositoryPatch{ForkSecrets: &yes, PipelinesPath: &path})
	if err != nil || !up.ForkSecrets || up.PipelinesPath != "ci" || up.TokenSecret != "GITEA_TOKEN" {
		t.Errorf("update: %+v %v", up, err)
	}
	if _, err := s.Repositories().SetWebhookSecret(ctx, t1.ID, r.ID, "rotated"); err != nil {
		t.Fatal(err)
	}
	if h, err := forHook(ctx, s, r.ID); err != nil || string(h.Secret) != "rotated" {
		t.Errorf("after rotation: %q %v", h.Secret, err)
	}

	// Deliveries: the first take wins, a redelivery does not. A delivery
	// not started is pending once it is older than the cutoff, and after
	// a failed start only when its backoff is over; a started one is not,
	// and its input is forgotten. Pruning forgets deliveries.
	for i, want := range []bool{true, false} {
		if got, err := takeDelivery(ctx, s, r.ID, "d-1", `{"n":1}`); err != nil || got != want {
			t.Errorf("take %d: %v %v", i, got, err)
		}
	}
	if got, _ := takeDelivery(ctx, s, r.ID, "d-2", `{"n":2}`); !got {
		t.Error("d-2 not taken")
	}
	if p, err := s.Repositories().PendingDeliveries(ctx, time.Now().Add(-time.Hour), 10); err != nil || len(p) != 0 {
		t.Errorf("pending before the cutoff: %+v %v", p, err)
	}
	later := time.Now().Add(time.Hour)
	if p, err := s.Repositories().PendingDeliveries(ctx, later, 10); err != nil || len(p) != 2 || p[0].Delivery != "d-1" || string(p[0].Input) != `{"n": 1}` || p[1].Delivery != "d-2" {
		t.Errorf("pending: %+v %v", p, err)
	}
	if err := s.Repositories().StartedDeliveries(ctx, []db.DeliveryKey{{RepositoryID: r.ID, Delivery: "d-1"}, {RepositoryID: r.ID, Delivery: "nope"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Repositories().FailedDeliveryStart(ctx, r.ID, "d-2"); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Repositories().PendingDeliveries(ctx, later, 10); err != nil || len(p) != 0 {
		t.Errorf("pending after a start and a failed one (backing off): %+v %v", p, err)
	}
	if _, err := s.Pool().Exec(ctx, "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE delivery_id = 'd-2'"); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Repositories().PendingDeliveries(ctx, later, 10); err != nil || len(p) != 1 || p[0].Delivery != "d-2" || p[0].Attempts != 1 {
		t.Errorf("pending after the backoff: %+v %v", p, err)
	}
	var input *string
	if err := s.Pool().QueryRow(ctx, "SELECT input::text FROM webhook_deliveries WHERE delivery_id = 'd-1'").Scan(&input); err != nil || input != nil {
		t.Errorf("a started delivery's input: %v %v", input, err)
	}
	if n, err := s.Repositories().PruneDeliveries(ctx, later); err != nil || n != 2 {
		t.Errorf("prune: %d %v", n, err)
	}
	// A batch: a delivery twice in it is taken once, at its first place.
	batch := []db.NewDelivery{{RepositoryID: r.ID, Delivery: "x", Input: []byte("{}")}, {RepositoryID: r.ID, Delivery: "x", Input: []byte("{}")}, {RepositoryID: r.ID, Delivery: "y", Input: []byte("{}")}}
	if taken, err := s.Repositories().TakeDeliveries(ctx, batch); err != nil || !slices.Equal(taken, []bool{true, false, true}) {
		t.Errorf("a batch: %v %v", taken, err)
	}
	if taken, err := s.Repositories().TakeDeliveries(ctx, batch[1:]); err != nil || !slices.Equal(taken, []bool{false, false}) {
		t.Errorf("the batch again: %v %v", taken, err)
	}

	// A repository's pipeline: created once, then found; a name taken by
	// an API pipeline is returned as it is, not the repository's.
	spec := db.RepositoryPipeline{PipelineSpec: db.PipelineSpec{Name: "ci", Source: `pipeline "ci"`}, RepositoryID: r.ID, Path: ".buildit/ci.kdl"}
	p, created, err := s.Pipelines().EnsureForRepository(ctx, t1.ID, spec)
	if err != nil || !created || p.RepositoryID == nil || *p.RepositoryID != r.ID || p.RepositoryPath != ".buildit/ci.kdl" {
		t.Fatalf("ensure: %+v %v %v", p, created, err)
	}
	if p2, created, err := s.Pipelines().EnsureForRepository(ctx, t1.ID, spec); err != nil || created || p2.ID != p.ID {
		t.Errorf("ensure again: %v %v", created, err)
	}
	mkPipeline(t, s, t1.ID, "api-one")
	if p3, created, err := s.Pipelines().EnsureForRepository(ctx, t1.ID, db.RepositoryPipeline{PipelineSpec: db.PipelineSpec{Name: "api-one", Source: "x"}, RepositoryID: r.ID}); err != nil || created || p3.RepositoryID != nil {
		t.Errorf("a name the API took: %+v %v %v", p3, created, err)
	}
	spec.Source = `pipeline "ci" // changed`
	if up, changed, err := s.Pipelines().UpdateForRepository(ctx, t1.ID, p.ID, spec); err != nil || !changed || up.Version != 2 {
		t.Errorf("update: %v %v %v", up.Version, changed, err)
	}
	if _, changed, err := s.Pipelines().UpdateForRepository(ctx, t1.ID, p.ID, spec); err != nil || changed {
		t.Errorf("update unchanged: %v %v", changed, err)
	}

	// Keyed runs: one per key.
	run, err := s.Runs().CreateRun(ctx, t1.ID, p.ID, db.NewRun{TriggerKey: "d-1:.buildit/ci.kdl"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Runs().CreateRun(ctx, t1.ID, p.ID, db.NewRun{TriggerKey: "d-1:.buildit/ci.kdl"}); !errors.Is(err, db.ErrConflict) {
		t.Errorf("a second run with the key: %v", err)
	}
	if got, err := s.Runs().GetRunByTriggerKey(ctx, t1.ID, p.ID, "d-1:.buildit/ci.kdl"); err != nil || got.ID != run.ID || got.TriggerKey != "d-1:.buildit/ci.kdl" {
		t.Errorf("by key: %+v %v", got, err)
	}
	if _, err := s.Runs().GetRunByTriggerKey(ctx, t2.ID, p.ID, "d-1:.buildit/ci.kdl"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("by key across tenants: %v", err)
	}
	for range 2 { // runs without a key are many
		if _, err := s.Runs().CreateRun(ctx, t1.ID, p.ID, db.NewRun{}); err != nil {
			t.Fatal(err)
		}
	}

	// Disconnecting keeps the pipelines, unlinked, and drops deliveries.
	if err := s.Repositories().Delete(ctx, t1.ID, r.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Pipelines().GetByID(ctx, t1.ID, p.ID); err != nil || got.RepositoryID != nil || got.TenantID != t1.ID {
		t.Errorf("pipeline after disconnect: %+v %v", got, err)
	}
	if _, err := forHook(ctx, s, r.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("hook after disconnect: %v", err)
	}
}

// forHook is ForHooks of one repository.
func forHook(ctx context.Context, s *db.Store, id uuid.UUID) (db.HookRepository, error) {
	found, err := s.Repositories().ForHooks(ctx, []uuid.UUID{id})
	if err != nil {
		return db.HookRepository{}, err
	}
	return found[0].HookRepository, found[0].Err
}

// takeDelivery is TakeDeliveries of one delivery.
func takeDelivery(ctx context.Context, s *db.Store, repo uuid.UUID, delivery, input string) (bool, error) {
	taken, err := s.Repositories().TakeDeliveries(ctx, []db.NewDelivery{{RepositoryID: repo, Delivery: delivery, Input: []byte(input)}})
	if err != nil {
		return false, err
	}
	return taken[0], nil
}

// ForHooks answers each id alone, in order: a repository whose webhook
// secret will not open fails its own lookup, not the others' of its
// batch (other tenants' deliveries among them).
func TestForHooksFailEachAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	org := mkOrg(t, s)
	ta, tb := mkTenant(t, s, org.ID), mkTenant(t, s, org.ID)
	good, err := s.Repositories().Create(ctx, ta.ID, db.NewRepository{Forge: "gitea", URL: "https://gitea.example/a/good", TokenSecret: "T", WebhookSecret: "good-secret"})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := s.Repositories().Create(ctx, tb.ID, db.NewRepository{Forge: "gitea", URL: "https://gitea.example/b/bad", TokenSecret: "T", WebhookSecret: "bad-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "UPDATE repositories SET webhook_ciphertext = '\\x00' WHERE id = $1", bad.ID); err != nil {
		t.Fatal(err)
	}
	unknown := uuid.New()
	found, err := s.Repositories().ForHooks(ctx, []uuid.UUID{bad.ID, unknown, good.ID})
	if err != nil || len(found) != 3 {
		t.Fatalf("ForHooks: %v %v", found, err)
	}
	if found[0].Err == nil || errors.Is(found[0].Err, db.ErrNotFound) || found[0].Secret != nil || found[0].ID != uuid.Nil {
		t.Errorf("the repository whose secret will not open: %+v", found[0])
	}
	if !errors.Is(found[1].Err, db.ErrNotFound) {
		t.Errorf("an unknown id: %+v", found[1])
	}
	if found[2].Err != nil || string(found[2].Secret) != "good-secret" || found[2].TenantID != ta.ID {
		t.Errorf("the good repository: %+v", found[2])
	}
}
