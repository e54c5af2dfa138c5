package db

import (
	"context"
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
func (s *Store) Signup(ctx context.Context, in Signup) (User, Organization, error) {
	var (
		u User
		o Organization
	)
	err := s.InTx(ctx, func(tx *Tx) error {
		var err error
		if u, err = tx.Users().Create(ctx, in.User); err != nil {
			return err
		}
		if in.OAuthProvider != "" {
			if err := tx.Users().LinkIdentity(ctx, u.ID, in.OAuthProvider, in.OAuthSubject); err != nil {
				return err
			}
		}
		if o, err = tx.Organizations().Create(ctx, in.Organization); err != nil {
			return err
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
		return err
	})
	if err != nil {
		return User{}, Organization{}, err
	}
	return u, o, nil
}
