package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/dbtest"
)

func TestMigrateFromEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.EmptyPool(t)

	current, want, err := db.SchemaVersion(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if current != 0 || want < 4 {
		t.Fatalf("empty database: SchemaVersion = %d, %d; want 0, >= 4", current, want)
	}
	// SchemaVersion only reads: goose's table is still absent.
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('goose_db_version') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("SchemaVersion created the version table (exists=%v, err=%v)", exists, err)
	}
	if err := db.CheckSchema(ctx, pool); !errors.Is(err, db.ErrSchemaOutdated) {
		t.Fatalf("CheckSchema on an empty database = %v, want ErrSchemaOutdated", err)
	}

	if err := db.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	current, want2, err := db.SchemaVersion(ctx, pool)
	if err != nil || current != want || want2 != want {
		t.Fatalf("after Migrate: SchemaVersion = %d, %d, %v; want %d, %d", current, want2, err, want, want)
	}
	if err := db.CheckSchema(ctx, pool); err != nil {
		t.Fatalf("CheckSchema after Migrate: %v", err)
	}
	if err := db.Migrate(ctx, pool); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}

	// The schema works: a Store on it can write and read.
	s := db.NewStore(pool, nil)
	o, err := s.Organizations().Create(ctx, db.NewOrganization{Slug: "acme", Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Organizations().GetBySlug(ctx, "acme"); err != nil || got.ID != o.ID {
		t.Fatalf("GetBySlug = %+v, %v", got, err)
	}
}

func TestCheckSchemaOlderDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.EmptyPool(t)
	_, want, err := db.SchemaVersion(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateTo(ctx, pool, want-1); err != nil {
		t.Fatal(err)
	}
	// Migration numbers may have gaps (they are handed out in advance):
	// the version reached is the last one before want.
	if current, _, _ := db.SchemaVersion(ctx, pool); current >= want || current < want-3 {
		t.Fatalf("after MigrateTo(%d): version %d", want-1, current)
	}

	err = db.CheckSchema(ctx, pool)
	if !errors.Is(err, db.ErrSchemaOutdated) {
		t.Fatalf("CheckSchema = %v, want ErrSchemaOutdated", err)
	}
	if !strings.Contains(err.Error(), "run `buildit migrate`") {
		t.Errorf("CheckSchema's message does not tell what to do: %v", err)
	}

	if err := db.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckSchema(ctx, pool); err != nil {
		t.Fatalf("CheckSchema after Migrate: %v", err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.EmptyPool(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- db.Migrate(ctx, pool) }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CheckSchema(ctx, pool); err != nil {
		t.Fatal(err)
	}
}
