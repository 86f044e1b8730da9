package verify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Addons verify checks, by the role they play in the lab (Jaeger and Zipkin both play tracing).
const (
	AddonTracing    = "tracing"
	AddonPrometheus = "prometheus"
	AddonGrafana    = "grafana"
)

// DownError is a backend that does not answer and will not until someone acts: the connection
// is refused, or its Service has no ready endpoint. The runner does not retry it (waiting
// changes nothing), and its Hint, which names the backend's own pods, replaces the check's.
type DownError struct {
	Backend string // "tracing", "prometheus", "the ingress gateway"
	Reason  string // "no ready endpoints for service zipkin in meshlab-system (0/1 pods ready)"
	Hint    string // "kubectl -n meshlab-system get deploy,pods -l app=jaeger"
	Err     error  // what the request saw
}

func (e *DownError) Error() string { return e.Backend + ": " + e.Reason }
func (e *DownError) Unwrap() error { return e.Err }

// final marks a failure that retrying within a check's budget cannot change (a workload with no
// pod at all): the runner reports it at once.
type final struct{ error }

func (f final) Unwrap() error { return f.error }

// isFinal: the runner stops retrying.
func isFinal(err error) bool {
	var d *DownError
	var f final
	return errors.As(err, &d) || errors.As(err, &f)
}

// backend is an addon (or the gateway) that checks reach over HTTP at a NodePort. When a request
// gets no answer, it finds out why from the cluster, so the check fails at once with the reason
// instead of retrying a dead backend for its whole budget.
type backend struct {
	name string // as the error names it
	url  string
	kube kubernetes.Interface // nil: only the error itself tells refused from slow
	// absent says the lab has no such backend and why (ErrNotInBundle, or a *SkipError); its
	// checks report that without probing.
	absent error
}

// check wraps f: absent backends are reported as such; an unanswered request is diagnosed.
func (b backend) check(f CheckFunc) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		if b.absent != nil {
			var skip *SkipError
			if errors.As(b.absent, &skip) {
				return Observation{}, b.absent // the reason is the observation
			}
			return Observation{Observed: "not installed"}, b.absent
		}
		o, err := f(ctx)
		if err == nil || !noAnswer(err) {
			return o, err
		}
		if d := b.diagnose(ctx, err); d != nil {
			return Observation{Observed: d.observed}, d.err
		}
		return o, err
	}
}

type diagnosis struct {
	observed string
	err      *DownError
}

// diagnose decides whether an unanswered request means the backend is down. With the cluster at
// hand it asks the Service behind the NodePort for ready endpoints: none means down (whatever the
// error); some means the failure may pass (a pod just became ready, a proxy rule is being
// written), and the check retries within its budget. Without the cluster only a refused
// connection counts as down.
func (b backend) diagnose(ctx context.Context, err error) *diagnosis {
	port := nodePort(b.url)
	if b.kube == nil || port == 0 {
		if refused(err) {
			return &diagnosis{observed: "connection refused", err: &DownError{Backend: b.name, Reason: "connection refused at " + b.url, Err: err}}
		}
		return nil
	}
	svc, err2 := serviceWithNodePort(ctx, b.kube, port)
	switch {
	case err2 != nil:
		// The cluster cannot say: fall back to the error itself.
		if refused(err) {
			return &diagnosis{observed: "connection refused", err: &DownError{Backend: b.name,
				Reason: fmt.Sprintf("connection refused at %s (and the cluster could not say why: %v)", b.url, err2), Err: err}}
		}
		return nil
	case svc == nil:
		return &diagnosis{observed: "no service", err: &DownError{Backend: b.name,
			Reason: fmt.Sprintf("no service in the cluster has NodePort %d: %s is not installed", port, b.name),
			Hint:   "install it: `meshlab up` (components.addons in the hosts file) or `meshlab addons install`", Err: err}}
	}
	ready, err2 := readyEndpoints(ctx, b.kube, svc)
	if err2 != nil || ready > 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector).String()
	podsReady, pods := podReadiness(ctx, b.kube, svc.Namespace, sel)
	state := "no pods"
	if pods > 0 {
		state = fmt.Sprintf("%d/%d pods ready", podsReady, pods)
	}
	return &diagnosis{observed: state, err: &DownError{Backend: b.name,
		Reason: fmt.Sprintf("no ready endpoints for service %s in %s (%s)", svc.Name, svc.Namespace, state),
		Hint:   fmt.Sprintf("kubectl -n %s get deploy,pods -l %s (a deployment at 0 replicas: kubectl -n %s scale deploy -l %s --replicas=1)", svc.Namespace, sel, svc.Namespace, sel),
		Err:    err}}
}

// noAnswer: the request got no HTTP answer at all, or the API server's proxy answered for a
// Service with no endpoints (503 "no endpoints available for service").
func noAnswer(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.code == 503 && strings.Contains(se.body, "no endpoints available")
	}
	var ue *url.Error // what net/http's client returns when no response came
	return errors.As(err, &ue)
}

// refused: nothing listens (kube-proxy rejects a NodePort whose Service has no endpoints), or
// the address cannot be reached at all. Neither passes by waiting seconds.
func refused(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.code == 503 && strings.Contains(se.body, "no endpoints available")
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

func nodePort(u string) int {
	p, err := url.Parse(u)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(p.Port())
	if err != nil {
		return 0
	}
	return n
}

// serviceWithNodePort finds the Service that owns a NodePort (unique in a cluster), or nil.
func serviceWithNodePort(ctx context.Context, kube kubernetes.Interface, port int) (*corev1.Service, error) {
	svcs, err := kube.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	for i := range svcs.Items {
		for _, p := range svcs.Items[i].Spec.Ports {
			if int(p.NodePort) == port {
				return &svcs.Items[i], nil
			}
		}
	}
	return nil, nil
}

// readyEndpoints counts the ready addresses of svc's EndpointSlices (a missing Ready condition
// means ready, as the API documents).
func readyEndpoints(ctx context.Context, kube kubernetes.Interface, svc *corev1.Service) (int, error) {
	slices, err := kube.DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name})
	if err != nil {
		return 0, fmt.Errorf("list endpoint slices of %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	n := 0
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				n += len(e.Addresses)
			}
		}
	}
	return n, nil
}

// podReadiness counts the pods a selector picks and those Ready; errors count as no pods (the
// numbers only explain a failure already found).
func podReadiness(ctx context.Context, kube kubernetes.Interface, namespace, selector string) (ready, total int) {
	pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, 0
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		total++
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return ready, total
}
