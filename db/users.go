package db

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
)

// User is a person who signs in, with a password, through OAuth, or both.
// The password hash is not part of it: only Credentials returns that.
type User struct {
	ID    uuid.UUID
	Email string
	Name  string
	// HasPassword is false for a user who signs in only through OAuth.
	HasPassword bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NewUser is what Create needs. An empty PasswordHash makes a user who signs
// in only through OAuth.
type NewUser struct {
	Email        string
	Name         string
	PasswordHash string
}

// UserPatch changes the fields that are not nil.
type UserPatch struct {
	Name         *string
	PasswordHash *string
}

// UserRepo holds users and their OAuth identities.
type UserRepo struct{ h handle }

// CanonicalEmail returns the form in which emails are compared: NFKC (so
// full-width letters are plain ones), then full Unicode case folding (so
// "ß" is "ss"), then NFKC again. It is the Go twin of the database's
// buildit_email_canonical, which the unique index and the lookups use; a
// test keeps the two equal.
func CanonicalEmail(email string) string {
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(email)))
}

// Create creates a user. An email taken in any spelling (see
// CanonicalEmail) is an ErrConflict (constraint users_email_key).
func (r UserRepo) Create(ctx context.Context, u NewUser) (User, error) {
	row, err := r.h.q.CreateUser(ctx, sqlcdb.CreateUserParams{Email: u.Email, Name: u.Name, PasswordHash: nonEmpty(u.PasswordHash)})
	return toUser(row), wrap(err, "create user")
}

// createForSignup is Create, except that a taken email is no error: it
// returns the account that has the email (locked until the transaction
// ends) and created=false, after the same work as a creation.
func (r UserRepo) createForSignup(ctx context.Context, u NewUser) (user User, created bool, err error) {
	id := uuid.New()
	row, err := r.h.q.CreateUserForSignup(ctx, sqlcdb.CreateUserForSignupParams{ID: id, Email: u.Email, Name: u.Name, PasswordHash: nonEmpty(u.PasswordHash)})
	if err != nil {
		return User{}, false, wrap(err, "create user")
	}
	return toUser(row), row.ID == id, nil
}

// Get returns the user with id.
func (r UserRepo) Get(ctx context.Context, id uuid.UUID) (User, error) {
	row, err := r.h.q.GetUser(ctx, id)
	return toUser(row), wrap(err, "get user %s", id)
}

// GetByEmail returns the user with email, in any spelling (see
// CanonicalEmail).
func (r UserRepo) GetByEmail(ctx context.Context, email string) (User, error) {
	row, err := r.h.q.GetUserByEmail(ctx, email)
	return toUser(row), wrap(err, "get user by email")
}

// Credentials returns the user with email (in any spelling) and their
// password hash, for login. The hash is empty for a user who signs in only through OAuth.
func (r UserRepo) Credentials(ctx context.Context, email string) (User, string, error) {
	row, err := r.h.q.GetUserByEmail(ctx, email)
	if err != nil {
		return User{}, "", wrap(err, "get credentials")
	}
	var hash string
	if row.PasswordHash != nil {
		hash = *row.PasswordHash
	}
	return toUser(row), hash, nil
}

// Update changes a user's name or password hash.
func (r UserRepo) Update(ctx context.Context, id uuid.UUID, p UserPatch) (User, error) {
	row, err := r.h.q.UpdateUser(ctx, sqlcdb.UpdateUserParams{ID: id, Name: p.Name, PasswordHash: p.PasswordHash})
	return toUser(row), wrap(err, "update user %s", id)
}

// Delete deletes a user with their memberships, sessions and identities.
// The only owner of an organization cannot go (ErrLastOwner): the
// organization, or another owner, must come first.
func (r UserRepo) Delete(ctx context.Context, id uuid.UUID) error {
	err := r.h.atomic(ctx, func(h handle) error {
		owned, err := h.q.LockOrganizationsOwnedBy(ctx, id)
		if err != nil {
			return err
		}
		for _, o := range owned {
			if !o.HasOtherOwner {
				return fmt.Errorf("%w (organization %s)", ErrLastOwner, o.ID)
			}
		}
		return affected(h.q.DeleteUser(ctx, id))
	})
	return wrap(err, "delete user %s", id)
}

// LinkIdentity records that the OAuth provider's subject is userID. A
// subject already linked (to anyone) is an ErrConflict.
func (r UserRepo) LinkIdentity(ctx context.Context, userID uuid.UUID, provider, subject string) error {
	err := r.h.q.LinkOAuthIdentity(ctx, sqlcdb.LinkOAuthIdentityParams{UserID: userID, Provider: provider, Subject: subject})
	return wrap(err, "link %s identity to user %s", provider, userID)
}

// GetByIdentity returns the user linked to the OAuth provider's subject.
func (r UserRepo) GetByIdentity(ctx context.Context, provider, subject string) (User, error) {
	row, err := r.h.q.GetUserByOAuthIdentity(ctx, sqlcdb.GetUserByOAuthIdentityParams{Provider: provider, Subject: subject})
	return toUser(row), wrap(err, "get user by %s identity", provider)
}

func toUser(row sqlcdb.User) User {
	return User{
		ID:          row.ID,
		Email:       row.Email,
		Name:        row.Name,
		HasPassword: row.PasswordHash != nil,
		CreatedAt:   row.CreatedAt,
		UpdatedAt:   row.UpdatedAt,
	}
}

// nonEmpty maps "" to NULL.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
