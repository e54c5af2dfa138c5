// Package embedtemporal runs a Temporal server (go.temporal.io/server) inside the
// current process, on SQLite, for `buildit run` (database in memory) and
// `buildit dev` (database in a file).
//
// Every service (frontend, history, matching, worker) runs in this process on
// free loopback ports, with static membership (no ringpop gossip), a single
// history shard and the dynamic config in tuning.go, which is what keeps a
// stage's orchestration overhead at a few milliseconds.
package embedtemporal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/buildit-ci/buildit/workflows"
)

// Options configures Start. The zero value is a usable in-memory server.
type Options struct {
	// DBFile is the SQLite database file. It is created with the schema when
	// missing and reused (with its workflows) when present. "" keeps
	// everything in memory; it is gone after Stop. It holds every run's
	// history, so it and its journal files are readable by their owner
	// only (mode 0600), even when an older version made them.
	DBFile string
	// Namespace is created at start (when missing) with the BuildIt search
	// attributes. Default "default".
	Namespace string
	// IP is the address the frontend listens on. Default 127.0.0.1. The other
	// services always listen on the loopback interface.
	IP string
	// Port is the frontend gRPC port; 0 picks a free port.
	Port int
	// Logger receives the server's warnings and errors; nil discards all
	// server logs.
	Logger *slog.Logger
}

// SearchAttributes are the custom search attributes registered (all of type
// Keyword) in the namespace at start.
var SearchAttributes = workflows.SearchAttributeNames

// Server is a running embedded Temporal server. Its methods are safe for
// concurrent use.
type Server struct {
	srv       temporal.Server
	hostPort  string
	namespace string

	ports  []int      // every port it listens on
	db     io.Closer  // the database connection (see sqliteCloser), or nil
	logger slogLogger // the server's

	stopOnce sync.Once
	stopErr  error
}

const (
	clusterName = "active"
	loopback    = "127.0.0.1"
)

// Start starts the server and returns once its frontend accepts requests for
// opts.Namespace. When ctx ends before that, the half-started server is
// stopped and ctx's error is returned.
//
// Start sets the Temporal SDK's process-wide binary checksum (see
// setBinaryChecksum) the first time it runs; a program that wants its own
// calls worker.SetBinaryChecksum after Start.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if net.ParseIP(opts.IP) == nil {
		return nil, fmt.Errorf("embedded Temporal: invalid IP %q", opts.IP)
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("embedded Temporal: invalid port %d", opts.Port)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	if opts.Port != 0 {
		// Checked first because a server that fails to bind its frontend
		// leaves the listeners of the services built before it open.
		l, err := net.Listen("tcp", hostPort(opts.IP, opts.Port))
		if err != nil {
			return nil, fmt.Errorf("embedded Temporal: frontend port: %w", err)
		}
		_ = l.Close()
	}

	setBinaryChecksum()
	sqlCfg, err := prepareDB(opts.DBFile)
	if err != nil {
		return nil, err
	}
	db := sqliteCloser(sqlCfg) // closed by Stop, or below on failure
	s, err := startOn(ctx, opts, sqlCfg)
	if err != nil {
		if db != nil {
			_ = db.Close()
		}
		return nil, err
	}
	s.db = db
	return s, nil
}

// startOn registers the namespace in the database of sqlCfg and starts a
// server on it.
func startOn(ctx context.Context, opts Options, sqlCfg *config.SQL) (*Server, error) {
	if err := ensureNamespace(ctx, sqlCfg, opts.Namespace); err != nil {
		return nil, fmt.Errorf("embedded Temporal: namespace %q: %w", opts.Namespace, err)
	}
	// A port found free can be taken by another process before the server
	// binds it; try again with new ports in that case (rare: see
	// freePorts).
	for attempt := 1; ; attempt++ {
		s, err := start(ctx, opts, sqlCfg)
		if err == nil || attempt == 3 || !isAddrInUse(err) || ctx.Err() != nil {
			return s, err
		}
	}
}

