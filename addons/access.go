package addons

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// EnsureGrafanaAdmin makes the Secret holding the Grafana admin's password (GrafanaAdminSecret,
// key "password"), a fresh random one, unless it exists. The password comes back only when it
// was made now (created), so the caller shows it once; afterwards it stays in the Secret.
func EnsureGrafanaAdmin(ctx context.Context, cs kubernetes.Interface, namespace string) (password string, created bool, err error) {
	secrets := cs.CoreV1().Secrets(namespace)
	if _, err := secrets.Get(ctx, GrafanaAdminSecret, metav1.GetOptions{}); err == nil {
		return "", false, nil
	} else if !apierrors.IsNotFound(err) {
		return "", false, fmt.Errorf("grafana admin secret: %w", err)
	}
	password = rand.Text() // 26 base32 characters: 130 bits
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: GrafanaAdminSecret, Namespace: namespace,
			Labels: map[string]string{"app": Grafana, "app.kubernetes.io/part-of": "meshlab"}},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{"user": "admin", "password": password},
	}
	if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) { // made meanwhile by another run: that one holds it
			return "", false, nil
		}
		return "", false, fmt.Errorf("grafana admin secret: %w", err)
	}
	return password, true, nil
}

// UIService names the Service of each addon's UI and API (Jaeger's UI is "tracing"; its
// "zipkin" Service only takes spans).
func UIService(addon string) (string, error) {
	switch addon {
	case Zipkin, Prometheus, Grafana:
		return addon, nil
	case Jaeger:
		return "tracing", nil
	}
	return "", fmt.Errorf("no addon %q: want one of %s", addon, strings.Join(Names(), ", "))
}

// Forward is a port-forward from this machine to an addon's pod through the API server.
type Forward struct {
	URL  string // http://127.0.0.1:PORT
	stop chan struct{}
	once sync.Once
	done chan struct{} // closed when the forward ended; err says why
	err  error
}

// Close stops the forward and returns why it ended (nil when Close ended it).
func (f *Forward) Close() error {
	f.once.Do(func() { close(f.stop) })
	<-f.done
	return f.err
}

// Done is closed when the forward ends (the pod went away, the connection broke, Close).
func (f *Forward) Done() <-chan struct{} { return f.done }

// PortForward forwards a local port (localPort; 0 picks a free one) on 127.0.0.1 to a ready pod
// behind the addon's UI Service, through the API server (`kubectl port-forward`'s path), so an
// addon without a NodePort (components.addonService: ClusterIP) is still reachable from here,
// only by whoever holds the kubeconfig.
func PortForward(ctx context.Context, cfg *rest.Config, namespace, addon string, localPort int) (*Forward, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	name, err := UIService(addon)
	if err != nil {
		return nil, err
	}
	svc, err := cs.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s: service %s/%s: %w", addon, namespace, name, err)
	}
	if len(svc.Spec.Ports) == 0 || len(svc.Spec.Selector) == 0 {
		return nil, fmt.Errorf("port-forward to %s: service %s/%s has no ports or no selector", addon, namespace, name)
	}
	target := svc.Spec.Ports[0].TargetPort.IntValue()
	if target == 0 {
		target = int(svc.Spec.Ports[0].Port)
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s: %w", addon, err)
	}
	pod := ""
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && ready(p) {
			pod = p.Name
			break
		}
	}
	if pod == "" {
		return nil, fmt.Errorf("port-forward to %s: no ready pod behind service %s/%s", addon, namespace, name)
	}
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s: %w", addon, err)
	}
	u, err := url.Parse(strings.TrimSuffix(cfg.Host, "/") + cfg.APIPath)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s: API server URL %q: %w", addon, cfg.Host, err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/namespaces/" + namespace + "/pods/" + pod + "/portforward"
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	f := &Forward{stop: make(chan struct{}), done: make(chan struct{})}
	readyCh := make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{strconv.Itoa(localPort) + ":" + strconv.Itoa(target)},
		f.stop, readyCh, io.Discard, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s: %w", addon, err)
	}
	go func() {
		f.err = pf.ForwardPorts()
		close(f.done)
	}()
	select {
	case <-readyCh:
	case <-f.done:
		err := f.err
		if err == nil {
			err = errors.New("ended before it was ready")
		}
		return nil, fmt.Errorf("port-forward to %s (pod %s): %w", addon, pod, err)
	case <-ctx.Done():
		_ = f.Close()
		return nil, ctx.Err()
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) == 0 {
		_ = f.Close()
		return nil, fmt.Errorf("port-forward to %s: no local port: %v", addon, err)
	}
	f.URL = "http://127.0.0.1:" + strconv.Itoa(int(ports[0].Local))
	return f, nil
}

func ready(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
