package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/mesh/inject"
	"github.com/meshlab/meshlab/mesh/spiffe"
)

// The mutual TLS checks: what a mesh's security half must show on Bookinfo.
//
//   - every hop between Bookinfo's sidecars is mutual TLS, as the destination sidecars' own
//     istio_requests_total says (connection_security_policy and both principals);
//   - with a STRICT PeerAuthentication in the namespace, a plaintext request from a pod without
//     a sidecar to productpage's pod address is refused, while the page still loads through the
//     gateway (which originates mutual TLS);
//   - with PERMISSIVE, the same plaintext request is answered.
//
// The policy checks change the namespace's PeerAuthentication "default" through the Router and
// put the user's back afterwards, as the routing checks do with their samples.

// hops are Bookinfo's calls between sidecars: destination app -> the apps that call it.
var hops = map[string][]string{"details": {"productpage"}, "reviews": {"productpage"}, "ratings": {"reviews"}}

// principal is Bookinfo's identity of app: each service runs as its bookinfo-<app> account.
func principal(namespace, app string) string {
	return spiffe.ID{TrustDomain: spiffe.DefaultTrustDomain, Namespace: namespace, ServiceAccount: "bookinfo-" + app}.String()
}

// mtlsHops loads the page, then reads the metrics of every destination sidecar (through the
// apiserver's pod proxy) for the destination-reported series of each hop.
func mtlsHops(kube kubernetes.Interface, get PodHTTP, namespace string, b Browser) CheckFunc {
	return func(ctx context.Context) (Observation, error) {
		// Only reviews v2 and v3 call ratings: with reviews picked evenly among three versions, ten
		// loads miss both with probability (1/3)^10 < 2e-5, and a retry loads ten more.
		for range 10 {
			if _, err := b.Get(ctx, nil); err != nil {
				return Observation{Observed: "productpage failed"}, err
			}
		}
		pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return Observation{Observed: "cannot list pods"}, err
		}
		seen := map[string]bool{} // "src->dst" over mutual TLS with the right principals
		var plain, wrong []string
		for i := range pods.Items {
			p := &pods.Items[i]
			callers, ok := hops[p.Labels["app"]]
			if !ok || p.Status.Phase != corev1.PodRunning {
				continue
			}
			body, err := get(ctx, namespace, p.Name, inject.MetricsPort, inject.MetricsPath)
			if err != nil {
				return Observation{Observed: "sidecar metrics unreadable"}, fmt.Errorf("metrics of %s: %w", p.Name, err)
			}
			for _, s := range parseRequestSeries(string(body)) {
				if s["reporter"] != "destination" || !contains(callers, s["source_app"]) {
					continue
				}
				hop := s["source_app"] + "->" + s["destination_app"]
				switch {
				case s["connection_security_policy"] != "mutual_tls":
					plain = append(plain, hop+" ("+p.Name+": "+s["connection_security_policy"]+")")
				case s["source_principal"] != principal(namespace, s["source_app"]) || s["destination_principal"] != principal(namespace, s["destination_app"]):
					wrong = append(wrong, fmt.Sprintf("%s (%s: %s -> %s)", hop, p.Name, s["source_principal"], s["destination_principal"]))
				default:
					seen[hop] = true
				}
			}
		}
		var missing []string
		for dst, srcs := range hops {
			for _, src := range srcs {
				if !seen[src+"->"+dst] {
					missing = append(missing, src+"->"+dst)
				}
			}
		}
		o := Observation{Observed: fmt.Sprintf("%d of 3 hops mutual TLS", len(seen))}
		var problems []string
		if len(missing) > 0 {
			problems = append(problems, "no mutual TLS series for "+strings.Join(missing, ", "))
		}
		if len(plain) > 0 {
			problems = append(problems, "plaintext between sidecars: "+strings.Join(plain, ", "))
		}
		if len(wrong) > 0 {
			problems = append(problems, "unexpected principals: "+strings.Join(wrong, ", "))
		}
		if len(problems) > 0 {
			o.Detail = strings.Join(problems, "; ")
			return o, errors.New("not every Bookinfo hop is mutual TLS between the services' own identities")
		}
		return o, nil
	}
}

// parseRequestSeries parses the istio_requests_total lines of a Prometheus text exposition into
// their labels.
func parseRequestSeries(text string) []map[string]string {
	var out []map[string]string
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, "istio_requests_total{")
		if !ok {
			continue
		}
		end := strings.LastIndex(rest, "}")
		if end < 0 {
			continue
		}
		labels := map[string]string{}
		for _, kv := range splitLabels(rest[:end]) {
			k, v, _ := strings.Cut(kv, "=")
			labels[k] = strings.Trim(v, `"`)
		}
		out = append(out, labels)
	}
	return out
}

// splitLabels splits k="v",k="v" at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// peerAuthentication is the namespace-wide policy the checks apply (Istio's usual "default").
func peerAuthentication(namespace, mode string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
		"metadata": map[string]any{"name": "default", "namespace": namespace},
		"spec":     map[string]any{"mtls": map[string]any{"mode": mode}},
	}}
}

