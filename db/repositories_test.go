package db_test

import (
	"context"
	"errors"
	"testing"

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
	h, err := s.Repositories().ForHook(ctx, r.ID)
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
	if h, err := s.Repositories().ForHook(ctx, r.ID); err != nil || string(h.Secret) != "rotated" {
		t.Errorf("after rotation: %q %v", h.Secret, err)
	}

	// Deliveries: the first take wins, a redelivery does not; a released
	// one can be taken again.
	for i, want := range []bool{true, false} {
		if got, err := s.Repositories().TakeDelivery(ctx, r.ID, "d-1"); err != nil || got != want {
			t.Errorf("take %d: %v %v", i, got, err)
		}
	}
	if err := s.Repositories().ReleaseDelivery(ctx, r.ID, "d-1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Repositories().TakeDelivery(ctx, r.ID, "d-1"); !got {
		t.Error("a released delivery is not taken again")
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
	if _, err := s.Repositories().ForHook(ctx, r.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("hook after disconnect: %v", err)
	}
}
