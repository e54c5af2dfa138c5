package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

func TestTenants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	tenants := s.Tenants()
	a, b := mkOrg(t, s), mkOrg(t, s)

	web := must[db.Tenant](t)(tenants.Create(ctx, a.ID, db.NewTenant{Slug: "web", Name: "Web"}))
	if web.OrgID != a.ID || web.Slug != "web" {
		t.Errorf("Create = %+v", web)
	}
	// The same slug in another organization is another tenant.
	webB := must[db.Tenant](t)(tenants.Create(ctx, b.ID, db.NewTenant{Slug: "web", Name: "Web B"}))
	if webB.ID == web.ID {
		t.Fatal("one tenant for two organizations")
	}
	if _, err := tenants.Create(ctx, a.ID, db.NewTenant{Slug: "web", Name: "Again"}); !errors.Is(err, db.ErrConflict) || db.Constraint(err) != "tenants_org_id_slug_key" {
		t.Errorf("duplicate slug: %v", err)
	}
	if _, err := tenants.Create(ctx, a.ID, db.NewTenant{Slug: "-bad-", Name: "x"}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("bad slug: %v", err)
	}
	if _, err := tenants.Create(ctx, uuid.New(), db.NewTenant{Slug: "orphan", Name: "x"}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("unknown org: %v", err)
	}

	if got := must[db.Tenant](t)(tenants.Get(ctx, a.ID, "web")); got.ID != web.ID {
		t.Errorf("Get = %+v", got)
	}
	if got := must[db.Tenant](t)(tenants.Get(ctx, b.ID, "web")); got.ID != webB.ID {
		t.Errorf("Get in org b = %+v", got)
	}
	if got := must[db.Tenant](t)(tenants.GetByID(ctx, a.ID, web.ID)); got.Slug != "web" {
		t.Errorf("GetByID = %+v", got)
	}
	if _, err := tenants.GetByID(ctx, b.ID, web.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("GetByID through another org: %v", err)
	}

	must[db.Tenant](t)(tenants.Create(ctx, a.ID, db.NewTenant{Slug: "api", Name: "API"}))
	must[db.Tenant](t)(tenants.Create(ctx, a.ID, db.NewTenant{Slug: "zeta", Name: "Zeta"}))
	p1 := must[db.Page[db.Tenant]](t)(tenants.List(ctx, a.ID, "", 2))
	p2 := must[db.Page[db.Tenant]](t)(tenants.List(ctx, a.ID, p1.Next, 2))
	if len(p1.Items) != 2 || p1.Items[0].Slug != "api" || p1.Items[1].Slug != "web" || len(p2.Items) != 1 || p2.Items[0].Slug != "zeta" || p2.Next != "" {
		t.Errorf("List pages = %+v, %+v", p1, p2)
	}
	if n := must[int](t)(tenants.Count(ctx, a.ID)); n != 3 {
		t.Errorf("Count = %d", n)
	}

	slug, name := "website", "Website"
	up := must[db.Tenant](t)(tenants.Update(ctx, a.ID, web.ID, db.TenantPatch{Slug: &slug, Name: &name}))
	if up.Slug != slug || up.Name != name {
		t.Errorf("Update = %+v", up)
	}
	taken := "api"
	if _, err := tenants.Update(ctx, a.ID, web.ID, db.TenantPatch{Slug: &taken}); !errors.Is(err, db.ErrConflict) {
		t.Errorf("Update to a taken slug: %v", err)
	}
	if _, err := tenants.Update(ctx, b.ID, web.ID, db.TenantPatch{Name: &name}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Update through another org: %v", err)
	}

	if err := tenants.Delete(ctx, b.ID, web.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Delete through another org: %v", err)
	}
	if err := tenants.Delete(ctx, a.ID, web.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tenants.Get(ctx, a.ID, slug); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if _, err := tenants.Get(ctx, b.ID, "web"); err != nil {
		t.Errorf("Delete in org a touched org b: %v", err)
	}
}

func TestTenantMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	tenants := s.Tenants()
	o := mkOrg(t, s)
	tn, other := mkTenant(t, s, o.ID), mkTenant(t, s, o.ID)
	ann, bob, outsider := mkUser(t, s), mkUser(t, s), mkUser(t, s)
	for _, u := range []db.User{ann, bob} {
		must[db.OrgMembership](t)(s.Organizations().AddMember(ctx, o.ID, u.ID, db.OrgRoleMember))
	}

	m := must[db.TenantMembership](t)(tenants.AddMember(ctx, tn.ID, ann.ID, db.TenantRoleAdmin))
	if m.Role != db.TenantRoleAdmin || m.Email != ann.Email || m.TenantID != tn.ID {
		t.Errorf("AddMember = %+v", m)
	}
	must[db.TenantMembership](t)(tenants.AddMember(ctx, tn.ID, bob.ID, db.TenantRoleViewer))
	must[db.TenantMembership](t)(tenants.AddMember(ctx, other.ID, bob.ID, db.TenantRoleMember))

	if _, err := tenants.AddMember(ctx, tn.ID, ann.ID, db.TenantRoleMember); !errors.Is(err, db.ErrConflict) {
		t.Errorf("AddMember twice: %v", err)
	}
	if _, err := tenants.AddMember(ctx, tn.ID, outsider.ID, db.TenantRoleMember); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("AddMember of a user outside the org: %v", err)
	}
	if _, err := tenants.AddMember(ctx, uuid.New(), ann.ID, db.TenantRoleMember); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("AddMember to an unknown tenant: %v", err)
	}
	if _, err := tenants.AddMember(ctx, tn.ID, ann.ID, "owner"); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("AddMember with a bad role: %v", err)
	}

	if got := must[db.TenantMembership](t)(tenants.GetMember(ctx, tn.ID, bob.ID)); got.Role != db.TenantRoleViewer {
		t.Errorf("GetMember = %+v", got)
	}
	if _, err := tenants.GetMember(ctx, other.ID, ann.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("GetMember of another tenant: %v", err)
	}
	list := must[db.Page[db.TenantMembership]](t)(tenants.ListMembers(ctx, tn.ID, "", 0))
	if len(list.Items) != 2 {
		t.Errorf("ListMembers = %+v", list.Items)
	}
	mine := must[db.Page[db.MemberTenant]](t)(tenants.ListForMember(ctx, o.ID, bob.ID, "", 0))
	if len(mine.Items) != 2 {
		t.Errorf("ListForMember = %+v", mine.Items)
	}

	if got := must[db.TenantMembership](t)(tenants.UpdateMemberRole(ctx, tn.ID, bob.ID, db.TenantRoleMember)); got.Role != db.TenantRoleMember {
		t.Errorf("UpdateMemberRole = %+v", got)
	}
	if _, err := tenants.UpdateMemberRole(ctx, other.ID, ann.ID, db.TenantRoleMember); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("UpdateMemberRole of a non-member: %v", err)
	}
	if err := tenants.RemoveMember(ctx, tn.ID, ann.ID); err != nil {
		t.Fatal(err)
	}
	if err := tenants.RemoveMember(ctx, tn.ID, ann.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("RemoveMember twice: %v", err)
	}

	// Leaving the organization means leaving its tenants.
	if err := s.Organizations().RemoveMember(ctx, o.ID, bob.ID); err != nil {
		t.Fatal(err)
	}
	mine = must[db.Page[db.MemberTenant]](t)(tenants.ListForMember(ctx, o.ID, bob.ID, "", 0))
	if len(mine.Items) != 0 {
		t.Errorf("tenant memberships outlived the org membership: %+v", mine.Items)
	}
}
