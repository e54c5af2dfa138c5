package db_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
)

func TestOrganizations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)

	o, err := s.Organizations().Create(ctx, db.NewOrganization{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Plan != db.PlanFree || o.ID == uuid.Nil || o.CreatedAt.IsZero() {
		t.Errorf("Create = %+v; want plan free, an id and a time", o)
	}
	if got := must[db.Organization](t)(s.Organizations().Get(ctx, o.ID)); got != o {
		t.Errorf("Get = %+v, want %+v", got, o)
	}
	if got := must[db.Organization](t)(s.Organizations().GetBySlug(ctx, "acme")); got.ID != o.ID {
		t.Errorf("GetBySlug = %+v", got)
	}

	name, plan := "Acme Inc", db.PlanPro
	up := must[db.Organization](t)(s.Organizations().Update(ctx, o.ID, db.OrganizationPatch{Name: &name, Plan: &plan}))
	if up.Name != name || up.Plan != plan || up.Slug != "acme" {
		t.Errorf("Update = %+v", up)
	}
	up = must[db.Organization](t)(s.Organizations().Update(ctx, o.ID, db.OrganizationPatch{}))
	if up.Name != name || up.Plan != plan {
		t.Errorf("empty Update changed %+v", up)
	}

	_, err = s.Organizations().Create(ctx, db.NewOrganization{Slug: "acme", Name: "Other"})
	if !errors.Is(err, db.ErrConflict) || db.Constraint(err) != "organizations_slug_key" {
		t.Errorf("duplicate slug: %v (constraint %q), want ErrConflict on organizations_slug_key", err, db.Constraint(err))
	}
	for _, tc := range []struct {
		name string
		org  db.NewOrganization
	}{
		{"bad plan", db.NewOrganization{Slug: "ok", Name: "x", Plan: "platinum"}},
		{"bad slug", db.NewOrganization{Slug: "Not A Slug", Name: "x"}},
		{"empty name", db.NewOrganization{Slug: "ok2", Name: ""}},
	} {
		if _, err := s.Organizations().Create(ctx, tc.org); !errors.Is(err, db.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
	bad := db.Plan("gold")
	if _, err := s.Organizations().Update(ctx, o.ID, db.OrganizationPatch{Plan: &bad}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("Update with a bad plan: %v", err)
	}

	if _, err := s.Organizations().Get(ctx, uuid.New()); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
	if err := s.Organizations().Delete(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Organizations().Get(ctx, o.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := s.Organizations().Delete(ctx, o.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
}

func TestOrgMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	orgs := s.Organizations()
	o := mkOrg(t, s)
	owner, admin, member := mkUser(t, s), mkUser(t, s), mkUser(t, s)

	m := must[db.OrgMembership](t)(orgs.AddMember(ctx, o.ID, owner.ID, db.OrgRoleOwner))
	if m.Email != owner.Email || m.Role != db.OrgRoleOwner || m.OrgID != o.ID {
		t.Errorf("AddMember = %+v", m)
	}
	must[db.OrgMembership](t)(orgs.AddMember(ctx, o.ID, admin.ID, db.OrgRoleAdmin))
	must[db.OrgMembership](t)(orgs.AddMember(ctx, o.ID, member.ID, db.OrgRoleMember))

	if _, err := orgs.AddMember(ctx, o.ID, member.ID, db.OrgRoleAdmin); !errors.Is(err, db.ErrConflict) {
		t.Errorf("AddMember twice: %v", err)
	}
	if _, err := orgs.AddMember(ctx, o.ID, uuid.New(), db.OrgRoleMember); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("AddMember of an unknown user: %v", err)
	}
	if _, err := orgs.AddMember(ctx, o.ID, member.ID, "boss"); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("AddMember with a bad role: %v", err)
	}

	got := must[db.OrgMembership](t)(orgs.GetMember(ctx, o.ID, admin.ID))
	if got.Role != db.OrgRoleAdmin || got.Name != admin.Name {
		t.Errorf("GetMember = %+v", got)
	}
	if _, err := orgs.GetMember(ctx, mkOrg(t, s).ID, admin.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("GetMember in another org: %v", err)
	}

	page := must[db.Page[db.OrgMembership]](t)(orgs.ListMembers(ctx, o.ID, "", 0))
	if len(page.Items) != 3 || page.Next != "" {
		t.Fatalf("ListMembers = %+v", page)
	}
	for i := 1; i < len(page.Items); i++ {
		if page.Items[i-1].Email >= page.Items[i].Email {
			t.Errorf("ListMembers not by email: %v", page.Items)
		}
	}
	if n := must[int](t)(orgs.CountMembers(ctx, o.ID)); n != 3 {
		t.Errorf("CountMembers = %d", n)
	}
	if n := must[int](t)(orgs.CountOwners(ctx, o.ID)); n != 1 {
		t.Errorf("CountOwners = %d", n)
	}

	// The only owner can be neither demoted nor removed.
	if _, err := orgs.UpdateMemberRole(ctx, o.ID, owner.ID, db.OrgRoleAdmin); !errors.Is(err, db.ErrLastOwner) || !errors.Is(err, db.ErrConflict) {
		t.Errorf("demote last owner: %v", err)
	}
	if err := orgs.RemoveMember(ctx, o.ID, owner.ID); !errors.Is(err, db.ErrLastOwner) {
		t.Errorf("remove last owner: %v", err)
	}
	// With a second owner, the first can go.
	m = must[db.OrgMembership](t)(orgs.UpdateMemberRole(ctx, o.ID, admin.ID, db.OrgRoleOwner))
	if m.Role != db.OrgRoleOwner {
		t.Errorf("UpdateMemberRole = %+v", m)
	}
	if err := orgs.RemoveMember(ctx, o.ID, owner.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := orgs.GetMember(ctx, o.ID, owner.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("GetMember after RemoveMember: %v", err)
	}
	if err := orgs.RemoveMember(ctx, o.ID, owner.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("RemoveMember twice: %v", err)
	}
	if _, err := orgs.UpdateMemberRole(ctx, o.ID, owner.ID, db.OrgRoleAdmin); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("UpdateMemberRole of a non-member: %v", err)
	}
	// Members other than owners come and go freely.
	if err := orgs.RemoveMember(ctx, o.ID, member.ID); err != nil {
		t.Fatal(err)
	}

	// ListForUser: the orgs of a user, with the role.
	o2 := mkOrg(t, s)
	must[db.OrgMembership](t)(orgs.AddMember(ctx, o2.ID, admin.ID, db.OrgRoleMember))
	mine := must[db.Page[db.UserOrganization]](t)(orgs.ListForUser(ctx, admin.ID, "", 0))
	roles := map[uuid.UUID]db.OrgRole{}
	for _, uo := range mine.Items {
		roles[uo.ID] = uo.Role
	}
	if len(roles) != 2 || roles[o.ID] != db.OrgRoleOwner || roles[o2.ID] != db.OrgRoleMember {
		t.Errorf("ListForUser = %+v", mine.Items)
	}
}

// Two owners removing each other at once: one succeeds, the other gets
// ErrLastOwner, and the organization keeps an owner.
func TestOrgOwnersRemovingEachOther(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	a, b := mkUser(t, s), mkUser(t, s)
	for _, u := range []db.User{a, b} {
		must[db.OrgMembership](t)(s.Organizations().AddMember(ctx, o.ID, u.ID, db.OrgRoleOwner))
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []db.User{a, b} {
		wg.Go(func() { errs[i] = s.Organizations().RemoveMember(ctx, o.ID, u.ID) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, db.ErrLastOwner):
			t.Errorf("RemoveMember: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d removals succeeded, want 1 (%v)", ok, errs)
	}
	if n := must[int](t)(s.Organizations().CountOwners(ctx, o.ID)); n != 1 {
		t.Errorf("%d owners left, want 1", n)
	}
}

func TestOrgMembersPagination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)
	want := map[uuid.UUID]bool{}
	for range 23 {
		u := mkUser(t, s)
		must[db.OrgMembership](t)(s.Organizations().AddMember(ctx, o.ID, u.ID, db.OrgRoleMember))
		want[u.ID] = true
	}
	seen := map[uuid.UUID]bool{}
	after, pages := "", 0
	for {
		p := must[db.Page[db.OrgMembership]](t)(s.Organizations().ListMembers(ctx, o.ID, after, 5))
		pages++
		for _, m := range p.Items {
			if seen[m.UserID] {
				t.Fatalf("member %s on two pages", m.Email)
			}
			seen[m.UserID] = true
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if len(seen) != len(want) || pages != 5 {
		t.Errorf("saw %d members in %d pages, want %d in 5", len(seen), pages, len(want))
	}
}
