package dbtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/buildit-ci/buildit/db"
)

// Cluster is a Postgres cluster of one test's own, with BuildIt's schema
// migrated in its postgres database, that the test may stop and start again:
// for tests of how code copes with the database going away. It is removed
// when the test ends. Unlike Pool, it always runs the machine's binaries
// (BUILDIT_TEST_DATABASE_URL does not apply).
type Cluster struct {
	t testing.TB
	c *cluster
}

// NewCluster starts a cluster for t; without PostgreSQL binaries the test
// is skipped, or fails when BUILDIT_REQUIRE_DB=1.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := startCluster(ctx)
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("no Postgres for tests (%s=1): %v", RequireEnv, err)
		}
		t.Skipf("no Postgres for tests: %v", err)
	}
	t.Cleanup(c.stop)
	pool, err := pgxpool.New(ctx, c.connString())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool); err != nil {
		t.Fatalf("dbtest: migrate: %v", err)
	}
	return &Cluster{t: t, c: c}
}

// URL is the connection string of the migrated database.
func (c *Cluster) URL() string { return c.c.connString() }

// Stop shuts the cluster down (a fast shutdown: connections are cut, data
// is kept) and waits until it is down.
func (c *Cluster) Stop() { c.c.halt() }

// Start starts the cluster again on its data and waits until it accepts
// connections.
func (c *Cluster) Start() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.c.launch(ctx); err != nil {
		c.t.Fatalf("dbtest: restart: %v", err)
	}
}
