package db_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/buildit-ci/buildit/db"
)

func TestSignup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)

	u, o, err := s.Signup(ctx, db.Signup{
		User:          db.NewUser{Email: "founder@example.com", Name: "Founder", PasswordHash: "h"},
		Organization:  db.NewOrganization{Slug: "startup", Name: "Startup"},
		OAuthProvider: "github", OAuthSubject: "42",
		IP: netip.MustParseAddr("2001:db8::1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	m := must[db.OrgMembership](t)(s.Organizations().GetMember(ctx, o.ID, u.ID))
	if m.Role != db.OrgRoleOwner {
		t.Errorf("signup membership = %+v", m)
	}
	if got := must[db.User](t)(s.Users().GetByIdentity(ctx, "github", "42")); got.ID != u.ID {
		t.Errorf("signup identity -> %+v", got)
	}
	log := must[db.Page[db.AuditEntry]](t)(s.Audit().List(ctx, o.ID, db.AuditFilter{}, "", 0))
	if len(log.Items) != 1 || log.Items[0].Action != "user.signup" || *log.Items[0].ActorUserID != u.ID || log.Items[0].IP.String() != "2001:db8::1" {
		t.Errorf("signup audit = %+v", log.Items)
	}

	// A taken slug leaves no user behind; a taken email no organization.
	_, _, err = s.Signup(ctx, db.Signup{
		User:         db.NewUser{Email: "second@example.com", Name: "Second"},
		Organization: db.NewOrganization{Slug: "startup", Name: "Copycat"},
	})
	if !errors.Is(err, db.ErrConflict) || db.Constraint(err) != "organizations_slug_key" {
		t.Errorf("signup with a taken slug: %v", err)
	}
	if _, err := s.Users().GetByEmail(ctx, "second@example.com"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("failed signup left its user: %v", err)
	}
	_, _, err = s.Signup(ctx, db.Signup{
		User:         db.NewUser{Email: "FOUNDER@example.com", Name: "Again"},
		Organization: db.NewOrganization{Slug: "another", Name: "Another"},
	})
	if !errors.Is(err, db.ErrConflict) || db.Constraint(err) != "users_email_key" {
		t.Errorf("signup with a taken email: %v", err)
	}
	if _, err := s.Organizations().GetBySlug(ctx, "another"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("failed signup left its organization: %v", err)
	}
}

func TestInTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	o := mkOrg(t, s)

	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Tenants().Create(ctx, o.ID, db.NewTenant{Slug: "rolled-back", Name: "x"}); err != nil {
			return err
		}
		// Reads in the transaction see its writes.
		if _, err := tx.Tenants().Get(ctx, o.ID, "rolled-back"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want fn's error", err)
	}
	if _, err := s.Tenants().Get(ctx, o.ID, "rolled-back"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("rolled back tenant exists: %v", err)
	}

	err = s.InTx(ctx, func(tx *db.Tx) error {
		tn, err := tx.Tenants().Create(ctx, o.ID, db.NewTenant{Slug: "committed", Name: "x"})
		if err != nil {
			return err
		}
		// A repository method that needs several statements runs in a
		// savepoint of the transaction.
		svc, err := tx.Deployments().PutService(ctx, tn.ID, "api", nil)
		if err != nil {
			return err
		}
		env, err := tx.Deployments().PutEnvironment(ctx, tn.ID, "prod", db.Protection{})
		if err != nil {
			return err
		}
		_, err = tx.Deployments().Create(ctx, tn.ID, db.NewDeployment{ServiceID: svc.ID, EnvironmentID: env.ID, Image: "api:1"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tn := must[db.Tenant](t)(s.Tenants().Get(ctx, o.ID, "committed"))
	if p := must[db.Page[db.Deployment]](t)(s.Deployments().List(ctx, tn.ID, "", 0)); len(p.Items) != 1 {
		t.Errorf("deployments after commit = %d", len(p.Items))
	}

	// A failed statement inside a savepoint does not poison the
	// transaction: the caller may handle the error and go on.
	err = s.InTx(ctx, func(tx *db.Tx) error {
		if err := tx.Organizations().RemoveMember(ctx, o.ID, mkUser(t, s).ID); !errors.Is(err, db.ErrNotFound) {
			return err
		}
		_, err := tx.Tenants().Create(ctx, o.ID, db.NewTenant{Slug: "after-error", Name: "x"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
