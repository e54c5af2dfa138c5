package db_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/dbtest"
	"github.com/buildit-ci/buildit/db/secretbox"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// testKey is the secret key of the tests' stores.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// setup returns a Store on a fresh migrated database of the test's own.
func setup(t testing.TB) *db.Store {
	t.Helper()
	box, err := secretbox.New(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return db.NewStore(dbtest.Pool(t), box)
}

var seq atomic.Int64

// unique returns a name no other call in this binary returns.
func unique(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

func mkUser(t testing.TB, s *db.Store) db.User {
	t.Helper()
	u, err := s.Users().Create(context.Background(), db.NewUser{Email: unique("user") + "@example.com", Name: "Test User", PasswordHash: "hash"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mkOrg(t testing.TB, s *db.Store) db.Organization {
	t.Helper()
	o, err := s.Organizations().Create(context.Background(), db.NewOrganization{Slug: unique("org"), Name: "Test Org"})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mkTenant(t testing.TB, s *db.Store, orgID uuid.UUID) db.Tenant {
	t.Helper()
	tn, err := s.Tenants().Create(context.Background(), orgID, db.NewTenant{Slug: unique("tenant"), Name: "Test Tenant"})
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func mkPipeline(t testing.TB, s *db.Store, tenantID uuid.UUID, name string) db.Pipeline {
	t.Helper()
	p, err := s.Pipelines().Create(context.Background(), tenantID, db.PipelineSpec{Name: name, Source: `pipeline "` + name + `"`})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// must fails the test on err and returns v.
func must[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