func start(ctx context.Context, opts Options, sqlCfg *config.SQL) (*Server, error) {
	// frontend gRPC, frontend HTTP, history, matching, worker.
	ports, err := freePorts(opts.IP, 2)
	if err != nil {
		return nil, err
	}
	internal, err := freePorts(loopback, 3)
	if err != nil {
		return nil, err
	}
	ports = append(ports, internal...)
	if opts.Port != 0 {
		ports[0] = opts.Port
	}
	cfg := serverConfig(opts.IP, ports, sqlCfg)
	logger := newServerLogger(opts.Logger)

	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("embedded Temporal: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("embedded Temporal: claim mapper: %w", err)
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range cfg.Services {
		addr := hostPort(loopback, svc.RPC.GRPCPort)
		if name == string(primitives.FrontendService) {
			addr = cfg.PublicClient.HostPort
		}
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(addr)
	}
	var srv temporal.Server
	logger.building.Store(true)
	err = catchFatal(func() (err error) {
		srv, err = temporal.NewServer(
			temporal.WithConfig(cfg),
			temporal.ForServices(temporal.DefaultServices),
			temporal.WithStaticHosts(hosts),
			temporal.WithLogger(logger),
			temporal.WithAuthorizer(authorizer),
			temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
			temporal.WithDynamicConfigClient(dynamicConfig(opts.DBFile != "")),
		)
		return err
	})
	logger.building.Store(false)
	if err != nil {
		return nil, fmt.Errorf("embedded Temporal: new server: %w", err)
	}

	// temporal.Server.Start takes no context: run it aside and, if ctx ends
	// first, wait for it and stop what it started.
	done := make(chan error, 1)
	go func() { done <- srv.Start() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = <-done
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		// Services that did start are stopped; the error is the start's.
		_ = srv.Stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("embedded Temporal: start: %w", err)
	}
	return &Server{
		srv:       srv,
		hostPort:  cfg.PublicClient.HostPort,
		namespace: opts.Namespace,
		ports:     ports,
		logger:    logger,
	}, nil
}

// HostPort returns the frontend's gRPC address (host:port), for
// client.Options.HostPort.
func (s *Server) HostPort() string { return s.hostPort }

// Namespace returns the namespace created at start.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops every service and releases the ports. Clients and workers should
// be closed first. It is idempotent: later calls return the first call's
// result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.logger.stopping.Store(true)
		s.stopErr = s.srv.Stop()
		if s.db != nil {
			if err := s.db.Close(); err != nil && s.stopErr == nil {
				s.stopErr = err
			}
		}
	})
	return s.stopErr
}

// dsnSeq makes the DSN of every server unique within the process. The
// SQLite plugin keeps one connection per DSN for the life of the process
// and hands it to whoever asks for the same DSN: two in-memory servers with
// the same name would share a database, and a connection closed by Stop
// (see sqliteCloser) would be handed to the next server on the same file.
var dsnSeq atomic.Int64

// prepareDB returns the persistence config for dbFile ("" = memory) and, for
// a new file, creates it with the schema.
func prepareDB(dbFile string) (*config.SQL, error) {
	cfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		ConnectAttributes: map[string]string{},
	}
	if dbFile == "" {
		cfg.DatabaseName = fmt.Sprintf("buildit-%d-%d-%d", os.Getpid(), dsnSeq.Add(1), rand.Int64())
		cfg.ConnectAttributes["mode"] = "memory"
		cfg.ConnectAttributes["cache"] = "shared"
		return cfg, nil
	}

	abs, err := filepath.Abs(dbFile)
	if err != nil {
		return nil, fmt.Errorf("embedded Temporal: database file: %w", err)
	}
	cfg.DatabaseName = abs
	cfg.ConnectAttributes["mode"] = "rwc"
	// Not a pragma SQLite knows (it ignores those), only there to make
	// the DSN unique; see dsnSeq.
	cfg.ConnectAttributes["buildit_instance"] = strconv.FormatInt(dsnSeq.Add(1), 10)
	for k, v := range sqlitePragmas {
		cfg.ConnectAttributes[k] = v
	}

	fi, err := os.Stat(abs)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("embedded Temporal: database file %s is a directory", abs)
	case err == nil && fi.Size() > 0:
		return cfg, privateDB(abs) // existing database
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("embedded Temporal: database file: %w", err)
	}
	if _, err := os.Stat(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("embedded Temporal: database file: %w", err)
	}
	// Made here, private, before SQLite opens it: SQLite keeps the mode of
	// an existing file and gives its journal files the same.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded Temporal: database file: %w", err)
	}
	f.Close()
	if err := privateDB(abs); err != nil {
		return nil, err
	}
	if err := sqliteschema.SetupSchema(cfg); err != nil {
		return nil, fmt.Errorf("embedded Temporal: creating schema in %s: %w", abs, err)
	}
	return cfg, nil
}

