package localrun

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/buildit-ci/buildit/embedtemporal"
	"github.com/buildit-ci/buildit/runclient"
)

// temporalConn is the Temporal a run uses: an embedded server or the one
// at Options.TemporalAddress, and a client of it.
type temporalConn struct {
	client   client.Client
	hostPort string
	// searchable reports that runs carry BuildIt's search attributes.
	searchable bool
	// started is set once the run has started: the embedded server is
	// then left running (see close).
	started bool
	server  *embedtemporal.Server
}

// connect starts the embedded server when there is no address, and dials.
func connect(ctx context.Context, o Options) (*temporalConn, error) {
	conn := &temporalConn{hostPort: o.TemporalAddress}
	if conn.hostPort == "" {
		t0 := time.Now()
		srv, err := embedtemporal.Start(ctx, embedtemporal.Options{Namespace: o.Namespace, Logger: o.TemporalLogger})
		if err != nil {
			return nil, fmt.Errorf("start embedded Temporal: %w", err)
		}
		conn.server, conn.hostPort, conn.searchable = srv, srv.HostPort(), true
		o.Logger.Debug("embedded Temporal started", "address", conn.hostPort, "took", time.Since(t0))
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  conn.hostPort,
		Namespace: o.Namespace,
		Logger:    tlog.NewStructuredLogger(o.Logger),
	})
	if err != nil {
		conn.close()
		return nil, fmt.Errorf("connect to Temporal at %s: %w", conn.hostPort, err)
	}
	conn.client = c
	if conn.server == nil {
		// Runs on a shared server carry BuildIt's search attributes when
		// the namespace has them or they can be added.
		if _, err := runclient.EnsureSearchAttributes(ctx, c, o.Namespace); err != nil {
			fmt.Fprintf(o.Stderr, "buildit: the run will not carry search attributes: %v\n", err)
		} else {
			conn.searchable = true
		}
	}
	return conn, nil
}

// close closes the client, and stops the embedded server only when the run
// could not start: it keeps everything in memory and the process is about
// to exit, so a graceful stop (about a second of draining pollers) would
// only delay the exit.
func (conn *temporalConn) close() {
	if conn.client != nil {
		conn.client.Close()
	}
	if conn.server != nil && !conn.started {
		_ = conn.server.Stop()
	}
}
