// Package temporaltest starts what a test of the whole engine needs: the
// embedded Temporal server (embedtemporal), a client on it, a task queue of the
// test's own with a worker serving it and, when asked, a Postgres database
// (db/dbtest). What Start starts ends with the test (t.Cleanup), except the
// server shared by the test binary, which Main stops.
//
// The engine, api and cli tests used to wire this by hand, each a little
// differently; one kit keeps the wiring in one place, so a change to how a
// worker is built is made once.
package temporaltest

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/buildit-ci/buildit/activities"
	"github.com/buildit-ci/buildit/db"
	"github.com/buildit-ci/buildit/db/dbtest"
	"github.com/buildit-ci/buildit/embedtemporal"
	"github.com/buildit-ci/buildit/worker"
)

// Options says what Start starts besides the server and the client. The
// zero value is the shared server, a client and a task queue no worker
// serves yet (call Env.Serve).
type Options struct {
	// OwnServer starts a server for this test alone, stopped when the test
	// ends, instead of using the test binary's shared one: for a test that
	// stops the server, registers namespaces, or stands the server in for
	// one that `buildit server` or `buildit worker` dials.
	OwnServer bool
	// Postgres gives the test a migrated database of its own (dbtest.Pool)
	// in Env.Store and Env.DBURL. The test binary's TestMain must call Main
	// (or dbtest.Main) so that the throwaway cluster stops.
	Postgres bool
	// TaskQueue is the test's task queue; "" names it after the test, so
	// that tests sharing a server do not take each other's tasks.
	TaskQueue string
	// Activities, when not nil, are served on TaskQueue by a worker that
	// runs until the test ends (Env.Serve, started before Start returns).
	Activities *activities.Activities
	// HostWorker also serves the host queue of Activities.Server.HostQueue (server
	// mode's workspace preparation and host stages), as `buildit worker`
	// does.
	HostWorker bool
}

// Env is what Start started.
type Env struct {
	// Server is the embedded Temporal server.
	Server *embedtemporal.Server
	// Client is a client on Server's namespace, closed when the test ends.
	Client client.Client
	// TaskQueue is the test's task queue.
	TaskQueue string
	// Store is the test's database when Options.Postgres is set, else nil.
	Store *db.Store
	// DBURL is the connection URL of Store's database, or "".
	DBURL string
}

// One embedded server serves every test of a binary that does not ask for
// its own: starting one takes about a second.
var (
	sharedMu  sync.Mutex
	shared    *embedtemporal.Server
	sharedErr error
)

// Start starts what o asks for and returns it; it fails t when something
// does not start.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	e := &Env{TaskQueue: o.TaskQueue}
	if e.TaskQueue == "" {
		e.TaskQueue = QueueName(t)
	}
	if o.OwnServer {
		e.Server = OwnServer(t)
	} else {
		e.Server = SharedServer(t)
	}
	c, err := client.Dial(client.Options{HostPort: e.Server.HostPort(), Namespace: e.Server.Namespace(), Logger: QuietLogger()})
	if err != nil {
		t.Fatalf("temporaltest: dial the embedded server: %v", err)
	}
	t.Cleanup(c.Close)
	e.Client = c
	if o.Postgres {
		pool := dbtest.Pool(t)
		e.Store = db.NewStore(pool, nil)
		e.DBURL = dbtest.URL(pool)
	}
	if o.Activities != nil {
		e.Serve(t, o.Activities, o.HostWorker)
	}
	return e
}

// Serve starts a worker for acts on e's task queue and, when host is set,
// the host worker of acts.Server.HostQueue; they stop when t ends. It is Start's
// second step for a test whose activities need what Start returns (the task
// queue's name, the database).
func (e *Env) Serve(t testing.TB, acts *activities.Activities, host bool) {
	t.Helper()
	workers := []interface {
		Start() error
		Stop()
	}{worker.New(e.Client, acts, worker.Options{TaskQueue: e.TaskQueue})}
	if host {
		workers = append(workers, worker.NewHost(e.Client, acts, worker.Options{}))
	}
	for _, w := range workers {
		if err := w.Start(); err != nil {
			t.Fatalf("temporaltest: start a worker on %s: %v", e.TaskQueue, err)
		}
		t.Cleanup(w.Stop)
	}
}

// SharedServer returns the test binary's shared embedded server, starting
// it on first use. Main stops it.
func SharedServer(t testing.TB) *embedtemporal.Server {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = embedtemporal.Start(context.Background(), embedtemporal.Options{})
	}
	if sharedErr != nil {
		t.Fatalf("temporaltest: embedded Temporal: %v", sharedErr)
	}
	return shared
}

// OwnServer starts an embedded server for t alone and stops it when t ends
// (Stop is idempotent, so the test may stop it earlier).
func OwnServer(t testing.TB) *embedtemporal.Server {
	t.Helper()
	s, err := embedtemporal.Start(context.Background(), embedtemporal.Options{})
	if err != nil {
		t.Fatalf("temporaltest: embedded Temporal: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// Main runs the tests, then stops the shared server and dbtest's throwaway
// Postgres cluster (when they were started), and exits with the tests'
// code; call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the shared server and dbtest's throwaway Postgres cluster,
// when they were started. Main calls it; a TestMain that must also stop
// something else (a browser) runs the tests itself and then calls Stop.
func Stop() {
	sharedMu.Lock()
	if shared != nil {
		_ = shared.Stop()
	}
	shared, sharedErr = nil, nil
	sharedMu.Unlock()
	dbtest.Stop()
}

// QueueName is a task queue named after t: unique among the tests of a
// binary, and readable in the Temporal UI.
func QueueName(t testing.TB) string {
	return "tq-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
}

// QuietLogger keeps the SDK's info logs (worker started, stopped) out of
// test output.
func QuietLogger() tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}
