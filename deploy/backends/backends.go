// Package backends maps a deploy target's kind to its Backend: Fly.io or
// Kubernetes. The wiring (cli) hands For to the deploy activities, so that
// neither the activities nor anything else that runs no deploy links the
// backends (and client-go with them).
package backends

import (
	"context"
	"os"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/deploy"
	"github.com/buildit-ci/buildit/deploy/fly"
	"github.com/buildit-ci/buildit/deploy/kubernetes"
	"github.com/buildit-ci/buildit/pipeline"
)

// For makes the Backend of target from its kind and settings; it is an
// activities.BackendFor. ref names the run in server mode (nil locally):
// there, credentials come only from the tenant's secrets, never from this
// process's environment or files. credential looks a credential up by its
// name.
func For(ctx context.Context, target pipeline.Target, ref *buildit.RunRef, credential func(ctx context.Context, name string) (string, error)) (deploy.Backend, error) {
	switch target.Kind {
	case pipeline.TargetFly:
		name := target.Settings["token-secret"]
		if name == "" {
			name = "FLY_API_TOKEN"
		}
		token, err := credential(ctx, name)
		if err != nil {
			return nil, err
		}
		apiURL := target.Settings["api-url"]
		if apiURL == "" && ref == nil {
			// A local run may point every Fly target elsewhere (a
			// proxy, a test server) without editing the pipeline.
			apiURL = os.Getenv("FLY_API_URL")
		}
		return fly.New(fly.Config{App: target.Settings["app"], Region: target.Settings["region"], APIURL: apiURL, Token: token})
	case pipeline.TargetKubernetes:
		set := target.Settings
		if name := set["kubeconfig-secret"]; name != "" {
			kc, err := credential(ctx, name)
			if err != nil {
				return nil, err
			}
			return kubernetes.NewFromKubeconfig([]byte(kc), set["context"], set["namespace"])
		}
		if ref != nil {
			return nil, deploy.Configf("target %q: set kubeconfig-secret to the tenant secret holding the cluster's kubeconfig", target.Name)
		}
		return kubernetes.New(kubernetes.Config{Namespace: set["namespace"], Kubeconfig: set["kubeconfig"], Context: set["context"]})
	case "":
		return nil, deploy.Configf("target %q has no kind: a BuildIt server finds a tenant's target by name, but a local run needs it in the pipeline (target %q kind=\"fly\" { … })", target.Name, target.Name)
	}
	return nil, deploy.Configf("target %q: unknown kind %q", target.Name, target.Kind)
}
