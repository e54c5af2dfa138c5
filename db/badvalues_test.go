package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/buildit-ci/buildit/db"
)

// Values Postgres cannot store or index (a NUL in text, \u0000 in jsonb, a
// key too large for a btree index) are ErrInvalid at the store's boundary,
// never an error the API would answer with a 500.
func TestSecurityDataExceptionsAreInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := setup(t)
	org := mkOrg(t, s)
	user := mkUser(t, s)
	for name, err := range map[string]error{
		"NUL in a lookup":      second(s.Organizations().GetBySlug(ctx, "acme\x00")),
		"bad UTF-8 in lookup":  second(s.Users().GetByEmail(ctx, "ann\xff@acme.test")),
		"NUL in an insert":     second(s.Tenants().Create(ctx, org.ID, db.NewTenant{Slug: "t1", Name: "a\x00b"})),
		"NUL in jsonb":         second(s.Audit().Insert(ctx, db.AuditEntry{OrgID: org.ID, ActorUserID: &user.ID, Action: "x", Metadata: map[string]any{"k": "a\x00b"}})),
		"NUL in a secret name": second(s.Tenants().GetSecret(ctx, mkTenant(t, s, org.ID).ID, "A\x00")),
	} {
		if !errors.Is(err, db.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }
