package db_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/dbtest"
)

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	keys := s.APIKeys()
	o := mkOrg(t, s)
	tn := mkTenant(t, s, o.ID)
	u := mkUser(t, s)
	must[db.OrgMembership](t)(s.Organizations().AddMember(ctx, o.ID, u.ID, db.OrgRoleAdmin))

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
	if err != nil || got.ID != orgKey.ID || got.CreatorRole != db.OrgRoleAdmin || !bytes.Equal(hash, []byte("hash-1")) {
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
	// key without a creator, and it works no more.
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
	if _, _, err := keys.Lookup(ctx, "bk_org1"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Lookup of a key whose creator was deleted: %v", err)
	}
}

// Finding 3: a key must stop working as soon as its creator no longer
// holds the membership that let them make it; the query that finds the key
// checks it, not only a handler.
func TestSecurityAPIKeyLookupFollowsItsCreatorsRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o, other := mkOrg(t, s), mkOrg(t, s)
	u := mkUser(t, s)
	orgs := s.Organizations()
	must[db.OrgMembership](t)(orgs.AddMember(ctx, o.ID, u.ID, db.OrgRoleOwner))
	must[db.OrgMembership](t)(orgs.AddMember(ctx, other.ID, u.ID, db.OrgRoleOwner))
	second := mkUser(t, s) // keeps an owner in o while u's role changes
	must[db.OrgMembership](t)(orgs.AddMember(ctx, o.ID, second.ID, db.OrgRoleOwner))
	prefix := unique("bk")
	must[db.APIKey](t)(s.APIKeys().Create(ctx, db.NewAPIKey{OrgID: o.ID, Name: "k", Prefix: prefix, SecretHash: []byte("h"), CreatedBy: &u.ID}))
	orphan := unique("bk")
	must[db.APIKey](t)(s.APIKeys().Create(ctx, db.NewAPIKey{OrgID: o.ID, Name: "orphan", Prefix: orphan, SecretHash: []byte("h")}))

	lookup := func(when string, want db.OrgRole) {
		t.Helper()
		k, _, err := s.APIKeys().Lookup(ctx, prefix)
		switch {
		case want == "" && !errors.Is(err, db.ErrNotFound):
			t.Errorf("%s: Lookup = %+v, %v; want ErrNotFound", when, k, err)
		case want != "" && (err != nil || k.CreatorRole != want):
			t.Errorf("%s: Lookup = role %q, %v; want %q", when, k.CreatorRole, err, want)
		}
	}
	lookup("creator an owner", db.OrgRoleOwner)
	must[db.OrgMembership](t)(orgs.UpdateMemberRole(ctx, o.ID, u.ID, db.OrgRoleAdmin))
	lookup("creator an admin", db.OrgRoleAdmin)
	must[db.OrgMembership](t)(orgs.UpdateMemberRole(ctx, o.ID, u.ID, db.OrgRoleMember))
	lookup("creator a member", "") // an owner of another org changes nothing
	must[db.OrgMembership](t)(orgs.UpdateMemberRole(ctx, o.ID, u.ID, db.OrgRoleAdmin))
	lookup("creator an admin again", db.OrgRoleAdmin)
	if err := orgs.RemoveMember(ctx, o.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	lookup("creator removed", "")
	if _, _, err := s.APIKeys().Lookup(ctx, orphan); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Lookup of a key without a creator: %v", err)
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

// Migration 00008 gives the keys that keys made (stored without a creator
// before) the user behind the key that made them, through the audit log.
func TestMigrationGivesKeysMadeByKeysTheirCreator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.EmptyPool(t)
	if err := db.MigrateTo(ctx, pool, 7); err != nil {
		t.Fatal(err)
	}
	var org, user uuid.UUID
	if err := pool.QueryRow(ctx, "INSERT INTO organizations (slug, name) VALUES ('acme', 'Acme') RETURNING id").Scan(&org); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, "INSERT INTO users (email) VALUES ('ann@acme.test') RETURNING id").Scan(&user); err != nil {
		t.Fatal(err)
	}
	key := func(prefix string, creator *uuid.UUID) uuid.UUID {
		var id uuid.UUID
		if err := pool.QueryRow(ctx, "INSERT INTO api_keys (org_id, name, prefix, secret_hash, created_by) VALUES ($1, $2, $2, 'h', $3) RETURNING id",
			org, prefix, creator).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	made := func(maker, child uuid.UUID) {
		if _, err := pool.Exec(ctx, "INSERT INTO audit_logs (org_id, actor_api_key_id, action, target_type, target_id) VALUES ($1, $2, 'api_key.create', 'api_key', $3)",
			org, maker, child.String()); err != nil {
			t.Fatal(err)
		}
	}
	byUser := key("bk_user", &user)
	child := key("bk_child", nil)
	grandchild := key("bk_grand", nil)
	stray := key("bk_stray", nil)
	made(byUser, child)
	made(child, grandchild)

	if err := db.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[uuid.UUID]*uuid.UUID{byUser: &user, child: &user, grandchild: &user, stray: nil} {
		var got *uuid.UUID
		if err := pool.QueryRow(ctx, "SELECT created_by FROM api_keys WHERE id = $1", id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("key %s: created_by %v, want %v", id, got, want)
		}
	}
}
