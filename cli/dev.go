package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/buildit-ci/buildit/api"
	"github.com/buildit-ci/buildit/embedtemporal"
	"github.com/buildit-ci/buildit/retention"
	"github.com/buildit-ci/buildit/schedules"
	"github.com/buildit-ci/buildit/triggers"
	"github.com/buildit-ci/buildit/webui"
	"github.com/buildit-ci/buildit/worker"
	"github.com/buildit-ci/buildit/workflows"
)

type devFlags struct {
	addr, dataDir, url, executor string
	publicURL                    string
	temporalIP, uiIP             string
	temporalPort, uiPort         int
	noUI                         bool
	oauth                        *oauthFlags
	stages                       stageFlags
	limits                       limitFlags
	clone                        cloneFlags
	streams                      *streamFlags
	blobs                        blobFlags
	sweepEvery                   time.Duration
}

func newDevCommand(a *app) *cobra.Command {
	f := &devFlags{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole service on this machine: Temporal, its UI, the API and a worker",
		Long: `Dev runs BuildIt's server mode in one process, for a laptop: an embedded
Temporal server persisted to DATA-DIR/temporal.db, the Temporal Web UI, the
REST API (as buildit server) and a worker (as buildit worker), on the
Postgres database named by DATABASE_URL, whose schema it brings up to date.

Everything that matters survives a restart on the same data dir: runs in
flight resume where Temporal left them (a stage that was running when the
process died runs again), and tenant secrets stay readable because the key
sealing them is kept in DATA-DIR/secret.key unless BUILDIT_SECRET_KEY is set.

Anyone who can sign up is a tenant: stages without an image run in
--default-image, or the run is refused, unless --allow-host-stages lets them
run on this machine (then every pipeline runs commands here). DATA-DIR is
made mode 0711 and secret.key and temporal.db 0600, so that a host stage run
under a user of its own cannot read them.

The --max-* flags bound the pipelines tenants push, as for buildit server.`,
		Example: `  export DATABASE_URL=postgres://buildit:buildit@localhost:5432/buildit
  buildit dev
  buildit dev --addr 127.0.0.1:9090 --data-dir /tmp/buildit-dev --executor host`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runDev(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", env("BUILDIT_ADDR", "127.0.0.1:8080"), "API listens on `HOST:PORT` (env BUILDIT_ADDR)")
	fl.StringVar(&f.publicURL, "public-url", env("BUILDIT_PUBLIC_URL", ""), "the server's base URL as forges and browsers reach it, for webhook URLs and the run links of commit statuses (env BUILDIT_PUBLIC_URL; default http://ADDR)")
	fl.StringVar(&f.dataDir, "data-dir", env("BUILDIT_DATA_DIR", ".buildit"), "keeps Temporal's database, the secret key and workspaces (env BUILDIT_DATA_DIR)")
	fl.StringVar(&f.url, "database-url", env("DATABASE_URL", ""), "Postgres URL (env DATABASE_URL)")
	fl.StringVar(&f.executor, "executor", env("BUILDIT_EXECUTOR", "auto"), "auto, host or docker, as for buildit worker (env BUILDIT_EXECUTOR)")
	fl.IntVar(&f.temporalPort, "temporal-port", 7233, "Temporal frontend port on --temporal-ip; 0 picks a free one")
	fl.IntVar(&f.uiPort, "ui-port", 8233, "Temporal Web UI port on --ui-ip; 0 picks a free one")
	fl.StringVar(&f.temporalIP, "temporal-ip", "127.0.0.1", "address the Temporal frontend listens on; anything but loopback lets whoever reaches it read and steer every tenant's runs, unauthenticated")
	fl.StringVar(&f.uiIP, "ui-ip", "127.0.0.1", "address the Temporal Web UI listens on; an operator's tool, unauthenticated: keep it on loopback")
	fl.BoolVar(&f.noUI, "no-ui", false, "do not serve the Temporal Web UI")
	f.stages.register(cmd)
	f.limits.add(cmd)
	f.clone.register(cmd)
	f.streams = addStreamFlags(cmd)
	f.oauth = addOAuthFlags(cmd)
	f.blobs.register(cmd, "DATA-DIR/blobs", true)
	f.blobs.url = env("BUILDIT_BLOB_URL", "") // under --data-dir, known once parsed
	cmd.Flags().DurationVar(&f.sweepEvery, "artifact-sweep-every", envDuration("BUILDIT_ARTIFACT_SWEEP_EVERY", retention.DefaultEvery), "how often expired artifacts, the blobs of deleted ones and webhook deliveries older than 7 days are deleted (env BUILDIT_ARTIFACT_SWEEP_EVERY)")
	return cmd
}

// devSecretKey returns BUILDIT_SECRET_KEY, or the key kept in dir (made on
// first use, readable by the owner only).
func devSecretKey(dir string) (string, error) {
	if k := os.Getenv("BUILDIT_SECRET_KEY"); k != "" {
		return k, nil
	}
	path := filepath.Join(dir, "secret.key")
	b, err := os.ReadFile(path)
	if err == nil {
		// One an older version kept may be readable by others.
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("make the secret key private: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	key := base64.StdEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep the secret key: %w", err)
	}
	return key, nil
}

// makeDataDir makes dir, or tightens the one there: mode 0711, so that a
// host stage's user can pass through to its run's workspace under it but
// cannot list it (nor read the files in it, which are 0600).
func makeDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	return os.Chmod(dir, 0o711)
}

func (a *app) runDev(ctx context.Context, f *devFlags) error {
	log := a.jsonLogger()
	var cfg api.Config
	if err := f.streams.apply(&cfg); err != nil {
		return err
	}
	clone, err := f.clone.options(log)
	if err != nil {
		return err
	}
	if err := f.blobs.check(); err != nil {
		return err
	}
	limits, err := f.limits.limits()
	if err != nil {
		return err
	}
	if err := checkListenIPs(f, log); err != nil {
		return err
	}
	if err := makeDataDir(f.dataDir); err != nil {
		return usageError(fmt.Errorf("--data-dir: %w", err))
	}
	key, err := devSecretKey(f.dataDir)
	if err != nil {
		return err
	}
	box, err := secretBox(key, log)
	if err != nil {
		return err
	}
	pg, err := storeOptions{url: f.url, box: box, migrate: true, notify: true}.open(ctx, log)
	if err != nil {
		return err
	}
	defer pg.Close()
	store := pg.store
	// Listen first: a busy port is said before anything else starts.
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return usageError(fmt.Errorf("listen on %s: %w", f.addr, err))
	}
	defer ln.Close()

	ts, uiURL, stopTemporal, err := startDevTemporal(ctx, f, log)
	if err != nil {
		return err
	}
	defer stopTemporal()

	taskQueue := workflows.DefaultTaskQueue
	acts, release, err := workerActivities(ctx, f.executor, filepath.Join(f.dataDir, "workspaces"), worker.HostQueue(taskQueue, "dev"), f.stages.allowHostStages, store, log)
	if err != nil {
		return err
	}
	acts.Server.Clone = clone
	defer release()
	if f.blobs.url == "" {
		dir, err := filepath.Abs(filepath.Join(f.dataDir, "blobs"))
		if err != nil {
			return err
		}
		f.blobs.url = "file://" + dir
	}
	blobs, err := f.blobs.open(ctx, log)
	if err != nil {
		return err
	}
	defer blobs.Close()
	f.blobs.setArtifacts(acts, blobs, store)
	cfg.Blobs = blobs
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go retention.Run(sweepCtx, store, blobs, log, f.sweepEvery)
	c, err := client.DialContext(ctx, client.Options{HostPort: ts.HostPort(), Namespace: ts.Namespace(), Logger: tlog.NewStructuredLogger(log)})
	if err != nil {
		return err
	}
	defer c.Close()
	stopWorkers, err := startWorkers(c, acts, taskQueue, 0)
	if err != nil {
		return err
	}
	defer stopWorkers()

	svc, check, closeClient, err := runService(ctx, store, ts.HostPort(), ts.Namespace(), taskQueue, uiURL, log)
	if err != nil {
		return err
	}
	defer closeClient()
	f.stages.apply(svc, log)
	svc.Repositories = clone.Repositories
	svc.PublicURL = publicURL(f.publicURL, ln.Addr().String())
	sched := &schedules.Syncer{Client: c, TaskQueue: taskQueue, Log: log}
	cfg.Schedules = sched
	hooks, stopServerWorker, err := startServerWorker(c, taskQueue, &triggers.Deps{
		Store: store, Runs: svc, Client: c, Log: log, PipelineLimits: limits, Schedules: sched,
	})
	if err != nil {
		return err
	}
	defer stopServerWorker()
	cfg.Runs, cfg.Logs, cfg.PipelineLimits = svc, pg.notifier, limits
	cfg.PublicURL, cfg.Repositories = svc.PublicURL, svc.Repositories
	cfg.Hooks = hooks
	if cfg.OAuth, err = f.oauth.providers(); err != nil {
		return err
	}
	srv, err := api.New(store, log, cfg, check)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "buildit dev: API     http://%s/api/v1\n", ln.Addr())
	fmt.Fprintf(a.stderr, "buildit dev: dashboard http://%s/\n", ln.Addr())
	if uiURL != "" {
		fmt.Fprintf(a.stderr, "buildit dev: UI      %s\n", uiURL)
	}
	fmt.Fprintf(a.stderr, "buildit dev: Temporal %s (namespace %s), data in %s\n", ts.HostPort(), ts.Namespace(), f.dataDir)
	sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveHTTP(sctx, ln, srv.Handler(), log, apiWriteTimeout)
}

