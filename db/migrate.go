package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is goose's record of the migrations applied.
const versionTable = "goose_db_version"

// ErrSchemaOutdated is returned when the database's schema is older than
// this binary needs.
var ErrSchemaOutdated = errors.New("database schema is outdated")

// Migrate applies every migration the database does not have yet. Several
// processes may call it at once: a Postgres advisory lock lets one migrate
// while the others wait.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return withProvider(pool, func(p *goose.Provider) error {
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	})
}

// MigrateTo applies the migrations up to and including version; it never
// goes down. It is for tests of upgrades and for `buildit migrate --to`.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, version int64) error {
	return withProvider(pool, func(p *goose.Provider) error {
		if _, err := p.UpTo(ctx, version); err != nil {
			return fmt.Errorf("migrate to %d: %w", version, err)
		}
		return nil
	})
}

// SchemaVersion returns the version of the database's schema (0 for an empty
// database) and the version this binary's migrations reach. It changes
// nothing in the database.
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool) (current, want int64, err error) {
	want, err = latestVersion()
	if err != nil {
		return 0, 0, err
	}
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", versionTable).Scan(&exists); err != nil {
		return 0, want, fmt.Errorf("schema version: %w", err)
	}
	if !exists {
		return 0, want, nil
	}
	err = pool.QueryRow(ctx,
		"SELECT coalesce(max(version_id), 0) FROM "+versionTable+" WHERE is_applied").Scan(&current)
	if err != nil {
		return 0, want, fmt.Errorf("schema version: %w", err)
	}
	return current, want, nil
}

// CheckSchema returns an error wrapping ErrSchemaOutdated, which tells the
// operator to run `buildit migrate`, when the database's schema is older than
// this binary needs. A newer schema is accepted: migrations only add, so an
// older binary still works during a rolling upgrade.
func CheckSchema(ctx context.Context, pool *pgxpool.Pool) error {
	current, want, err := SchemaVersion(ctx, pool)
	if err != nil {
		return err
	}
	if current < want {
		return fmt.Errorf("%w: the database is at version %d, this binary needs %d; run `buildit migrate`",
			ErrSchemaOutdated, current, want)
	}
	return nil
}

func migrationFS() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded tree always has the folder
	}
	return sub
}

func latestVersion() (int64, error) {
	names, err := fs.Glob(migrationFS(), "*.sql")
	if err != nil || len(names) == 0 {
		return 0, fmt.Errorf("no embedded migrations: %w", err)
	}
	var latest int64
	for _, name := range names {
		v, err := goose.NumericComponent(name)
		if err != nil {
			return 0, fmt.Errorf("migration %s: %w", name, err)
		}
		latest = max(latest, v)
	}
	return latest, nil
}

// withProvider runs fn with a goose provider on the embedded migrations and
// no global state, over a database/sql view of the pool.
func withProvider(pool *pgxpool.Pool, fn func(p *goose.Provider) error) error {
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close() // leaves the pool open
	p, err := newProvider(sqlDB)
	if err != nil {
		return err
	}
	return fn(p)
}

func newProvider(sqlDB *sql.DB) (*goose.Provider, error) {
	// Waiters poll the advisory lock every second, for up to 5 minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrationFS(),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSessionLocker(locker),
	)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}
