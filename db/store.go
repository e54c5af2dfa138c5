// Package db is BuildIt's data layer on Postgres: the schema (goose
// migrations in migrations/), the queries (sqlc, generated into
// internal/sqlcdb) and the repositories the API and the engine use.
//
// Repositories take explicit ids and return the domain types of this package;
// sqlc's row types never leave it. Every query on a tenant's data filters on
// tenant_id, so one tenant's id never reaches another tenant's rows. Errors
// are translated once, here: callers test them with errors.Is against
// ErrNotFound, ErrConflict and ErrInvalid.
//
// A Store's repositories run on the pool, each method atomically (those
// that take several statements use a transaction of their own); InTx runs
// a function in one transaction, with the same repositories on a Tx.
package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/buildit-ci/buildit/db/internal/sqlcdb"
	"github.com/buildit-ci/buildit/db/secretbox"
)

// Store is the entry point to the data layer. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	h    handle
}

// NewStore returns a Store on pool. box seals and opens tenant secrets; with
// a nil box the secret methods fail with ErrNoSecretKey and everything else
// works.
func NewStore(pool *pgxpool.Pool, box *secretbox.Box) *Store {
	return &Store{pool: pool, h: newHandle(pool, box)}
}

// Pool returns the pool the Store runs on.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Tx is a transaction in progress, with the Store's repositories bound to it.
// It is valid only inside the function given to InTx.
type Tx struct {
	h handle
}

// maxTxAttempts bounds how often InTx runs its function when Postgres
// aborts the transaction for a serialization failure or a deadlock.
const maxTxAttempts = 3

// InTx runs fn in a transaction, committing when fn returns nil and rolling
// back otherwise; fn's error is returned as it is. When Postgres aborts the
// transaction for a serialization failure or a deadlock, fn runs again (up to
// three times in all), so fn must not have effects outside the database.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = pgx.BeginFunc(ctx, s.pool, func(ptx pgx.Tx) error {
			return fn(&Tx{h: newHandle(ptx, s.h.box)})
		})
		if !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	return err
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// Organizations returns the repository of organizations and their members.
func (s *Store) Organizations() OrganizationRepo { return OrganizationRepo{s.h} }

// Users returns the repository of users and their OAuth identities.
func (s *Store) Users() UserRepo { return UserRepo{s.h} }

// Sessions returns the repository of web sessions.
func (s *Store) Sessions() SessionRepo { return SessionRepo{s.h} }

// APIKeys returns the repository of API keys.
func (s *Store) APIKeys() APIKeyRepo { return APIKeyRepo{s.h} }

// Audit returns the repository of audit log entries.
func (s *Store) Audit() AuditRepo { return AuditRepo{s.h} }

// Tenants returns the repository of tenants, their members and secrets.
func (s *Store) Tenants() TenantRepo { return TenantRepo{s.h} }

// Pipelines returns the repository of pipelines.
func (s *Store) Pipelines() PipelineRepo { return PipelineRepo{s.h} }

// Runs returns the repository of runs and their stage attempts.
func (s *Store) Runs() RunRepo { return RunRepo{s.h} }

// Logs returns the repository of stage attempts' logs.
func (s *Store) Logs() LogRepo { return LogRepo{s.h} }

// Deployments returns the repository of targets, environments, services and
// deployments.
func (s *Store) Deployments() DeploymentRepo { return DeploymentRepo{s.h} }

// Artifacts returns the catalog of artifacts and caches.
func (s *Store) Artifacts() ArtifactRepo { return ArtifactRepo{s.h} }

// Artifacts returns the catalog of artifacts and caches, in this
// transaction.
func (t *Tx) Artifacts() ArtifactRepo { return ArtifactRepo{t.h} }

// Organizations returns the repository of organizations and their members,
// in this transaction.
func (t *Tx) Organizations() OrganizationRepo { return OrganizationRepo{t.h} }

// Users returns the repository of users, in this transaction.
func (t *Tx) Users() UserRepo { return UserRepo{t.h} }

// Sessions returns the repository of web sessions, in this transaction.
func (t *Tx) Sessions() SessionRepo { return SessionRepo{t.h} }

// APIKeys returns the repository of API keys, in this transaction.
func (t *Tx) APIKeys() APIKeyRepo { return APIKeyRepo{t.h} }

// Audit returns the repository of audit log entries, in this transaction.
func (t *Tx) Audit() AuditRepo { return AuditRepo{t.h} }

// Tenants returns the repository of tenants, in this transaction.
func (t *Tx) Tenants() TenantRepo { return TenantRepo{t.h} }

// Pipelines returns the repository of pipelines, in this transaction.
func (t *Tx) Pipelines() PipelineRepo { return PipelineRepo{t.h} }

// Runs returns the repository of runs and their stage attempts, in this
// transaction.
func (t *Tx) Runs() RunRepo { return RunRepo{t.h} }

// Logs returns the repository of stage attempts' logs, in this transaction.
func (t *Tx) Logs() LogRepo { return LogRepo{t.h} }

// Deployments returns the repository of deployments, in this transaction.
func (t *Tx) Deployments() DeploymentRepo { return DeploymentRepo{t.h} }

// conn is what both a pool and a transaction offer: sqlc's DBTX, and Begin
// (a savepoint when already in a transaction).
type conn interface {
	sqlcdb.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// handle is what every repository holds: where its queries run.
type handle struct {
	conn conn
	q    *sqlcdb.Queries
	box  *secretbox.Box
}

func newHandle(c conn, box *secretbox.Box) handle {
	return handle{conn: c, q: sqlcdb.New(c), box: box}
}

// atomic runs fn in a transaction of its own, or in a savepoint when the
// handle is already in one, for a repository method that takes several
// statements.
func (h handle) atomic(ctx context.Context, fn func(h handle) error) error {
	return pgx.BeginFunc(ctx, h.conn, func(tx pgx.Tx) error {
		return fn(newHandle(tx, h.box))
	})
}
