package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/buildit-ci/buildit/api"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/secretbox"
	"github.com/buildit-ci/buildit/retention"
	"github.com/buildit-ci/buildit/runclient"
	"github.com/buildit-ci/buildit/schedules"
	"github.com/buildit-ci/buildit/triggers"
	"github.com/buildit-ci/buildit/workflows"
)

// env returns the environment variable name's value, or fallback.
func env(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return fallback
}

// envBool returns the environment variable name as a boolean (1, t, true,
// 0, f, false…), or false when it is unset or not one.
func envBool(name string) bool {
	b, _ := strconv.ParseBool(os.Getenv(name))
	return b
}

// envDuration returns the environment variable name as a duration, or
// fallback when it is unset or not a duration.
func envDuration(name string, fallback time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return fallback
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
	taskQueue, uiURL, publicURL   string
	hostQueueTimeout              time.Duration
	secureCookies                 bool
	stages                        stageFlags
	oauth                         *oauthFlags
	limits                        limitFlags
	allowHTTPRepositories         bool
	streams                       *streamFlags
	blobs                         blobFlags
	sweepEvery                    time.Duration
}

// stageFlags say where stages without an image run, for buildit server
// and buildit dev: in the default image, on the host (allowed), or not at
// all (refused when a run starts).
type stageFlags struct {
	defaultImage    string
	allowHostStages bool
}

func (f *stageFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.defaultImage, "default-image", env("BUILDIT_DEFAULT_IMAGE", ""), "run stages that name no image (after defaults and templates) in this `IMAGE` (env BUILDIT_DEFAULT_IMAGE); without it, and without --allow-host-stages, runs of pipelines with such stages are refused")
	fl.BoolVar(&f.allowHostStages, "allow-host-stages", envBool("BUILDIT_ALLOW_HOST_STAGES"), "let runs have stages without an image, which then run on a worker's host outside any container (the workers need --allow-host-stages too): only for a single-tenant setup where everyone who can push a pipeline is trusted with the workers (env BUILDIT_ALLOW_HOST_STAGES)")
}

// apply sets them on the runs service, and says at start what they mean.
func (f *stageFlags) apply(svc *runclient.Service, log *slog.Logger) {
	svc.DefaultImage, svc.AllowHostStages = f.defaultImage, f.allowHostStages
	switch {
	case f.defaultImage != "":
		log.Info("stages without an image run in the default image", "image", f.defaultImage)
	case f.allowHostStages:
		log.Warn("--allow-host-stages: stages without an image run on the workers' hosts, outside any container; every pipeline runs commands on a worker's host, so everyone who can push a pipeline must be trusted with it")
	default:
		log.Info("stages run only in containers: runs of pipelines with stages without an image are refused (set --default-image, or --allow-host-stages on a single-tenant server)")
	}
}

