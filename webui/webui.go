// Package webui serves the Temporal Web UI from the BuildIt process, for
// `buildit run --ui` and `buildit dev`. The UI's built assets are embedded
// in the github.com/temporalio/ui-server/v2 module, so nothing is fetched at
// run time.
package webui

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	"github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"
)

// UI is a running Web UI server.
type UI struct {
	srv  *uiserver.Server
	base string
}

// Options configure Start.
type Options struct {
	// TemporalAddress is the frontend's gRPC HOST:PORT.
	TemporalAddress string
	Namespace       string
	// IP and Port to listen on; Port 0 picks a free one.
	IP   string
	Port int
}

// Start serves the UI and returns once it answers HTTP requests.
func Start(ctx context.Context, opts Options) (*UI, error) {
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	port := opts.Port
	// The UI server exits the process when it cannot listen, so make sure
	// the port is free first.
	l, err := net.Listen("tcp", net.JoinHostPort(opts.IP, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("web UI: %w", err)
	}
	port = l.Addr().(*net.TCPAddr).Port
	l.Close()

	cfg := &config.Config{
		TemporalGRPCAddress: opts.TemporalAddress,
		Host:                opts.IP,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    opts.Namespace,
		HideLogs:            true,
		DisableNewsFetch:    true,
		CORS:                config.CORS{CookieInsecure: true},
		RefreshInterval:     0,
	}
	srv := uiserver.NewServer(server_options.WithConfigProvider(cfg))
	go func() { _ = srv.Start() }()
	ui := &UI{srv: srv, base: "http://" + net.JoinHostPort(opts.IP, strconv.Itoa(port))}

	// Wait until it answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ui.base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return ui, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			srv.Stop()
			return nil, errors.Join(errors.New("web UI did not start"), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL is the UI's address.
func (u *UI) URL() string { return u.base }

// WorkflowURL is the page of one workflow execution.
func (u *UI) WorkflowURL(namespace, workflowID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", u.base, url.PathEscape(namespace), url.PathEscape(workflowID))
}

// Stop stops the server.
func (u *UI) Stop() { u.srv.Stop() }
