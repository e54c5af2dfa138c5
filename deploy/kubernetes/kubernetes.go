// Package kubernetes deploys to a Kubernetes cluster with client-go: a
// server-side apply of a Deployment and, when the service has a port, a
// Service, both labelled as BuildIt's, with the revision in an annotation;
// the rollout is read from the Deployment's observedGeneration, its
// updated and available replicas, and its Progressing condition (the
// progress deadline). A rollback is the previous revision applied again.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsac "k8s.io/client-go/applyconfigurations/apps/v1"
	coreac "k8s.io/client-go/applyconfigurations/core/v1"
	metaac "k8s.io/client-go/applyconfigurations/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/buildit-ci/buildit"
	"github.com/buildit-ci/buildit/deploy"
)

// Labels and annotations BuildIt sets.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelName      = "app.kubernetes.io/name"
	LabelPrefix    = "buildit.dev/"
	AnnRevision    = "buildit.dev/revision"
	FieldManager   = "buildit"
)

// Config is a Kubernetes target: the namespace, and the cluster from a
// kubeconfig (its path and context) or, inside a cluster, the pod's own
// service account.
type Config struct {
	Namespace  string
	Kubeconfig string
	Context    string
}

// Backend deploys to one namespace.
type Backend struct {
	cs k8s.Interface
	ns string
}

// New connects to the cluster cfg names: the kubeconfig at cfg.Kubeconfig
// (else $KUBECONFIG, else ~/.kube/config), or the in-cluster config when
// running in a pod and no kubeconfig is given.
func New(cfg Config) (*Backend, error) {
	var rc *rest.Config
	var err error
	if cfg.Kubeconfig == "" && os.Getenv("KUBECONFIG") == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		rc, err = rest.InClusterConfig()
	} else {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if cfg.Kubeconfig != "" {
			rules.ExplicitPath = cfg.Kubeconfig
		}
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}).ClientConfig()
	}
	if err != nil {
		return nil, deploy.Configf("kubernetes target: no cluster configuration (set kubeconfig or KUBECONFIG, or run in a cluster): %v", err)
	}
	rc.Timeout = 60 * time.Second
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		return nil, deploy.Configf("kubernetes target: %v", err)
	}
	return NewWithClient(cs, cfg.Namespace), nil
}

// NewFromKubeconfig connects with a kubeconfig's contents (a tenant
// secret in server mode), using its context kubeContext or its current one.
func NewFromKubeconfig(kubeconfig []byte, kubeContext, namespace string) (*Backend, error) {
	cc, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, deploy.Configf("kubernetes target: the kubeconfig secret is not a kubeconfig: %v", err)
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cc, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, deploy.Configf("kubernetes target: %v", err)
	}
	rc.Timeout = 60 * time.Second
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		return nil, deploy.Configf("kubernetes target: %v", err)
	}
	return NewWithClient(cs, namespace), nil
}

// NewWithClient returns a Backend on an existing clientset (tests use
// client-go's fake).
func NewWithClient(cs k8s.Interface, namespace string) *Backend {
	if namespace == "" {
		namespace = "default"
	}
	return &Backend{cs: cs, ns: namespace}
}

var dnsLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// Name is the Deployment's and Service's name for a service.
func Name(service string) string {
	n := strings.Trim(dnsLabel.ReplaceAllString(strings.ToLower(service), "-"), "-")
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	if n == "" {
		n = "service"
	}
	return n
}

// labelValue makes v a valid label value (63 characters of [A-Za-z0-9._-],
// starting and ending alphanumeric).
func labelValue(v string) string {
	v = regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(v, "_")
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.Trim(v, "._-")
}

func (b *Backend) labels(s buildit.DeploySpec) map[string]string {
	l := map[string]string{LabelManagedBy: "buildit", LabelName: Name(s.Service), LabelPrefix + "service": labelValue(s.Service)}
	for k, v := range s.Labels {
		l[LabelPrefix+labelValue(k)] = labelValue(v)
	}
	return l
}