func newServerCommand(a *app) *cobra.Command {
	f := &serverFlags{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Serve the BuildIt REST API",
		Long: `Server serves the REST API under /api/v1 (OpenAPI description at
/api/v1/openapi.json), with /healthz (the process is up) and /readyz (Postgres
answers and its schema is current, and Temporal answers when
--temporal-address is set). With --temporal-address, POST .../runs starts
runs there for buildit worker processes to execute. Every flag can also be set by the
environment variable named in its help. It refuses to start on a database
whose schema is older than it needs: run buildit migrate first.

The --max-* flags bound the pipelines tenants push (a pushed pipeline over
one is refused with a 422 that names it); the defaults are those of
buildit validate.

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
	fl.BoolVar(&f.secureCookies, "secure-cookies", env("BUILDIT_SECURE_COOKIES", "") == "true", "mark the session cookie Secure: on behind HTTPS, and implied by an https:// --public-url (env BUILDIT_SECURE_COOKIES=true)")
	fl.StringVar(&f.temporalAddress, "temporal-address", env("BUILDIT_TEMPORAL_ADDRESS", ""), "Temporal frontend `HOST:PORT` where runs start; without it runs can only be read (env BUILDIT_TEMPORAL_ADDRESS)")
	fl.StringVar(&f.namespace, "namespace", env("BUILDIT_NAMESPACE", "default"), "Temporal namespace (env BUILDIT_NAMESPACE)")
	fl.StringVar(&f.taskQueue, "task-queue", env("BUILDIT_TASK_QUEUE", workflows.DefaultTaskQueue), "task queue the workers poll (env BUILDIT_TASK_QUEUE)")
	fl.DurationVar(&f.hostQueueTimeout, "host-queue-timeout", envDuration("BUILDIT_HOST_QUEUE_TIMEOUT", workflows.DefaultHostQueueTimeout), "how long a stage waits for its workspace's host before the run prepares the workspace on another worker (env BUILDIT_HOST_QUEUE_TIMEOUT)")
	fl.StringVar(&f.publicURL, "public-url", env("BUILDIT_PUBLIC_URL", ""), "the server's base URL as forges and browsers reach it, for webhook URLs and the run links of commit statuses (env BUILDIT_PUBLIC_URL; default http://ADDR)")
	fl.StringVar(&f.uiURL, "temporal-ui-url", env("BUILDIT_TEMPORAL_UI_URL", ""), "base URL of the Temporal Web UI, for links to runs (env BUILDIT_TEMPORAL_UI_URL)")
	f.streams = addStreamFlags(cmd)
	f.oauth = addOAuthFlags(cmd)
	fl.StringVar(&f.proxies, "trusted-proxies", env("BUILDIT_TRUSTED_PROXIES", ""), "comma-separated proxy addresses whose X-Forwarded-For is believed (env BUILDIT_TRUSTED_PROXIES)")
	f.stages.register(cmd)
	f.limits.add(cmd)
	allowHTTPRepositories(cmd, &f.allowHTTPRepositories)
	f.blobs.register(cmd, defaultServerBlobDir(), false)
	fl.DurationVar(&f.sweepEvery, "artifact-sweep-every", envDuration("BUILDIT_ARTIFACT_SWEEP_EVERY", retention.DefaultEvery), "how often expired artifacts, the blobs of deleted ones and webhook deliveries older than 7 days are deleted (env BUILDIT_ARTIFACT_SWEEP_EVERY)")
	return cmd
}

// secretBox opens the key sealing tenant secrets (the flag's, else
// BUILDIT_SECRET_KEY), or returns nil with a warning when there is none.
func secretBox(flagKey string, log *slog.Logger) (*secretbox.Box, error) {
	key := flagKey
	if key == "" {
		key = os.Getenv("BUILDIT_SECRET_KEY")
	}
	if key == "" {
		log.Warn("no BUILDIT_SECRET_KEY: tenant secrets cannot be stored or read")
		return nil, nil
	}
	k, err := secretbox.ParseKey(key)
	if err != nil {
		return nil, usageError(fmt.Errorf("BUILDIT_SECRET_KEY: %w", err))
	}
	box, err := secretbox.New(k)
	if err != nil {
		return nil, usageError(err)
	}
	return box, nil
}

// jsonLogger is the log of the long-running commands: JSON lines on
// stderr, info level unless -v.
func (a *app) jsonLogger() *slog.Logger {
	level := slog.LevelInfo
	if a.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

// runService is the API's link to Temporal: a lazy client (the API serves
// while Temporal is still starting; /readyz says so), its readiness check,
// and the runclient.Service that starts runs. BuildIt's search attributes are
// registered when the namespace lacks them and the server allows it; runs
// go without them otherwise.
func runService(ctx context.Context, store *db.Store, address, namespace, taskQueue, uiURL string, log *slog.Logger) (*runclient.Service, api.ReadinessCheck, func(), error) {
	tc, err := client.NewLazyClient(client.Options{HostPort: address, Namespace: namespace, Logger: tlog.NewStructuredLogger(log)})
	if err != nil {
		return nil, api.ReadinessCheck{}, nil, usageError(fmt.Errorf("temporal address: %w", err))
	}
	check := api.ReadinessCheck{Name: "temporal", Check: func(ctx context.Context) error {
		_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}}
	svc := &runclient.Service{Store: store, Client: tc, Namespace: namespace, TaskQueue: taskQueue, UIURL: uiURL, Log: log}
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := runclient.EnsureSearchAttributes(ectx, tc, namespace); err != nil {
		log.Warn("runs will not carry BuildIt's search attributes", "error", err)
	} else {
		svc.SearchAttributes = true
	}
	return svc, check, tc.Close, nil
}

// publicURL is --public-url, or http://ADDR when it is not set.
func publicURL(flag, addr string) string {
	if flag != "" {
		return strings.TrimRight(flag, "/")
	}
	return "http://" + addr
}

func (a *app) serve(ctx context.Context, f *serverFlags) error {
	// The server logs every request: at info level, unlike the CLI's
	// commands, and as JSON for log shippers.
	log := a.jsonLogger()
	pub := publicURL(f.publicURL, f.addr)
	// Behind HTTPS (a public URL that says so) the session cookie is
	// Secure whether or not --secure-cookies was given.
	cfg := api.Config{SecureCookies: f.secureCookies || strings.HasPrefix(pub, "https://"), PublicURL: pub, OAuthStateKey: oauthStateKey(f.secretKey)}
	providers, err := f.oauth.providers()
	if err != nil {
		return err
	}
	cfg.OAuth = providers
	if err := f.streams.apply(&cfg); err != nil {
		return err
	}
	limits, err := f.limits.limits()
	if err != nil {
		return err
	}
	box, err := secretBox(f.secretKey, log)
	if err != nil {
		return err
	}
	pg, err := storeOptions{url: f.url, box: box, notify: true}.open(ctx, log)
	if err != nil {
		return err
	}
	defer pg.Close()
	store := pg.store
	var proxies []string
	if f.proxies != "" {
		proxies = strings.Split(f.proxies, ",")
	}
	cfg.TrustedProxies, cfg.Logs, cfg.PipelineLimits = proxies, pg.notifier, limits
	blobs, err := f.blobs.open(ctx, log)
	if err != nil {
		return err
	}
	defer blobs.Close()
	cfg.Blobs = blobs
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go retention.Run(sweepCtx, store, blobs, log, f.sweepEvery)
	var checks []api.ReadinessCheck
	if f.temporalAddress != "" {
		svc, check, closeClient, err := runService(ctx, store, f.temporalAddress, f.namespace, f.taskQueue, f.uiURL, log)
		if err != nil {
			return err
		}
		svc.HostQueueTimeout = f.hostQueueTimeout
		f.stages.apply(svc, log)
		svc.Repositories.AllowHTTP = f.allowHTTPRepositories
		defer closeClient()
		svc.PublicURL = cfg.PublicURL
		cfg.Runs = svc
		cfg.Repositories = svc.Repositories
		checks = append(checks, check)
		sched := &schedules.Syncer{Client: svc.Client, TaskQueue: f.taskQueue, Log: log}
		cfg.Schedules = sched
		hooks, stopServerWorker, err := startServerWorker(svc.Client, f.taskQueue, &triggers.Deps{
			Store: store, Runs: svc, Client: svc.Client, Log: log,
			PipelineLimits: cfg.PipelineLimits, Schedules: sched,
		})
		if err != nil {
			return err
		}
		defer stopServerWorker()
		cfg.Hooks = hooks
	} else {
		log.Warn("no --temporal-address: runs cannot be started, only read")
	}
	srv, err := api.New(store, log, cfg, checks...)
	if err != nil {
		return usageError(err)
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return usageError(fmt.Errorf("listen on %s: %w", f.addr, err))
	}
	sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(a.stderr, "buildit: serving the API at http://%s/api/v1\n", ln.Addr())
	fmt.Fprintf(a.stderr, "buildit: the dashboard at http://%s/\n", ln.Addr())
	return serveHTTP(sctx, ln, srv.Handler(), log, apiWriteTimeout)
}

// apiWriteTimeout bounds the writing of an answer of the API, so that a
// client that stops reading does not hold a handler, and what it wrote,
// for ever. Answers that stream (log pages, followed logs) set a deadline
// on each of their writes instead (api.Config.StreamWriteTimeout).
const apiWriteTimeout = time.Minute

// serveHTTP serves h on ln until ctx ends, then shuts down gracefully:
// requests in flight get 15 seconds, followed logs (which never end by
// themselves) are cut after 5. An answer not written within writeTimeout
// is cut off.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, writeTimeout time.Duration) error {
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	hs.RegisterOnShutdown(func() { time.AfterFunc(5*time.Second, cancelBase) })
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(shctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
