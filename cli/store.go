package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/secretbox"
)

// openDB connects to the database url names.
func openDB(ctx context.Context, url string) (*pgxpool.Pool, error) {
	if url == "" {
		return nil, usageError(errors.New("no database: set DATABASE_URL or pass --database-url (postgres://user:pass@host:5432/db)"))
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, usageError(fmt.Errorf("database URL: %w", err))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to Postgres: %w", err)
	}
	return pool, nil
}

// storeOptions say how server, worker and dev open Postgres.
type storeOptions struct {
	url string
	box *secretbox.Box // nil: tenant secrets cannot be read
	// migrate brings the schema up to date (dev, which owns its
	// database); without it an older schema is refused (server and
	// worker, whose operator runs buildit migrate).
	migrate bool
	// notify listens for new log lines, so that followed logs hear of
	// them at once rather than at their next poll (the API's processes).
	notify bool
}

// openStore is Postgres as a long-running command uses it: the pool, a
// schema it can work with, the store and, when asked, the log notifier.
// Close releases all of it.
type openStore struct {
	pool     *pgxpool.Pool
	store    *db.Store
	notifier *db.LogNotifier // nil unless storeOptions.notify
	stop     context.CancelFunc
}

// open connects, checks (or migrates) the schema and builds the store.
func (o storeOptions) open(ctx context.Context, log *slog.Logger) (*openStore, error) {
	pool, err := openDB(ctx, o.url)
	if err != nil {
		return nil, err
	}
	schema := db.CheckSchema
	if o.migrate {
		schema = db.Migrate
	}
	if err := schema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &openStore{pool: pool, store: db.NewStore(pool, o.box), stop: func() {}}
	if o.notify {
		s.notifier = db.NewLogNotifier(pool, log)
		nctx, stop := context.WithCancel(ctx)
		s.stop = stop
		go s.notifier.Run(nctx)
	}
	return s, nil
}

// Close stops the notifier and closes the pool.
func (s *openStore) Close() {
	s.stop()
	s.pool.Close()
}