// checkListenIPs refuses --temporal-ip or --ui-ip when it is not an IP
// address, and warns when either listens beyond loopback: Temporal has no
// authentication here, so what listens there serves every tenant's runs to
// whoever connects, stage containers included.
func checkListenIPs(f *devFlags, log *slog.Logger) error {
	for _, b := range []struct{ flag, ip string }{{"--temporal-ip", f.temporalIP}, {"--ui-ip", f.uiIP}} {
		ip := net.ParseIP(b.ip)
		if ip == nil {
			return usageError(fmt.Errorf("%s %q: not an IP address", b.flag, b.ip))
		}
		if !ip.IsLoopback() {
			log.Warn("Temporal listens beyond loopback, without authentication: anyone who reaches it, a stage included, can read and steer every tenant's runs", "flag", b.flag, "ip", b.ip)
		}
	}
	return nil
}

// startDevTemporal starts the embedded Temporal server on the data dir's
// database and, unless --no-ui, its Web UI (uiURL is then its address);
// stop stops both.
func startDevTemporal(ctx context.Context, f *devFlags, log *slog.Logger) (ts *embedtemporal.Server, uiURL string, stop func(), err error) {
	ts, err = embedtemporal.Start(ctx, embedtemporal.Options{DBFile: filepath.Join(f.dataDir, "temporal.db"), IP: f.temporalIP, Port: f.temporalPort, Logger: log})
	if err != nil {
		return nil, "", nil, fmt.Errorf("embedded Temporal: %w", err)
	}
	if f.noUI {
		return ts, "", func() { _ = ts.Stop() }, nil
	}
	ui, err := webui.Start(ctx, webui.Options{TemporalAddress: ts.HostPort(), Namespace: ts.Namespace(), IP: f.uiIP, Port: f.uiPort})
	if err != nil {
		_ = ts.Stop()
		return nil, "", nil, err
	}
	return ts, ui.URL(), func() { ui.Stop(); _ = ts.Stop() }, nil
}
