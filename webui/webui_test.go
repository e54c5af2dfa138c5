package webui

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/devserver"
)

func TestServesTheUIAndItsAPI(t *testing.T) {
	ctx := context.Background()
	srv, err := devserver.Start(ctx, devserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop the Temporal server: %v", err)
		}
	}()
	ui, err := Start(ctx, Options{TemporalAddress: srv.HostPort(), Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer ui.Stop()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(ui.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// The single-page app: every route serves its HTML shell.
	if code, body := get("/namespaces/default/workflows/some-run"); code != http.StatusOK || !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("workflow page: %d %.200s", code, body)
	}
	// Its API reaches the embedded server through gRPC.
	if code, body := get("/api/v1/namespaces"); code != http.StatusOK || !strings.Contains(strings.ReplaceAll(body, " ", ""), `"name":"default"`) {
		t.Errorf("namespaces API: %d %.300s", code, body)
	}
	if got := ui.WorkflowURL("default", "a b"); got != ui.URL()+"/namespaces/default/workflows/a%20b" {
		t.Errorf("WorkflowURL = %s", got)
	}
}
