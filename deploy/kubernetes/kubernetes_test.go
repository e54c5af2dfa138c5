package kubernetes_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/deploy"
	"github.com/buildit-ci/buildit/deploy/kubernetes"
)

// No Kubernetes API server can run on this machine: these tests use
// client-go's fake clientset, with a reactor standing in for the
// Deployment controller that drives each rollout to success, a stall or a
// failure.

type controller struct {
	mu       sync.Mutex
	scenario string // success, stall, fail
}

func (c *controller) set(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scenario = s
}

var deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

func newBackend(t *testing.T) (*kubernetes.Backend, *fake.Clientset, *controller) {
	t.Helper()
	cs := fake.NewClientset()
	ctl := &controller{scenario: "success"}
	cs.PrependReactor("get", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		get := a.(k8stesting.GetAction)
		obj, err := cs.Tracker().Get(deploymentsGVR, get.GetNamespace(), get.GetName())
		if err != nil {
			return true, nil, err
		}
		d := obj.(*appsv1.Deployment).DeepCopy()
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		ctl.mu.Lock()
		defer ctl.mu.Unlock()
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: want, UpdatedReplicas: want, AvailableReplicas: want, ReadyReplicas: want}
		switch ctl.scenario {
		case "stall":
			d.Status.AvailableReplicas = want - 1
		case "fail":
			d.Status.AvailableReplicas = 0
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
				Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "api-7f" has timed out progressing.`}}
		}
		return true, d, nil
	})
	return kubernetes.NewWithClient(cs, "apps"), cs, ctl
}

func spec(rev int, image string) buildit.DeploySpec {
	return buildit.DeploySpec{Service: "API Server", Environment: "production", Revision: rev, Image: image, Replicas: 3, Port: 8080,
		HealthPath: "/healthz", CPU: "500m", Memory: "256Mi", Env: map[string]string{"LOG_LEVEL": "info", "A": "1"}, Labels: map[string]string{"tenant": "acme/web", "run": "run/t/p/7"}}
}

func TestApplyDeploymentAndService(t *testing.T) {
	b, cs, _ := newBackend(t)
	ctx := context.Background()
	if err := b.Apply(ctx, spec(1, "registry.example.com/api:v1")); err != nil {
		t.Fatal(err)
	}
	d, err := cs.Tracker().Get(deploymentsGVR, "apps", "api-server")
	if err != nil {
		t.Fatal(err)
	}
	dep := d.(*appsv1.Deployment)
	c := dep.Spec.Template.Spec.Containers[0]
	if *dep.Spec.Replicas != 3 || c.Image != "registry.example.com/api:v1" || dep.Annotations[kubernetes.AnnRevision] != "1" ||
		dep.Labels[kubernetes.LabelManagedBy] != "buildit" || dep.Labels["buildit.dev/tenant"] != "acme_web" ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" || len(c.Env) != 2 || c.Env[0].Name != "A" {
		t.Errorf("Deployment %+v", dep)
	}
	if lim := c.Resources.Limits; lim.Cpu().String() != "500m" || lim.Memory().String() != "256Mi" || c.Resources.Requests.Memory().String() != "256Mi" {
		t.Errorf("container resources %+v", c.Resources)
	}
	bad := spec(1, "api:v1")
	bad.Memory = "lots"
	if err := b.Apply(ctx, bad); !deploy.IsConfig(err) || !strings.Contains(err.Error(), `resources memory "lots"`) {
		t.Errorf("a bad memory quantity: %v", err)
	}
	svc, err := cs.CoreV1().Services("apps").Get(ctx, "api-server", metav1.GetOptions{})
	if err != nil || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Selector[kubernetes.LabelName] != "api-server" {
		t.Errorf("Service %+v, %v", svc, err)
	}
	// Applying the same revision again changes nothing.
	before := dep.ResourceVersion
	if err := b.Apply(ctx, spec(1, "registry.example.com/api:v1")); err != nil {
		t.Fatal(err)
	}
	d, _ = cs.Tracker().Get(deploymentsGVR, "apps", "api-server")
	if after := d.(*appsv1.Deployment); after.Spec.Template.Spec.Containers[0].Image != c.Image || after.Annotations[kubernetes.AnnRevision] != "1" {
		t.Errorf("a second apply changed the Deployment (resourceVersion %s -> %s)", before, after.ResourceVersion)
	}
}

func TestRolloutSuccessStallAndFailure(t *testing.T) {
	b, _, ctl := newBackend(t)
	ctx := context.Background()
	s := spec(1, "api:v1")
	if err := b.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Status(ctx, s); err != nil || st.State != buildit.RolloutHealthy {
		t.Errorf("success: %+v %v", st, err)
	}
	if cur, err := b.Current(ctx, "API Server"); err != nil || cur == nil || cur.Revision != 1 || cur.Image != "api:v1" {
		t.Errorf("Current = %+v, %v", cur, err)
	}
	s2 := spec(2, "api:v2")
	if err := b.Apply(ctx, s2); err != nil {
		t.Fatal(err)
	}
	ctl.set("stall")
	if st, err := b.Status(ctx, s2); err != nil || st.State != buildit.RolloutProgressing || !strings.Contains(st.Message, "2 available") {
		t.Errorf("stall: %+v %v", st, err)
	}
	if cur, _ := b.Current(ctx, "API Server"); cur != nil {
		t.Errorf("Current during a stalled rollout = %+v, want none", cur)
	}
	ctl.set("fail")
	if st, err := b.Status(ctx, s2); err != nil || st.State != buildit.RolloutFailed || !strings.Contains(st.Message, "progress deadline") {
		t.Errorf("failure: %+v %v", st, err)
	}
	// The status of another revision than the Deployment's is progressing.
	if st, _ := b.Status(ctx, spec(3, "api:v3")); st.State != buildit.RolloutProgressing {
		t.Errorf("status of a revision not applied: %+v", st)
	}
	// Rollback: revision 1 applied again.
	ctl.set("success")
	if err := b.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	if cur, _ := b.Current(ctx, "API Server"); cur == nil || cur.Revision != 1 || cur.Image != "api:v1" {
		t.Errorf("after rollback Current = %+v", cur)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	for _, tc := range []struct {
		err    error
		config bool
	}{
		{apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "api", errors.New("RBAC: no")), true},
		{apierrors.NewUnauthorized("token expired"), true},
		{apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "api", nil), true},
		{apierrors.NewTooManyRequests("slow down", 3), false},
		{apierrors.NewInternalError(errors.New("etcd")), false},
		{apierrors.NewServiceUnavailable("down"), false},
	} {
		cs := fake.NewClientset()
		cs.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err })
		err := kubernetes.NewWithClient(cs, "apps").Apply(context.Background(), spec(1, "api:v1"))
		if deploy.IsConfig(err) != tc.config {
			t.Errorf("%v: config error %v, want %v", tc.err, deploy.IsConfig(err), tc.config)
		}
		if apierrors.IsTooManyRequests(tc.err) {
			if d, ok := deploy.RetryAfter(err); !ok || d.Seconds() != 3 {
				t.Errorf("429: retry after %v %v", d, ok)
			}
		}
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{"api": "api", "API Server": "api-server", "web_app.v2": "web-app-v2", "---": "service", strings.Repeat("a", 80): strings.Repeat("a", 63)} {
		if got := kubernetes.Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}
