package addons

import (
	"fmt"
	"strings"

	"github.com/meshlab/meshlab/provision/versions"
)

// Namespace is where the addons (and the mesh's control plane) run.
const Namespace = "meshlab-system"

// Settings are what the hosts file decides about the addons.
type Settings struct {
	Addons    []string       // which to install
	NodePorts map[string]int // addon name → NodePort (the tracing UI uses the "zipkin" key for either backend)
	Images    versions.Addons
	// PullPolicy is Never for an offline lab whose images were side-loaded, else IfNotPresent.
	PullPolicy string
	// ServiceType is how the addons' UIs are reached: ServiceNodePort ("", every node's
	// NodePort, the walk-through's way) or ServiceClusterIP (inside the cluster only; PortForward
	// reaches them through the API server).
	ServiceType string
}

// The addons' Service types (components.addonService in the hosts file).
const (
	ServiceNodePort  = "NodePort"
	ServiceClusterIP = "ClusterIP"
)

// GrafanaAdminSecret holds the Grafana admin's password (key "password"), made by
// EnsureGrafanaAdmin before Grafana is installed.
const GrafanaAdminSecret = "grafana-admin"

// ClusterIPOnly says whether the addons are reachable only from inside the cluster.
func (s Settings) ClusterIPOnly() bool { return s.ServiceType == ServiceClusterIP }

// Values returns the chart values of one addon for these settings.
func (s Settings) Values(name string) (map[string]any, error) {
	image := map[string]string{
		Zipkin: s.Images.Zipkin, Jaeger: s.Images.Jaeger, Prometheus: s.Images.Prometheus, Grafana: s.Images.Grafana,
	}[name]
	repo, tag, err := splitImage(image)
	if err != nil {
		return nil, fmt.Errorf("addon %s: image: %w", name, err)
	}
	policy := s.PullPolicy
	if policy == "" {
		policy = "IfNotPresent"
	}
	img := map[string]any{"repository": repo, "tag": tag, "pullPolicy": policy}
	port := s.NodePorts[name]
	if name == Jaeger {
		port = s.NodePorts[Zipkin] // one tracing UI port, whichever backend
		img["generation"] = "v2"
		if strings.HasPrefix(tag, "1.") {
			img["generation"] = "v1"
		}
	}
	v := map[string]any{"image": img}
	if port != 0 {
		v["nodePort"] = port
	}
	if s.ServiceType != "" {
		v["serviceType"] = s.ServiceType
	}
	if name == Grafana {
		v["adminSecret"] = GrafanaAdminSecret
	}
	return v, nil
}

// splitImage splits "registry/repo:tag" at the tag's colon (not a registry port's).
func splitImage(ref string) (repo, tag string, err error) {
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if ref == "" || colon <= slash || colon == len(ref)-1 {
		return "", "", fmt.Errorf("%q is not of the form repository:tag", ref)
	}
	return ref[:colon], ref[colon+1:], nil
}

// CheckNodePorts reports addons whose NodePorts collide with each other or fall outside the
// default NodePort range, before anything is installed.
func (s Settings) CheckNodePorts() error {
	var problems []string
	used := map[int]string{}
	for _, name := range s.Addons {
		key := name
		if name == Jaeger {
			key = Zipkin
		}
		p := s.NodePorts[key]
		if p == 0 {
			continue
		}
		if p < 30000 || p > 32767 {
			problems = append(problems, fmt.Sprintf("%s: NodePort %d is outside 30000-32767 (the API server's default range)", name, p))
		}
		if other, dup := used[p]; dup {
			problems = append(problems, fmt.Sprintf("%s and %s both want NodePort %d: give one another port in components.nodePorts", other, name, p))
		}
		used[p] = name
	}
	if len(problems) > 0 {
		return fmt.Errorf("addon NodePorts: %s", strings.Join(problems, "; "))
	}
	return nil
}