// privateDB makes the database file and the journal files beside it
// readable by their owner only.
func privateDB(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("embedded Temporal: database file: %w", err)
		}
	}
	return nil
}

// serverConfig is the static server configuration: one history shard, all
// services on loopback (the frontend on ip), SQLite for both persistence and
// visibility, no archival, no metrics, no pprof.
// ports: frontend gRPC, frontend HTTP, history, matching, worker.
func serverConfig(ip string, ports []int, sqlCfg *config.SQL) *config.Config {
	var cfg config.Config
	cfg.Global.Membership.MaxJoinDuration = 30 * time.Second
	cfg.Global.Membership.BroadcastAddress = loopback

	cfg.Persistence.DefaultStore = "sqlite"
	cfg.Persistence.VisibilityStore = "sqlite"
	cfg.Persistence.NumHistoryShards = 1
	cfg.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlCfg}}

	// The address clients dial: a wildcard listen address is not one.
	dialIP := ip
	if net.ParseIP(ip).IsUnspecified() {
		dialIP = loopback
	}
	frontend := hostPort(dialIP, ports[0])
	cfg.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontend,
				HTTPAddress:            hostPort(dialIP, ports[1]),
			},
		},
	}
	cfg.DCRedirectionPolicy.Policy = "noop"
	service := func(port int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: loopback}}
	}
	cfg.Services = map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{GRPCPort: ports[0], HTTPPort: ports[1], BindOnIP: ip}},
		string(primitives.HistoryService):  service(ports[2]),
		string(primitives.MatchingService): service(ports[3]),
		string(primitives.WorkerService):   service(ports[4]),
	}
	cfg.Archival.History.State = "disabled"
	cfg.Archival.Visibility.State = "disabled"
	cfg.NamespaceDefaults.Archival.History.State = "disabled"
	cfg.NamespaceDefaults.Archival.Visibility.State = "disabled"
	cfg.PublicClient.HostPort = frontend
	return &cfg
}

// freePorts returns n distinct TCP ports free on ip, holding every
// listener until all are chosen so that they differ.
//
// They are taken below the kernel's ephemeral range where there is one
// (Linux), so that no outgoing connection of this or another process
// (which the kernel gives a local port from that range) can take one
// between this check and the server's bind: the server treats a port it
// cannot bind as fatal. Elsewhere the kernel picks (port 0).
func freePorts(ip string, n int) ([]int, error) {
	lo, hi := 0, 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var ephemeralLo, ephemeralHi int
		if _, err := fmt.Sscan(string(b), &ephemeralLo, &ephemeralHi); err == nil && ephemeralLo > 20000 {
			lo, hi = 10000, ephemeralLo // [lo, hi)
		}
	}
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		port := 0
		if hi > lo && tries < 100*n {
			port = lo + rand.IntN(hi-lo)
		}
		l, err := net.Listen("tcp", hostPort(ip, port))
		if err != nil {
			if port != 0 {
				continue // taken: try another
			}
			return nil, fmt.Errorf("embedded Temporal: finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func hostPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// catchFatal runs f and returns, as an error, a panic of the server's
// logger (see slogLogger); other panics go on.
func catchFatal(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(*fatalError)
			if !ok {
				panic(r)
			}
			err = fe
		}
	}()
	return f()
}

func isAddrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}
