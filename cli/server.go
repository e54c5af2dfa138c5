package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/buildit-ci/buildit/api"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/secretbox"
)

// env returns the environment variable name's value, or fallback.
func env(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return fallback
}

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

func newMigrateCommand(a *app) *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to date",
		Long: `Migrate applies the schema migrations the database does not have yet (they
are built into the binary). Run it before starting a new version of
buildit server; it is safe to run when there is nothing to do.`,
		Example: `  DATABASE_URL=postgres://buildit:buildit@localhost:5432/buildit buildit migrate`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := openDB(cmd.Context(), url)
			if err != nil {
				return err
			}
			defer pool.Close()
			before, want, err := db.SchemaVersion(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if err := db.Migrate(cmd.Context(), pool); err != nil {
				return err
			}
			if before == want {
				fmt.Fprintf(a.stdout, "schema is up to date (version %d)\n", want)
			} else {
				fmt.Fprintf(a.stdout, "schema migrated from version %d to %d\n", before, want)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "database-url", env("DATABASE_URL", ""), "Postgres URL (env DATABASE_URL)")
	return cmd
}

type serverFlags struct {
	addr, url, secretKey, proxies string
	temporalAddress, namespace    string
	secureCookies                 bool
}

func newServerCommand(a *app) *cobra.Command {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Serve the BuildIt REST API",
		Long: `Server serves the REST API under /api/v1 (OpenAPI description at
/api/v1/openapi.json), with /healthz (the process is up) and /readyz (Postgres
answers and its schema is current). Every flag can also be set by the
environment variable named in its help. It refuses to start on a database
whose schema is older than it needs: run buildit migrate first.

SIGINT or SIGTERM stops it gracefully: new connections are refused and
requests in flight get 15 seconds to finish.`,
		Example: `  export DATABASE_URL=postgres://buildit:buildit@localhost:5432/buildit
  export BUILDIT_SECRET_KEY=$(head -c 32 /dev/urandom | base64)
  buildit migrate && buildit server --addr 127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", env("BUILDIT_ADDR", "127.0.0.1:8080"), "listen on `HOST:PORT` (env BUILDIT_ADDR)")
	fl.StringVar(&f.url, "database-url", env("DATABASE_URL", ""), "Postgres URL (env DATABASE_URL)")
	fl.StringVar(&f.secretKey, "secret-key", "", "32-byte key sealing tenant secrets, hex or base64 (env BUILDIT_SECRET_KEY; prefer the environment)")
	fl.BoolVar(&f.secureCookies, "secure-cookies", env("BUILDIT_SECURE_COOKIES", "") == "true", "mark the session cookie Secure: on behind HTTPS (env BUILDIT_SECURE_COOKIES=true)")
	fl.StringVar(&f.temporalAddress, "temporal-address", env("BUILDIT_TEMPORAL_ADDRESS", ""), "Temporal frontend `HOST:PORT`, reported by /readyz (env BUILDIT_TEMPORAL_ADDRESS)")
	fl.StringVar(&f.namespace, "namespace", env("BUILDIT_NAMESPACE", "default"), "Temporal namespace (env BUILDIT_NAMESPACE)")
	fl.StringVar(&f.proxies, "trusted-proxies", env("BUILDIT_TRUSTED_PROXIES", ""), "comma-separated proxy addresses whose X-Forwarded-For is believed (env BUILDIT_TRUSTED_PROXIES)")
	return cmd
}

func (a *app) serve(ctx context.Context, f *serverFlags) error {
	// The server logs every request: at info level, unlike the CLI's
	// commands, and as JSON for log shippers.
	level := slog.LevelInfo
	if a.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	key := f.secretKey
	if key == "" {
		key = os.Getenv("BUILDIT_SECRET_KEY")
	}
	var box *secretbox.Box
	if key != "" {
		k, err := secretbox.ParseKey(key)
		if err != nil {
			return usageError(fmt.Errorf("BUILDIT_SECRET_KEY: %w", err))
		}
		if box, err = secretbox.New(k); err != nil {
			return usageError(err)
		}
	} else {
		log.Warn("no BUILDIT_SECRET_KEY: tenant secrets cannot be stored or read")
	}
	pool, err := openDB(ctx, f.url)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := db.CheckSchema(ctx, pool); err != nil {
		return err
	}
	var proxies []string
	if f.proxies != "" {
		proxies = strings.Split(f.proxies, ",")
	}
	var checks []api.ReadinessCheck
	if f.temporalAddress != "" {
		// Lazy: the API serves while Temporal is still starting; /readyz
		// says so.
		tc, err := client.NewLazyClient(client.Options{HostPort: f.temporalAddress, Namespace: f.namespace, Logger: tlog.NewStructuredLogger(log)})
		if err != nil {
			return usageError(fmt.Errorf("temporal address: %w", err))
		}
		defer tc.Close()
		checks = append(checks, api.ReadinessCheck{Name: "temporal", Check: func(ctx context.Context) error {
			_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		}})
	}
	srv, err := api.New(db.NewStore(pool, box), log, api.Config{SecureCookies: f.secureCookies, TrustedProxies: proxies}, checks...)
	if err != nil {
		return usageError(err)
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return usageError(fmt.Errorf("listen on %s: %w", f.addr, err))
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String())
	fmt.Fprintf(a.stderr, "buildit: serving the API at http://%s/api/v1\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-sctx.Done():
	}
	log.Info("shutting down")
	shctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(shctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
