package xds

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/meshlab/meshlab/mesh/config"
)

// Environment variables a sidecar reads its identity from when no Proxy document is given, as
// Kubernetes' downward API sets them in Istio's injected sidecars.
const (
	EnvPodName      = "POD_NAME"
	EnvPodNamespace = "POD_NAMESPACE"
	EnvPodIP        = "INSTANCE_IP" // Istio's name; POD_IP is accepted too
	EnvPodIPAlt     = "POD_IP"
	EnvWorkload     = "WORKLOAD_NAME"
	EnvLabels       = "POD_LABELS" // k=v,k=v
	// EnvZipkinURL overrides where a sidecar on Kubernetes sends its spans (KubeZipkinURL).
	EnvZipkinURL = "ZIPKIN_URL"
	// EnvPodInfoDir is the injector's downward-API volume; its "labels" file holds every pod
	// label (env vars can carry only named ones), read when POD_LABELS is not set.
	EnvPodInfoDir = "MESHLAB_PODINFO_DIR"
)

// KubeZipkinURL is where a sidecar on Kubernetes reports spans unless told otherwise: the
// zipkin Service of meshlab's addons (namespace meshlab-system; the Zipkin chart, or Jaeger's
// Zipkin receiver behind the same name). Istio's default mesh config does the same with
// zipkin.istio-system:9411. With no such Service the spans are dropped and counted, never
// blocking traffic.
const KubeZipkinURL = "http://zipkin.meshlab-system:9411/api/v2/spans"

// kubeSamplePercent samples every request a sidecar starts a trace for, as Istio's demo
// profile does: a lab is for watching traffic. Requests arriving with a decision keep it.
const kubeSamplePercent = 100

// Identity is who a sidecar is, for the control plane.
type Identity struct {
	Proxy   config.Proxy
	Tracing config.Tracing
}

// LoadIdentity takes the Proxy document (and tracing) from files when there are any; the
// environment (getenv) fills in what they leave empty. labels ("k=v,k=v"), when not empty,
// override the pod labels.
func LoadIdentity(files []string, getenv func(string) string, labels string) (Identity, error) {
	var id Identity
	if len(files) > 0 {
		snap, err := config.Load(files...)
		if err != nil {
			return id, fmt.Errorf("xds: proxy identity: %w", err)
		}
		id.Proxy, id.Tracing = snap.Proxy, snap.Tracing
	}
	p := &id.Proxy
	if len(files) == 0 { // a loaded Proxy document always has a namespace ("default" if unsaid)
		p.Namespace = getenv(EnvPodNamespace)
	}
	if p.Namespace == "" {
		p.Namespace = config.DefaultNamespace
	}
	if p.Workload == "" {
		p.Workload = getenv(EnvWorkload)
	}
	if p.Workload == "" {
		p.Workload = getenv(EnvPodName)
	}
	if p.ID == "" {
		name := getenv(EnvPodName)
		if name == "" {
			name = p.Workload
		}
		if name != "" {
			p.ID = name + "." + p.Namespace
		}
	}
	if !p.IP.IsValid() {
		for _, env := range []string{EnvPodIP, EnvPodIPAlt} {
			if v := getenv(env); v != "" {
				ip, err := netip.ParseAddr(v)
				if err != nil {
					return id, fmt.Errorf("xds: %s=%q: %w", env, v, err)
				}
				p.IP = ip
				break
			}
		}
	}
	if labels == "" {
		labels = getenv(EnvLabels)
	}
	if labels == "" && getenv(EnvPodInfoDir) != "" {
		l, err := podInfoLabels(filepath.Join(getenv(EnvPodInfoDir), "labels"))
		if err != nil {
			return id, err
		}
		labels = l
	}
	if labels != "" {
		p.Labels = map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || k == "" {
				return id, fmt.Errorf("xds: labels %q: want k=v,k=v", labels)
			}
			p.Labels[k] = v
		}
	}
	if len(files) == 0 && getenv(EnvPodNamespace) != "" { // on Kubernetes, no Proxy document
		p.Workload = workloadOf(p.Workload, p.Labels)
		id.Tracing = config.Tracing{ZipkinURL: KubeZipkinURL, SamplePercent: kubeSamplePercent}
		if u := getenv(EnvZipkinURL); u != "" {
			id.Tracing.ZipkinURL = u
		}
	}
	if p.ID == "" {
		return id, fmt.Errorf("xds: the proxy has no identity: give a Proxy document with --config, or set %s (and %s, %s)", EnvPodName, EnvPodNamespace, EnvPodIP)
	}
	return id, nil
}

// workloadOf turns a Deployment's pod name into the Deployment's name, as Istio names
// workloads (the source_workload and destination_workload of its metrics): the pod of
// reviews-v1 is reviews-v1-<pod-template-hash>-<suffix>. Other names are kept.
func workloadOf(name string, labels map[string]string) string {
	if h := labels["pod-template-hash"]; h != "" {
		if i := strings.LastIndex(name, "-"+h+"-"); i > 0 {
			return name[:i]
		}
	}
	return name
}

// podInfoLabels reads a downward-API labels file (one key="value" per line, the value quoted as
// a Go string) into the k=v,k=v form. A missing file is no labels.
func podInfoLabels(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("xds: pod labels: %w", err)
	}
	var kvs []string
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		k, q, ok := strings.Cut(line, "=")
		v, err := strconv.Unquote(q)
		if !ok || err != nil {
			return "", fmt.Errorf("xds: pod labels: %s:%d: want key=\"value\", got %q", path, i+1, line)
		}
		kvs = append(kvs, k+"="+v)
	}
	return strings.Join(kvs, ","), nil
}