// Apply server-side applies the revision's Deployment and Service; the
// same revision applied twice changes nothing.
func (b *Backend) Apply(ctx context.Context, s buildit.DeploySpec) error {
	name := Name(s.Service)
	selector := map[string]string{LabelName: name, LabelManagedBy: "buildit"}
	labels := b.labels(s)
	container := coreac.Container().WithName(name).WithImage(s.Image)
	if s.Port > 0 {
		container.WithPorts(coreac.ContainerPort().WithContainerPort(int32(s.Port)).WithName("http"))
		if s.HealthPath != "" {
			container.WithReadinessProbe(coreac.Probe().WithHTTPGet(
				coreac.HTTPGetAction().WithPath(s.HealthPath).WithPort(intstr.FromInt32(int32(s.Port)))).
				WithPeriodSeconds(5))
		}
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		container.WithEnv(coreac.EnvVar().WithName(k).WithValue(s.Env[k]))
	}
	if s.CPU != "" || s.Memory != "" {
		list := corev1.ResourceList{}
		for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: s.CPU, corev1.ResourceMemory: s.Memory} {
			if v == "" {
				continue
			}
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return deploy.Configf("resources %s %q: %v", name, v, err)
			}
			list[name] = q
		}
		// Requests as limits: the scheduler reserves what the pod may use.
		container.WithResources(coreac.ResourceRequirements().WithRequests(list).WithLimits(list))
	}
	replicas := int32(max(s.Replicas, 1))
	strategy := appsac.DeploymentStrategy().WithType(appsv1.RollingUpdateDeploymentStrategyType).
		WithRollingUpdate(appsac.RollingUpdateDeployment().WithMaxUnavailable(intstr.FromInt32(0)).WithMaxSurge(intstr.FromInt32(1)))
	if s.Strategy == "all-at-once" {
		strategy = appsac.DeploymentStrategy().WithType(appsv1.RecreateDeploymentStrategyType)
	}
	rev := strconv.Itoa(s.Revision)
	dep := appsac.Deployment(name, b.ns).
		WithLabels(labels).
		WithAnnotations(map[string]string{AnnRevision: rev}).
		WithSpec(appsac.DeploymentSpec().
			WithReplicas(replicas).
			WithProgressDeadlineSeconds(600).
			WithStrategy(strategy).
			WithSelector(metaac.LabelSelector().WithMatchLabels(selector)).
			WithTemplate(coreac.PodTemplateSpec().
				WithLabels(labels).
				WithAnnotations(map[string]string{AnnRevision: rev}).
				WithSpec(coreac.PodSpec().WithContainers(container))))
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if _, err := b.cs.AppsV1().Deployments(b.ns).Apply(ctx, dep, opts); err != nil {
		return classify(err, "apply Deployment "+name)
	}
	if s.Port > 0 {
		svc := coreac.Service(name, b.ns).WithLabels(labels).
			WithSpec(coreac.ServiceSpec().WithSelector(selector).WithPorts(
				coreac.ServicePort().WithName("http").WithPort(int32(s.Port)).WithTargetPort(intstr.FromInt32(int32(s.Port)))))
		if _, err := b.cs.CoreV1().Services(b.ns).Apply(ctx, svc, opts); err != nil {
			return classify(err, "apply Service "+name)
		}
	}
	return nil
}

// Status reads the rollout of spec's revision from the Deployment.
func (b *Backend) Status(ctx context.Context, s buildit.DeploySpec) (deploy.Status, error) {
	d, err := b.cs.AppsV1().Deployments(b.ns).Get(ctx, Name(s.Service), metav1.GetOptions{})
	if err != nil {
		return deploy.Status{}, classify(err, "get Deployment "+Name(s.Service))
	}
	return rollout(d, s.Revision), nil
}

// rollout decides a Deployment's state for revision rev.
func rollout(d *appsv1.Deployment, rev int) deploy.Status {
	if d.Annotations[AnnRevision] != strconv.Itoa(rev) {
		return deploy.Status{State: buildit.RolloutProgressing, Message: fmt.Sprintf("the Deployment is at revision %s", d.Annotations[AnnRevision])}
	}
	if d.Status.ObservedGeneration < d.Generation {
		return deploy.Status{State: buildit.RolloutProgressing, Message: "the Deployment controller has not seen the change yet"}
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return deploy.Status{State: buildit.RolloutFailed, Message: "progress deadline exceeded: " + c.Message}
		}
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			return deploy.Status{State: buildit.RolloutFailed, Message: "replica failure: " + c.Message}
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	if st.UpdatedReplicas < want || st.AvailableReplicas < want || st.Replicas > st.UpdatedReplicas {
		return deploy.Status{State: buildit.RolloutProgressing, Message: fmt.Sprintf("%d of %d replicas updated, %d available, %d old still running",
			st.UpdatedReplicas, want, st.AvailableReplicas, max(st.Replicas-st.UpdatedReplicas, 0))}
	}
	return deploy.Status{State: buildit.RolloutHealthy, Message: fmt.Sprintf("%d replicas updated and available on revision %d", want, rev)}
}

// Current returns the revision the Deployment runs when its rollout is
// complete and healthy.
func (b *Backend) Current(ctx context.Context, service string) (*buildit.DeploySpec, error) {
	d, err := b.cs.AppsV1().Deployments(b.ns).Get(ctx, Name(service), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err, "get Deployment "+Name(service))
	}
	rev, _ := strconv.Atoi(d.Annotations[AnnRevision])
	if rev == 0 || len(d.Spec.Template.Spec.Containers) == 0 || rollout(d, rev).State != buildit.RolloutHealthy {
		return nil, nil
	}
	return &buildit.DeploySpec{Service: service, Revision: rev, Image: d.Spec.Template.Spec.Containers[0].Image}, nil
}

// classify sorts API errors: refused credentials and invalid objects are
// configuration errors; timeouts, throttling and server errors pass.
func classify(err error, what string) error {
	var se apierrors.APIStatus
	switch {
	case apierrors.IsUnauthorized(err), apierrors.IsForbidden(err):
		return deploy.Configf("kubernetes refused to %s: %v (check the kubeconfig's credentials and their RBAC in the namespace)", what, err)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsNotFound(err) && strings.Contains(what, "apply"):
		return deploy.Configf("kubernetes refused to %s: %v", what, err)
	case apierrors.IsTooManyRequests(err):
		d, _ := apierrors.SuggestsClientDelay(err)
		return deploy.Transient(fmt.Errorf("kubernetes: %s: %w", what, err), time.Duration(d)*time.Second)
	case apierrors.IsNotFound(err):
		return deploy.Transient(fmt.Errorf("kubernetes: %s: %w", what, err), 0)
	case errors.As(err, &se) && se.Status().Code >= 400 && se.Status().Code < 500 && se.Status().Code != 408 && se.Status().Code != 409:
		return deploy.Configf("kubernetes refused to %s: %v", what, err)
	}
	return deploy.Transient(fmt.Errorf("kubernetes: %s: %w", what, err), 0)
}
