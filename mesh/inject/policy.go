package inject

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations and labels the injector reads or writes. The Istio names are honoured so that
// manifests written for Istio (Bookinfo, the walk-through) behave the same here.
const (
	// StatusAnnotation records what was injected; its presence makes injection a no-op, so
	// injecting twice (CLI then webhook, or a webhook reinvocation) changes nothing.
	StatusAnnotation = "sidecar.meshlab.dev/status"
	// InjectKey opts a pod in or out ("true"/"enabled", "false"/"disabled"), as an annotation
	// or a label; IstioInjectKey is Istio's equivalent.
	InjectKey      = "meshlab.dev/inject"
	IstioInjectKey = "sidecar.istio.io/inject"

	// Per-pod capture settings, Istio's names, mapped onto `meshlab mesh init` flags.
	IncludeOutboundIPRangesAnnotation = "traffic.sidecar.istio.io/includeOutboundIPRanges" // -i
	ExcludeOutboundIPRangesAnnotation = "traffic.sidecar.istio.io/excludeOutboundIPRanges" // -x
	IncludeInboundPortsAnnotation     = "traffic.sidecar.istio.io/includeInboundPorts"     // -b
	ExcludeInboundPortsAnnotation     = "traffic.sidecar.istio.io/excludeInboundPorts"     // -d (added to the proxy's own ports)
	ExcludeOutboundPortsAnnotation    = "traffic.sidecar.istio.io/excludeOutboundPorts"    // -o

	// CertTTLAnnotation asks a shorter (or longer) workload certificate for the pod's sidecar
	// than the CA's 24 h, e.g. "5m" to watch renewals; the sidecar renews at half of it.
	CertTTLAnnotation = "meshlab.dev/cert-ttl"

	// Prometheus scrape annotations the injector adds.
	PrometheusScrapeAnnotation = "prometheus.io/scrape"
	PrometheusPortAnnotation   = "prometheus.io/port"
	PrometheusPathAnnotation   = "prometheus.io/path"
	// DefaultContainerAnnotation tells kubectl which container to log and exec into.
	DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"
)

// Skip reasons: why a pod was left alone. They appear in Result.Skip and in logs.
const (
	SkipAlreadyInjected = "already injected (" + StatusAnnotation + " present)"
	SkipOptedOut        = "opted out by annotation or label"
	SkipHostNetwork     = "uses the host network: capture rules would rewrite the node's own iptables"
)

// skipReason says why a pod must not be injected, or "" when it should be. Pod-level opt-out
// wins in both paths; namespace opt-in is the webhook's selector's business, and the CLI
// injects everything not opted out (as istioctl kube-inject does).
func skipReason(meta *metav1.ObjectMeta, spec *corev1.PodSpec) string {
	if _, ok := meta.Annotations[StatusAnnotation]; ok {
		return SkipAlreadyInjected
	}
	if optedOut(meta.Annotations) || optedOut(meta.Labels) {
		return SkipOptedOut
	}
	if spec.HostNetwork {
		return SkipHostNetwork
	}
	return ""
}

func optedOut(m map[string]string) bool {
	for _, k := range []string{InjectKey, IstioInjectKey} {
		switch strings.ToLower(strings.TrimSpace(m[k])) {
		case "false", "disabled", "no", "n":
			return true
		}
	}
	return false
}
