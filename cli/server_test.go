package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/db/dbtest"
	"github.com/buildit-ci/buildit/internal/temporaltest"
)

// TestMain runs the test binary as buildit itself when a test starts it as
// a child process (BUILDIT_TEST_CHILD_ARGS holds the arguments, as JSON):
// the durability tests kill -9 real processes.
func TestMain(m *testing.M) {
	if args := os.Getenv(childArgsEnv); args != "" {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			panic(err)
		}
		os.Exit(Execute(NewRootCommand("test"), argv))
	}
	dbtest.Main(m)
}

// buildit server refuses a database without the schema; buildit migrate
// brings it up to date (twice is fine); then the server serves, reports
// ready, and stops cleanly when its context ends (as on SIGTERM).
func TestMigrateAndServe(t *testing.T) {
	pool := dbtest.EmptyPool(t)
	url := dbtest.URL(pool)

	code, _, stderr := run(t, "server", "--database-url", url, "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, "buildit migrate") {
		t.Fatalf("server on an empty database: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := run(t, "migrate", "--database-url", url)
	if code != 0 || !strings.Contains(stdout, "schema migrated from version 0 to") {
		t.Fatalf("migrate: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "migrate", "--database-url", url)
	if code != 0 || !strings.Contains(stdout, "schema is up to date") {
		t.Fatalf("second migrate: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := run(t, "migrate"); code != 2 || !strings.Contains(stderr, "DATABASE_URL") {
		t.Errorf("migrate without a database: exit %d\n%s", code, stderr)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := NewRootCommand("test")
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	srv := temporaltest.OwnServer(t)
	root.SetArgs([]string{"server", "--database-url", url, "--addr", addr, "--secret-key", strings.Repeat("ab", 32), "--temporal-address", srv.HostPort()})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				body = string(b)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %v\n%s", err, errb.String())
		}
	}
	if !strings.Contains(body, `"postgres":"ok"`) || !strings.Contains(body, `"temporal":"ok"`) {
		t.Errorf("readyz: %s", body)
	}
	// Temporal goes away: not ready, and it says which.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 503 || !strings.Contains(string(b), `"temporal":"unavailable"`) || !strings.Contains(string(b), `"postgres":"ok"`) {
		t.Errorf("readyz without Temporal: %d %s", res.StatusCode, b)
	}
	res, err = http.Get("http://" + addr + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("/me without credentials: %d", res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop")
	}
	if !strings.Contains(errb.String(), `"route":"/api/v1/me"`) {
		t.Errorf("no request log line:\n%s", errb.String())
	}
}

// buildit dev's Temporal frontend and Web UI are on loopback unless an
// operator says otherwise; an address that is not one is a usage error,
// said before anything starts.
func TestSecurityDevTemporalOnLoopback(t *testing.T) {
	for _, flag := range []string{"--temporal-ip", "--ui-ip"} {
		code, _, stderr := run(t, "dev", flag, "nope", "--database-url", "postgres://127.0.0.1:1/none", "--data-dir", t.TempDir())
		if code != 2 || !strings.Contains(stderr, flag+` "nope": not an IP address`) {
			t.Errorf("%s nope: exit %d, stderr:\n%s", flag, code, stderr)
		}
	}
	cmd := newDevCommand(&app{})
	for _, flag := range []string{"temporal-ip", "ui-ip"} {
		if got := cmd.Flags().Lookup(flag).DefValue; got != "127.0.0.1" {
			t.Errorf("--%s defaults to %q, want 127.0.0.1", flag, got)
		}
	}
}

// A client that asks for a large answer and never reads it, with a small
// receive buffer, is cut off after the server's write timeout: the handler's
// write fails and it returns, instead of holding its goroutine and its
// answer for ever.
func TestSecurityServerDropsStalledClients(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for range 2048 { // 64 MiB, more than any socket buffer
			if _, err := w.Write(chunk); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveHTTP(ctx, ln, h, slog.New(slog.DiscardHandler), 300*time.Millisecond) }()
	defer func() { cancel(); <-served }() //nolint:errcheck // waits for the server to end; how it ended is not what this test checks

	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: test\r\n\r\n")
	select {
	case err := <-wrote:
		if err == nil {
			t.Error("the handler wrote 64 MiB to a client that reads nothing")
		}
	case <-time.After(20 * time.Second):
		t.Error("the handler still writes to a stalled client after 20 s")
	}
}
