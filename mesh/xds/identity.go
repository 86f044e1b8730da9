package xds

import (
	"fmt"
	"net/netip"
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
)

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
	if p.ID == "" {
		return id, fmt.Errorf("xds: the proxy has no identity: give a Proxy document with --config, or set %s (and %s, %s)", EnvPodName, EnvPodNamespace, EnvPodIP)
	}
	return id, nil
}
