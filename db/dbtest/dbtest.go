// Package dbtest gives each test a Postgres database of its own, fully
// migrated, so that tests run in parallel without seeing each other's rows.
//
// The server is the one BUILDIT_TEST_DATABASE_URL names (its user needs the
// CREATEDB privilege), or else a throwaway cluster this package starts once
// per test binary from the machine's PostgreSQL binaries (Debian's
// postgresql package), in a temporary folder, listening only on a Unix
// socket there, tuned for speed over durability. Either way, a database is
// migrated once as a template and each test gets a copy (CREATE DATABASE …
// TEMPLATE), dropped when the test ends.
//
// A package's TestMain should call Main, which stops the cluster when the
// tests are done. Without it the cluster still dies with the test binary
// (the kernel signals it when its parent exits) and the next run removes its
// folder.
//
// When no Postgres can be had, tests that ask for one are skipped, or fail
// when BUILDIT_REQUIRE_DB=1.
//
// On a BUILDIT_TEST_DATABASE_URL server, a test binary that is killed leaves
// its databases behind; they are named buildit_test_*.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/buildit-ci/buildit/db"
)

// The environment variables this package reads.
const (
	// URLEnv names a Postgres server to use instead of a throwaway
	// cluster, as a connection URL or DSN.
	URLEnv = "BUILDIT_TEST_DATABASE_URL"
	// RequireEnv, set to 1, turns "no Postgres" from a skip into a
	// failure, for CI.
	RequireEnv = "BUILDIT_REQUIRE_DB"
)

// poolMaxConns bounds each test's pool: tests run GOMAXPROCS at a time, and
// the throwaway cluster allows 200 connections in all.
const poolMaxConns = 8

// server is the Postgres every test of this binary uses.
type server struct {
	admin    *pgxpool.Pool   // on the server's maintenance database
	cfg      *pgxpool.Config // where admin connects; copied per database
	prefix   string          // of every database this binary creates
	template string          // the migrated template
	seq      atomic.Int64
	cluster  *cluster // nil when the server is BUILDIT_TEST_DATABASE_URL's
}

var (
	mu     sync.Mutex
	srv    *server
	srvErr error
)

// Main runs the tests and then stops the throwaway cluster, if one was
// started; call it from TestMain:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop drops the template database and stops the throwaway cluster. Main
// calls it; later calls to Pool start a new server.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if srv == nil {
		return
	}
	s := srv
	srv, srvErr = nil, nil
	if s.cluster == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(s.template)+" WITH (FORCE)")
	}
	s.admin.Close()
	if s.cluster != nil {
		s.cluster.stop()
	}
}

// Pool returns a pool on a new database with every migration applied,
// dropped when t ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return newDatabase(t, true)
}

// EmptyPool returns a pool on a new database with no migration applied, for
// tests of migrations; it is dropped when t ends.
func EmptyPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return newDatabase(t, false)
}

func newDatabase(t testing.TB, migrated bool) *pgxpool.Pool {
	t.Helper()
	s, err := get()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("no Postgres for tests (%s=1): %v", RequireEnv, err)
		}
		t.Skipf("no Postgres for tests: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	name := fmt.Sprintf("%s_%d", s.prefix, s.seq.Add(1))
	template := "template0"
	if migrated {
		template = s.template
	}
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template)); err != nil {
		t.Fatalf("dbtest: create database: %v", err)
	}
	cfg := s.cfg.Copy()
	cfg.ConnConfig.Database = name
	cfg.MaxConns = poolMaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("dbtest: connect to %s: %v", name, err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Logf("dbtest: drop database %s: %v", name, err)
		}
	})
	return pool
}

// get returns the server, starting it on the first call.
func get() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if srv == nil && srvErr == nil {
		srv, srvErr = start()
	}
	return srv, srvErr
}

func start() (*server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	s := &server{}
	connString := os.Getenv(URLEnv)
	if connString == "" {
		c, err := startCluster(ctx)
		if err != nil {
			return nil, err
		}
		s.cluster, connString = c, c.connString()
		s.prefix = "test"
	} else {
		// Several test binaries (go test ./...) share the server: each
		// names its databases apart.
		s.prefix = "buildit_test_" + randomHex(4)
	}
	s.template = s.prefix + "_template"

	var err error
	if s.cfg, err = pgxpool.ParseConfig(connString); err != nil {
		s.stopCluster()
		return nil, fmt.Errorf("%s: %w", URLEnv, err)
	}
	s.cfg.MaxConns = 4
	if s.admin, err = pgxpool.NewWithConfig(ctx, s.cfg); err != nil {
		s.stopCluster()
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := s.makeTemplate(ctx); err != nil {
		s.admin.Close()
		s.stopCluster()
		return nil, err
	}
	return s, nil
}

// makeTemplate creates the template database and migrates it; the pool on
// it is closed before any test copies it, as CREATE DATABASE … TEMPLATE
// requires.
func (s *server) makeTemplate(ctx context.Context) error {
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+ident(s.template)); err != nil {
		return fmt.Errorf("create template database: %w", err)
	}
	cfg := s.cfg.Copy()
	cfg.ConnConfig.Database = s.template
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to template database: %w", err)
	}
	defer pool.Close()
	if err := db.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("template database: %w", err)
	}
	return nil
}

func (s *server) stopCluster() {
	if s.cluster != nil {
		s.cluster.stop()
	}
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// URL returns a connection string for pool's database, for code that
// connects by itself (the CLI's --database-url). A pool's own ConnString
// names the database it was configured from, not the test's.
func URL(pool *pgxpool.Pool) string {
	c := pool.Config().ConnConfig
	s := fmt.Sprintf("host=%s port=%d user=%s dbname=%s", quoteDSN(c.Host), c.Port, quoteDSN(c.User), quoteDSN(c.Database))
	if c.Password != "" {
		s += " password=" + quoteDSN(c.Password)
	}
	if c.TLSConfig == nil {
		s += " sslmode=disable"
	}
	return s
}

func quoteDSN(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
