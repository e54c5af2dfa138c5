package db

import (
	"context"
	"errors"
	"net/netip"
)

// Signup is what a new account needs: the user and their first
// organization.
type Signup struct {
	User         NewUser
	Organization NewOrganization
	// OAuthProvider and OAuthSubject, when set, link an OAuth identity to
	// the new user.
	OAuthProvider string
	OAuthSubject  string
	// IP is the client's address, for the audit entry.
	IP netip.Addr
}

// Signup creates a user, an organization with the user as its owner, and
// an audit entry ("user.signup"), in one transaction: a taken email or slug
// leaves nothing behind and is an ErrConflict (see Constraint for which).
//
// A taken email costs the same work as a new one, so that the time of the
// answer does not tell whether an account exists: the same statements run
// (the account that has the email stands in for the new user: it is made
// the owner of the new organization, and the audit entry written) and the
// transaction is rolled back at the end. The slug is checked first, as
// slugs are public anyway.
func (s *Store) Signup(ctx context.Context, in Signup) (User, Organization, error) {
	var (
		u     User
		o     Organization
		taken bool
	)
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		if o, err = tx.Organizations().Create(ctx, in.Organization); err != nil {
			return err
		}
		var created bool
		if u, created, err = tx.Users().createForSignup(ctx, in.User); err != nil {
			return err
		}
		taken = !created
		if in.OAuthProvider != "" {
			if err := tx.Users().LinkIdentity(ctx, u.ID, in.OAuthProvider, in.OAuthSubject); err != nil {
				return err
			}
		}
		if _, err := tx.Organizations().AddMember(ctx, o.ID, u.ID, OrgRoleOwner); err != nil {
			return err
		}
		_, err = tx.Audit().Insert(ctx, AuditEntry{
			OrgID:       o.ID,
			ActorUserID: &u.ID,
			Action:      "user.signup",
			TargetType:  "user",
			TargetID:    u.ID.String(),
			IP:          in.IP,
		})
		if err == nil && taken {
			return errEmailTaken
		}
		return err
	})
	if err != nil {
		return User{}, Organization{}, err
	}
	return u, o, nil
}

// errEmailTaken rolls back a signup whose email has an account already.
var errEmailTaken = &constraintError{kind: ErrConflict, constraint: "users_email_key", err: errors.New("signup: the email has an account")}
