// Package inject adds meshlab's sidecar to Kubernetes pods. One pure function (Pod) decides
// whether a pod gets the sidecar and returns the JSON patch that adds it; Manifest applies it to
// the pod templates of multi-document YAML (`meshlab mesh inject -f`, istioctl kube-inject's job)
// and Webhook returns it to the apiserver as a mutating admission webhook. Both paths therefore
// produce the same pod.
package inject

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/version"

	"github.com/meshlab/meshlab/mesh/capture"
)

const (
	// ImageRepository is where the meshlab image (built in-process from the meshlab binary and
	// side-loaded to every node) is tagged. No registry serves it, hence IfNotPresent.
	ImageRepository = "meshlab.local/meshlab"
	// BinaryPath is the meshlab binary inside that image.
	BinaryPath = "/usr/local/bin/meshlab"
	// ProxyBinaryPath is the slim sidecar binary (cmd/meshlab-proxy: only `proxy` and `init`,
	// with meshlab mesh proxy/init's flags) in the same image. The injected proxy and init
	// containers run it: it maps a third of the full binary's memory per sidecar.
	ProxyBinaryPath = "/usr/local/bin/meshlab-proxy"
	// DefaultXDSAddress is the control plane's xDS and CA address as the proxy dials it in a
	// cluster (`meshlab mesh proxy --xds ADDR`): the TLS port, where the sidecar proves who it is
	// with its pod's token (Istio's 15012).
	DefaultXDSAddress = "meshlab-pilot.meshlab-system.svc:15012"
	// PlaintextXDSAddress is the unauthenticated port, for Options.MTLS false (a control plane
	// started with --plaintext-xds).
	PlaintextXDSAddress = "meshlab-pilot.meshlab-system.svc:15010"

	// TokenVolumeName and RootCertVolumeName are the volumes of the sidecar's identity: the
	// projected ServiceAccount token (audience meshlab-ca) and the mesh's trust anchor.
	TokenVolumeName    = "meshlab-token"
	RootCertVolumeName = "meshlab-ca-root-cert"

	// ProxyContainerName and InitContainerName are the injected containers' names.
	ProxyContainerName = "meshlab-proxy"
	InitContainerName  = "meshlab-init"
	// PodInfoVolumeName is the downward-API volume that gives the proxy the pod's labels and
	// annotations (labels change; env vars are fixed at start, files are not).
	PodInfoVolumeName = "meshlab-podinfo"
	PodInfoMountPath  = "/etc/meshlab/pod"

	// ProxyUID is the proxy's UID and GID; the capture rules exempt its traffic.
	ProxyUID = capture.DefaultProxyID
	// HealthPort serves /healthz/ready; MetricsPort serves /stats/prometheus (no merging with the
	// application's metrics: the scrape annotations point at the proxy's own endpoint).
	HealthPort  = 15021
	MetricsPort = 15090
	ReadyPath   = "/healthz/ready"
	MetricsPath = "/stats/prometheus"

	// NativeSidecarMinMinor is the first Kubernetes 1.x minor where sidecar containers
	// (init containers with restartPolicy: Always, KEP-753) are enabled by default (beta in 1.29).
	NativeSidecarMinMinor = 29
)

// Options shape the injected containers. Start from DefaultOptions; the zero value is not useful.
type Options struct {
	Image           string
	ImagePullPolicy corev1.PullPolicy
	Binary          string // the meshlab binary's path inside Image (the postStart `mesh wait`)
	ProxyBinary     string // the sidecar binary's path inside Image (proxy and init containers)
	XDSAddress      string // passed to the proxy as --xds
	// MTLS gives the sidecar a workload identity: its pod's projected token and the mesh root are
	// mounted, it connects to the control plane over TLS and takes part in mutual TLS, and the pod
	// is labelled security.istio.io/tlsMode=istio so that clients originate mutual TLS to it.
	MTLS bool

	// NativeSidecar injects the proxy as an init container with restartPolicy: Always, so the
	// application starts only after the proxy's startup probe passes and Jobs finish when their
	// containers do. Without it the proxy is the first regular container with a postStart hook
	// that blocks until it is ready (see docs in sidecar.go for the trade-off).
	NativeSidecar bool

	ProxyResources corev1.ResourceRequirements
	InitResources  corev1.ResourceRequirements
}

// DefaultOptions returns the options for meshlab version v (the image tag), with native sidecars.
func DefaultOptions(v string) Options {
	return Options{
		Image:           Image(v),
		ImagePullPolicy: corev1.PullIfNotPresent,
		Binary:          BinaryPath,
		ProxyBinary:     ProxyBinaryPath,
		XDSAddress:      DefaultXDSAddress,
		MTLS:            true,
		NativeSidecar:   true,
		// Istio's defaults for its sidecar: requests 100m/128Mi, limits 2000m/1024Mi.
		ProxyResources: resources("100m", "128Mi", "2000m", "1024Mi"),
		// The init container only runs iptables-restore once.
		InitResources: resources("10m", "16Mi", "100m", "64Mi"),
	}
}

// Image is the meshlab image reference for version v ("dev" when v is empty).
func Image(v string) string {
	if v == "" {
		v = "dev"
	}
	return ImageRepository + ":" + v
}

func resources(reqCPU, reqMem, limCPU, limMem string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(reqCPU),
			corev1.ResourceMemory: resource.MustParse(reqMem),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(limCPU),
			corev1.ResourceMemory: resource.MustParse(limMem),
		},
	}
}

// SupportsNativeSidecars reports whether a cluster of the given version runs sidecar containers
// by default (Kubernetes ≥ 1.29). Vendor suffixes such as "29+" in Minor are tolerated.
func SupportsNativeSidecars(v version.Info) (bool, error) {
	major, errMaj := strconv.Atoi(strings.TrimSuffix(v.Major, "+"))
	minor, errMin := strconv.Atoi(strings.TrimRight(v.Minor, "+"))
	if errMaj != nil || errMin != nil {
		return false, fmt.Errorf("kubernetes version %q: major %q / minor %q are not numbers", v.GitVersion, v.Major, v.Minor)
	}
	return major > 1 || (major == 1 && minor >= NativeSidecarMinMinor), nil
}

// VersionGetter returns the apiserver's version; client-go's discovery client is one.
type VersionGetter interface {
	ServerVersion() (*version.Info, error)
}

// NativeSidecarsFor asks the apiserver its version once and says whether to inject native sidecars.
func NativeSidecarsFor(g VersionGetter) (bool, error) {
	v, err := g.ServerVersion()
	if err != nil {
		return false, fmt.Errorf("asking the apiserver its version: %w", err)
	}
	return SupportsNativeSidecars(*v)
}
