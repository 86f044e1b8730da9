package inject

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// Result is what Pod decided for one pod.
type Result struct {
	// Skip is why the pod was left alone ("" when it was injected); Patch is then empty.
	Skip  string
	Patch Patch
}

// Injected reports whether the pod got a sidecar.
func (r Result) Injected() bool { return r.Skip == "" }

// Status is the StatusAnnotation's value: what was added, so tools can tell and undo it.
type Status struct {
	Image          string   `json:"image"`
	Native         bool     `json:"nativeSidecar"`
	InitContainers []string `json:"initContainers"`
	Containers     []string `json:"containers"`
	Volumes        []string `json:"volumes"`
}

// Pod is the injector: given a pod's (or pod template's) metadata and spec, it returns the JSON
// patch that adds the capture init container, the proxy, the podinfo volume and the
// annotations, or a skip reason. It is pure: same input, same patch; it never changes its
// arguments. An error means a per-pod annotation is invalid; the error names it.
func Pod(meta metav1.ObjectMeta, spec corev1.PodSpec, o Options) (Result, error) {
	if why := skipReason(&meta, &spec); why != "" {
		return Result{Skip: why}, nil
	}
	flags, err := captureFlags(meta.Annotations)
	if err != nil {
		return Result{}, err
	}
	apps := make([]string, 0, len(spec.Containers))
	for _, c := range spec.Containers {
		apps = append(apps, c.Name)
	}
	if err := checkNames(&spec); err != nil {
		return Result{}, err
	}
	initC := initContainer(o, flags)
	proxy := proxyContainer(o, apps)
	if v, ok := meta.Annotations[CertTTLAnnotation]; ok && o.MTLS {
		ttl, err := time.ParseDuration(v)
		if err != nil || ttl < 10*time.Second || ttl > 90*24*time.Hour {
			return Result{}, fmt.Errorf("annotation %s=%q: want a duration from 10s to 2160h (90 days), e.g. 5m", CertTTLAnnotation, v)
		}
		proxy.Args = append(proxy.Args, "--cert-ttl", ttl.String())
	}
	st := Status{Image: o.Image, Native: o.NativeSidecar, Volumes: []string{PodInfoVolumeName}}
	volumes := []corev1.Volume{podInfoVolume()}
	if o.MTLS {
		volumes = append(volumes, identityVolumes()...)
		st.Volumes = append(st.Volumes, TokenVolumeName, RootCertVolumeName)
	}

	var p Patch
	hasInit := spec.InitContainers != nil
	if o.NativeSidecar {
		// Capture first, then the proxy, then the user's init containers (behind a ready proxy).
		p = append(p, insertAt("/spec/initContainers", hasInit, 0, initC, proxy)...)
		st.InitContainers = []string{InitContainerName, ProxyContainerName}
		st.Containers = []string{}
	} else {
		// The proxy must be the first container for its postStart hook to hold the others.
		p = append(p, insertAt("/spec/initContainers", hasInit, 0, initC)...)
		p = append(p, insertAt("/spec/containers", spec.Containers != nil, 0, proxy)...)
		st.InitContainers = []string{InitContainerName}
		st.Containers = []string{ProxyContainerName}
	}
	p = append(p, insertAt("/spec/volumes", spec.Volumes != nil, -1, volumes...)...)

	status, err := json.Marshal(st)
	if err != nil {
		return Result{}, fmt.Errorf("encoding %s: %w", StatusAnnotation, err)
	}
	add := map[string]string{StatusAnnotation: string(status)}
	// Without metrics merging the scrape target is the proxy's own endpoint. A pod that already
	// asks to be scraped keeps its own settings: overriding them would lose the app's metrics.
	if _, own := meta.Annotations[PrometheusScrapeAnnotation]; !own {
		add[PrometheusScrapeAnnotation] = "true"
		add[PrometheusPortAnnotation] = strconv.Itoa(MetricsPort)
		add[PrometheusPathAnnotation] = MetricsPath
	}
	// kubectl logs/exec pick this container by default; without it they would pick the proxy
	// when it is the first container.
	if _, own := meta.Annotations[DefaultContainerAnnotation]; !own && len(apps) > 0 {
		add[DefaultContainerAnnotation] = apps[0]
	}
	p = append(p, addKeys("/metadata/annotations", meta.Annotations, add)...)
	if o.MTLS {
		// Clients originate mutual TLS to pods with this label (auto mTLS).
		p = append(p, addKeys("/metadata/labels", meta.Labels, map[string]string{xdsnames.TLSModeLabel: xdsnames.TLSModeIstio})...)
	}
	return Result{Patch: p}, nil
}

// checkNames refuses pods that already use the injected names (a hand-written sidecar, or an
// injection whose status annotation was stripped): a second container of the same name would be
// rejected by the apiserver with a less helpful message.
func checkNames(spec *corev1.PodSpec) error {
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range list {
			if c.Name == ProxyContainerName || c.Name == InitContainerName {
				return fmt.Errorf("container %q already exists but %s is missing: remove it or add the annotation", c.Name, StatusAnnotation)
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.Name == PodInfoVolumeName || v.Name == TokenVolumeName || v.Name == RootCertVolumeName {
			return fmt.Errorf("volume %q already exists but %s is missing", v.Name, StatusAnnotation)
		}
	}
	return nil
}
