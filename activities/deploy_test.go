package activities

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/deploy"
	"github.com/buildit-ci/buildit/deploy/backends"
	"github.com/buildit-ci/buildit/deploy/fly"
	"github.com/buildit-ci/buildit/deploy/kubernetes"
	"github.com/buildit-ci/buildit/pipeline"
	"github.com/buildit-ci/buildit/workflows"
)

func TestDeployErrorsForTemporal(t *testing.T) {
	var appErr *temporal.ApplicationError
	if err := deployError(deploy.Configf("fly refused the token"), nil); !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != workflows.ErrTypeDeployConfig {
		t.Errorf("config error: %v", err)
	}
	err := deployError(deploy.Transient(errors.New("fly API: 429"), 7*time.Second), nil)
	if !errors.As(err, &appErr) || appErr.NonRetryable() || appErr.NextRetryDelay() != 7*time.Second {
		t.Errorf("429 with Retry-After: %v", err)
	}
	plain := errors.New("connection reset")
	if err := deployError(deploy.Transient(plain, 0), nil); errors.As(err, &appErr) || !errors.Is(err, plain) {
		t.Errorf("a transient error without Retry-After: %v", err)
	}
}

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: "k8s-token"}
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: apps}
current-context: ctx
`

func TestBackendsFromTargets(t *testing.T) {
	ctx := context.Background()
	ref := &buildit.RunRef{TenantID: "t", RunID: "r"}
	a := &Deploys{Shared: &Shared{Secrets: MapSecrets{"KUBE": kubeconfig, "BAD": "not: [a kubeconfig", "FLY": "fo1_x"}}, Backends: backends.For}
	b, _, err := a.backend(ctx, pipeline.Target{Name: "k", Kind: "kubernetes", Settings: map[string]string{"namespace": "apps", "kubeconfig-secret": "KUBE"}}, ref)
	if _, ok := b.(*kubernetes.Backend); !ok || err != nil {
		t.Errorf("kubernetes from a kubeconfig secret: %T %v", b, err)
	}
	if _, _, err := a.backend(ctx, pipeline.Target{Name: "k", Kind: "kubernetes", Settings: map[string]string{"kubeconfig-secret": "BAD"}}, ref); !deploy.IsConfig(err) {
		t.Errorf("a bad kubeconfig: %v", err)
	}
	if _, _, err := a.backend(ctx, pipeline.Target{Name: "k", Kind: "kubernetes", Settings: map[string]string{}}, ref); !deploy.IsConfig(err) || !strings.Contains(err.Error(), "kubeconfig-secret") {
		t.Errorf("server-mode kubernetes without a kubeconfig secret: %v", err)
	}
	b, _, err = a.backend(ctx, pipeline.Target{Name: "f", Kind: "fly", Settings: map[string]string{"app": "a", "token-secret": "FLY"}}, ref)
	if _, ok := b.(*fly.Backend); !ok || err != nil {
		t.Errorf("fly: %T %v", b, err)
	}
	if _, _, err := a.backend(ctx, pipeline.Target{Name: "f", Kind: "fly", Settings: map[string]string{"app": "a", "token-secret": "NOPE"}}, ref); !deploy.IsConfig(err) || !strings.Contains(err.Error(), "NOPE is not set") {
		t.Errorf("fly without its token: %v", err)
	}
	if _, _, err := a.backend(ctx, pipeline.Target{Name: "x"}, nil); !deploy.IsConfig(err) || !strings.Contains(err.Error(), "has no kind") {
		t.Errorf("a kindless target locally: %v", err)
	}
}

// A target's API that quotes the credential back in an error, encoded
// (here base64 and hex, which the Fly backend's own scrubbing of the exact
// token misses): the credential reaches neither the activity's error,
// which enters workflow history, nor the stage's log.
func TestSecurityDeployErrorsMaskTheCredential(t *testing.T) {
	const flyToken = "fo1_Zm9vYmFyLXRva2VuLXZhbHVl-secret"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		fmt.Fprintf(w, `{"error": "bad token %s (hex %x)"}`, base64.StdEncoding.EncodeToString([]byte(bearer)), bearer)
	}))
	defer srv.Close()
	sink := &lineSink{}
	a := &Deploys{Shared: &Shared{Secrets: MapSecrets{"FLY": flyToken}, Sink: sink}, Backends: backends.For}
	target := pipeline.Target{Name: "f", Kind: "fly", Settings: map[string]string{"app": "a", "token-secret": "FLY", "api-url": srv.URL}}
	_, err := a.DeployBegin(context.Background(), workflows.DeployInput{Target: target, Spec: buildit.DeploySpec{Service: "api", Image: "api:v1"}, StageID: "api"})
	const want = "bad token *** (hex ***)"
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || !strings.Contains(err.Error(), want) {
		t.Errorf("the deploy's error: %v\nwant a configuration error that says %q", err, want)
	}
	for _, leak := range []string{base64.StdEncoding.EncodeToString([]byte(flyToken)), hex.EncodeToString([]byte(flyToken))} {
		if strings.Contains(err.Error(), leak) || strings.Contains(strings.Join(sink.all(), "\n"), leak) {
			t.Errorf("the credential reached the error or the log as %s", leak)
		}
	}
}
