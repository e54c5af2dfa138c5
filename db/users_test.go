package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/buildit-ci/buildit/db"
)

func TestUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	users := s.Users()

	u, err := users.Create(ctx, db.NewUser{Email: "Ann.Smith@Example.com", Name: "Ann", PasswordHash: "$argon2id$x"})
	if err != nil {
		t.Fatal(err)
	}
	if !u.HasPassword || u.Email != "Ann.Smith@Example.com" {
		t.Errorf("Create = %+v", u)
	}

	// Emails are unique in any letter case, and found in any.
	for _, email := range []string{"ann.smith@example.com", "ANN.SMITH@EXAMPLE.COM"} {
		_, err := users.Create(ctx, db.NewUser{Email: email, Name: "Impostor"})
		if !errors.Is(err, db.ErrConflict) || db.Constraint(err) != "users_email_key" {
			t.Errorf("Create %s: %v, want ErrConflict on users_email_key", email, err)
		}
		got, err := users.GetByEmail(ctx, email)
		if err != nil || got.ID != u.ID {
			t.Errorf("GetByEmail %s = %+v, %v", email, got, err)
		}
	}
	if _, err := users.Create(ctx, db.NewUser{Email: "not-an-email"}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("Create with a bad email: %v", err)
	}

	got, hash, err := users.Credentials(ctx, "ann.smith@EXAMPLE.com")
	if err != nil || got.ID != u.ID || hash != "$argon2id$x" {
		t.Errorf("Credentials = %+v, %q, %v", got, hash, err)
	}
	if _, _, err := users.Credentials(ctx, "nobody@example.com"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Credentials of nobody: %v", err)
	}

	name, newHash := "Ann S.", "$argon2id$y"
	up := must[db.User](t)(users.Update(ctx, u.ID, db.UserPatch{Name: &name, PasswordHash: &newHash}))
	if up.Name != name {
		t.Errorf("Update = %+v", up)
	}
	if _, hash, _ := users.Credentials(ctx, u.Email); hash != newHash {
		t.Errorf("hash after Update = %q", hash)
	}

	// OAuth: a user without a password, linked to a provider's subject.
	o := must[db.User](t)(users.Create(ctx, db.NewUser{Email: "oauth@example.com", Name: "O"}))
	if o.HasPassword {
		t.Error("user without a password hash HasPassword")
	}
	if _, hash, _ := users.Credentials(ctx, o.Email); hash != "" {
		t.Errorf("Credentials of an OAuth-only user: hash %q", hash)
	}
	if err := users.LinkIdentity(ctx, o.ID, "github", "12345"); err != nil {
		t.Fatal(err)
	}
	if err := users.LinkIdentity(ctx, u.ID, "github", "12345"); !errors.Is(err, db.ErrConflict) {
		t.Errorf("LinkIdentity of a linked subject: %v", err)
	}
	if got, err := users.GetByIdentity(ctx, "github", "12345"); err != nil || got.ID != o.ID {
		t.Errorf("GetByIdentity = %+v, %v", got, err)
	}
	if _, err := users.GetByIdentity(ctx, "gitlab", "12345"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("GetByIdentity of another provider: %v", err)
	}

	// The only owner of an organization cannot be deleted; one of two can.
	org := mkOrg(t, s)
	must[db.OrgMembership](t)(s.Organizations().AddMember(ctx, org.ID, o.ID, db.OrgRoleOwner))
	if err := users.Delete(ctx, o.ID); !errors.Is(err, db.ErrLastOwner) {
		t.Errorf("Delete of an only owner: %v", err)
	}
	must[db.OrgMembership](t)(s.Organizations().AddMember(ctx, org.ID, u.ID, db.OrgRoleOwner))
	if err := users.Delete(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if n := must[int](t)(s.Organizations().CountOwners(ctx, org.ID)); n != 1 {
		t.Errorf("owners after deleting one of two = %d", n)
	}
	if _, err := users.GetByIdentity(ctx, "github", "12345"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("identity outlived its user: %v", err)
	}
	if _, err := users.Get(ctx, o.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
}