// plaintextUnderPolicy applies mode to the namespace, waits until productpage's sidecar
// enforces it, and sends a plaintext request from a pod without a sidecar to productpage's pod
// address: refused is what STRICT must do, answered what PERMISSIVE must. Under STRICT the page
// must still load through the gateway.
func plaintextUnderPolicy(kube kubernetes.Interface, get PodHTTP, r Router, namespace, cpNamespace, cpSelector string, b Browser, mode string, wantRefused bool) CheckFunc {
	return func(ctx context.Context) (o Observation, err error) {
		restore, err := r.Apply(ctx, []*unstructured.Unstructured{peerAuthentication(namespace, mode)})
		defer func() {
			if restore == nil {
				return
			}
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RestoreTimeout)
			defer cancel()
			if rerr := restore(rctx); rerr != nil {
				err = errors.Join(err, fmt.Errorf("YOUR PeerAuthentication WAS NOT RESTORED: %w", rerr))
			}
		}()
		if err != nil {
			return Observation{}, err
		}
		pp, err := productpagePod(ctx, kube, namespace)
		if err != nil {
			return Observation{Observed: "no productpage pod"}, err
		}
		if err := waitInbound(ctx, get, namespace, pp.Name, mode); err != nil {
			return Observation{Observed: "the policy did not take effect"}, err
		}
		image, err := meshlabImage(ctx, kube, cpNamespace, cpSelector)
		if err != nil {
			return Observation{Observed: "no client image"}, err
		}
		target := fmt.Sprintf("http://%s:9080/productpage", pp.Status.PodIP)
		answered, log, err := plaintextClient(ctx, kube, namespace, image, target)
		if err != nil {
			return Observation{Observed: "client pod did not run"}, err
		}
		what := map[bool]string{true: "answered", false: "refused"}[answered]
		o = Observation{Observed: fmt.Sprintf("%s: plaintext from a pod without a sidecar to %s %s", mode, target, what)}
		if answered == wantRefused {
			o.Detail = log
			return o, fmt.Errorf("under %s the plaintext request was %s, want %s", mode, what, map[bool]string{true: "refused", false: "answered"}[wantRefused])
		}
		if wantRefused {
			if _, err := b.Get(ctx, nil); err != nil {
				o.Detail = "the gateway and the sidecars must speak mutual TLS to productpage"
				return o, fmt.Errorf("under %s the page no longer loads through the gateway: %w", mode, err)
			}
			o.Observed += "; the page loads through the gateway"
		}
		return o, nil
	}
}

func productpagePod(ctx context.Context, kube kubernetes.Interface, namespace string) (*corev1.Pod, error) {
	pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=productpage"})
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no running productpage pod in %s", namespace)
}

// waitInbound waits until the pod's sidecar enforces mode (its /certs, through the pod proxy).
func waitInbound(ctx context.Context, get PodHTTP, namespace, pod, mode string) error {
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		body, err := get(ctx, namespace, pod, inject.HealthPort, "/certs")
		if err == nil {
			var st struct {
				Inbound string `json:"inboundMTLS"`
			}
			if json.Unmarshal(body, &st) == nil {
				last = st.Inbound
				if strings.HasPrefix(st.Inbound, mode) {
					return nil
				}
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the sidecar of %s enforces %q 30 s after the policy was applied, not %s (an older PeerAuthentication in the namespace wins?)", pod, last, mode)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// meshlabImage is the control plane's image, which holds the meshlab binary the client runs.
func meshlabImage(ctx context.Context, kube kubernetes.Interface, namespace, selector string) (string, error) {
	pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return "", err
	}
	for _, p := range pods.Items {
		if len(p.Spec.Containers) > 0 {
			return p.Spec.Containers[0].Image, nil
		}
	}
	return "", fmt.Errorf("no control-plane pod (%s) in %s to take the meshlab image from", selector, namespace)
}

// plaintextClient runs one pod without a sidecar that GETs url (meshlab mesh wait: 200 within
// 10 s) and reports whether it was answered, with the pod's last log lines.
func plaintextClient(ctx context.Context, kube kubernetes.Interface, namespace, image, url string) (bool, string, error) {
	pods := kube.CoreV1().Pods(namespace)
	name := "meshlab-verify-plaintext-" + rand.String(5)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "meshlab-verify", inject.IstioInjectKey: "false"}},
		Spec: corev1.PodSpec{
			RestartPolicy:         corev1.RestartPolicyNever,
			ActiveDeadlineSeconds: new(int64(60)),
			Containers: []corev1.Container{{
				Name: "client", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{inject.BinaryPath, "mesh", "wait", "--url", url, "--timeout", "10s", "--interval", "500ms"},
				SecurityContext: &corev1.SecurityContext{RunAsUser: new(int64(65534)), RunAsNonRoot: new(true),
					AllowPrivilegeEscalation: new(false)},
			}},
		},
	}
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		return false, "", fmt.Errorf("create the client pod: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		_ = pods.Delete(dctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))})
	}()
	deadline := time.Now().Add(90 * time.Second)
	for {
		got, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err == nil && (got.Status.Phase == corev1.PodSucceeded || got.Status.Phase == corev1.PodFailed) {
			logs, _ := pods.GetLogs(name, &corev1.PodLogOptions{TailLines: new(int64(3))}).DoRaw(ctx)
			return got.Status.Phase == corev1.PodSucceeded, strings.TrimSpace(string(logs)), nil
		}
		if time.Now().After(deadline) {
			return false, "", fmt.Errorf("the client pod %s/%s did not finish within 90 s", namespace, name)
		}
		select {
		case <-ctx.Done():
			return false, "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
