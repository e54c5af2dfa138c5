package db_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	keys := s.APIKeys()
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	u := mkUser(t, s)

	orgKey := must[db.APIKey](t)(keys.Create(ctx, db.NewAPIKey{
		OrgID: o.ID, Name: "ci", Prefix: "bk_org1", SecretHash: []byte("hash-1"), Scopes: []string{"pipelines:read", "runs:write"}, CreatedBy: &u.ID,
	}))
	if orgKey.TenantID != nil || len(orgKey.Scopes) != 2 || *orgKey.CreatedBy != u.ID || !orgKey.Active(time.Now()) {
		t.Errorf("Create = %+v", orgKey)
	}
	tenantKey := must[db.APIKey](t)(keys.Create(ctx, db.NewAPIKey{OrgID: o.ID, TenantID: &tn.ID, Name: "deploy", Prefix: "bk_ten1", SecretHash: []byte("hash-2")}))
	if tenantKey.TenantID == nil || *tenantKey.TenantID != tn.ID || tenantKey.Scopes == nil {
		t.Errorf("Create tenant key = %+v", tenantKey)
	}

	got, hash, err := keys.Lookup(ctx, "bk_org1")
	if err != nil || got.ID != orgKey.ID || !bytes.Equal(hash, []byte("hash-1")) {
		t.Errorf("Lookup = %+v, %q, %v", got, hash, err)
	}
	if _, _, err := keys.Lookup(ctx, "bk_none"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Lookup of an unknown prefix: %v", err)
	}

	// Conflicts and foreign rows.
	if _, err := keys.Create(ctx, db.NewAPIKey{OrgID: o.ID, Name: "dup", Prefix: "bk_org1", SecretHash: []byte("x")}); !errors.Is(err, db.ErrConflict) || db.Constraint(err) != "api_keys_prefix_key" {
		t.Errorf("Create with a taken prefix: %v", err)
	}
	otherOrg := mkOrg(t, s)
	otherTenant := mkTenant(t, s, otherOrg.ID)
	if _, err := keys.Create(ctx, db.NewAPIKey{OrgID: o.ID, TenantID: &otherTenant.ID, Name: "x", Prefix: "bk_cross", SecretHash: []byte("x")}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("Create with another org's tenant: %v", err)
	}
	if _, err := keys.Get(ctx, otherOrg.ID, orgKey.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Get from another org: %v", err)
	}

	// Expired and revoked keys do not authenticate.
	past := time.Now().Add(-time.Minute)
	must[db.APIKey](t)(keys.Create(ctx, db.NewAPIKey{OrgID: o.ID, Name: "old", Prefix: "bk_old1", SecretHash: []byte("x"), ExpiresAt: &past}))
	if _, _, err := keys.Lookup(ctx, "bk_old1"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Lookup of an expired key: %v", err)
	}
	if _, err := keys.Revoke(ctx, otherOrg.ID, tenantKey.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Revoke from another org: %v", err)
	}
	rev := must[db.APIKey](t)(keys.Revoke(ctx, o.ID, tenantKey.ID))
	if rev.RevokedAt == nil || rev.Active(time.Now()) {
		t.Errorf("Revoke = %+v", rev)
	}
	if _, _, err := keys.Lookup(ctx, "bk_ten1"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Lookup of a revoked key: %v", err)
	}
	if _, err := keys.Revoke(ctx, o.ID, tenantKey.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second Revoke: %v", err)
	}

	// Lists: live keys by default, revoked ones on request, by tenant.
	live := must[db.Page[db.APIKey]](t)(keys.List(ctx, o.ID, db.APIKeyFilter{}, "", 0))
	if len(live.Items) != 2 { // ci, old (expired but not revoked)
		t.Errorf("List = %d keys, want 2", len(live.Items))
	}
	all := must[db.Page[db.APIKey]](t)(keys.List(ctx, o.ID, db.APIKeyFilter{IncludeRevoked: true}, "", 0))
	if len(all.Items) != 3 {
		t.Errorf("List with revoked = %d keys, want 3", len(all.Items))
	}
	scoped := must[db.Page[db.APIKey]](t)(keys.List(ctx, o.ID, db.APIKeyFilter{TenantID: &tn.ID, IncludeRevoked: true}, "", 0))
	if len(scoped.Items) != 1 || scoped.Items[0].ID != tenantKey.ID {
		t.Errorf("List of the tenant's keys = %+v", scoped.Items)
	}

	// TouchLastUsed writes once a minute at most.
	if err := keys.TouchLastUsed(ctx, o.ID, orgKey.ID); err != nil {
		t.Fatal(err)
	}
	first := must[db.APIKey](t)(keys.Get(ctx, o.ID, orgKey.ID)).LastUsedAt
	if first == nil {
		t.Fatal("TouchLastUsed did not set LastUsedAt")
	}
	if err := keys.TouchLastUsed(ctx, o.ID, orgKey.ID); err != nil {
		t.Fatal(err)
	}
	if again := must[db.APIKey](t)(keys.Get(ctx, o.ID, orgKey.ID)).LastUsedAt; !again.Equal(*first) {
		t.Errorf("second TouchLastUsed within a minute wrote: %v then %v", first, again)
	}

	// Deleting the tenant deletes its keys; deleting the creator keeps the
	// key without a creator.
	if err := s.Tenants().Delete(ctx, o.ID, tn.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Get(ctx, o.ID, tenantKey.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("tenant key outlived its tenant: %v", err)
	}
	if err := s.Users().Delete(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if k := must[db.APIKey](t)(keys.Get(ctx, o.ID, orgKey.ID)); k.CreatedBy != nil {
		t.Errorf("CreatedBy after the user's deletion = %v", k.CreatedBy)
	}
}

func TestAPIKeysPagination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	var want []uuid.UUID
	for i := range 17 {
		k := must[db.APIKey](t)(s.APIKeys().Create(ctx, db.NewAPIKey{OrgID: o.ID, Name: "k", Prefix: unique("bk"), SecretHash: []byte{byte(i)}}))
		want = append(want, k.ID)
	}
	var got []uuid.UUID
	after := ""
	for {
		p := must[db.Page[db.APIKey]](t)(s.APIKeys().List(ctx, o.ID, db.APIKeyFilter{}, after, 4))
		for _, k := range p.Items {
			got = append(got, k.ID)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	// Oldest first: creation order (ids break ties between equal times).
	if len(got) != len(want) {
		t.Fatalf("listed %d keys, want %d", len(got), len(want))
	}
	seen := map[uuid.UUID]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("key %s listed twice", id)
		}
		seen[id] = true
	}
	if _, err := s.APIKeys().List(ctx, o.ID, db.APIKeyFilter{}, "not a cursor!", 4); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("List with a bad cursor: %v", err)
	}
}
