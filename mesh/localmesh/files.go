package localmesh

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"sort"
	"strings"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/spiffe"
)

// meshlab's own config documents, written as JSON (valid YAML) so the proxy's loader reads them
// with the same strict decoding it applies to hand-written files.
type document struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       any    `json:"spec"`
}

type proxySpec struct {
	config.Proxy
	Tracing *config.Tracing `json:"tracing,omitempty"`
}

type registrySpec struct {
	Services []config.Service `json:"services"`
}

// registryFile renders the registry every proxy shares: services with their virtual IPs and the
// pods behind them as endpoints; with mtls each endpoint is marked as running a sidecar (the
// label the injector sets in a cluster) and names the identity its certificate carries.
func registryFile(t Topology, ap addressPlan, mtls bool) ([]byte, error) {
	var spec registrySpec
	for _, s := range t.Services {
		svc := config.Service{
			Name: s.Name, Namespace: s.namespace(),
			VIPs:  []netip.Addr{ap.VIPs[s.Name]},
			Ports: []config.Port{{Name: portName(s), Port: s.Port, Protocol: s.Protocol}},
		}
		for _, p := range t.Pods {
			if p.Service == s.Name {
				e := config.Endpoint{Address: ap.Pods[p.Name].Addr(), Port: p.Port, Labels: p.Labels, Workload: p.workload()}
				if mtls {
					e.Labels = maps.Clone(p.Labels)
					if e.Labels == nil {
						e.Labels = map[string]string{}
					}
					e.Labels[config.TLSModeLabel] = config.TLSModeIstio
					e.Identity = spiffe.ID{TrustDomain: spiffe.DefaultTrustDomain, Namespace: p.namespace(), ServiceAccount: p.serviceAccount()}.String()
				}
				svc.Endpoints = append(svc.Endpoints, e)
			}
		}
		spec.Services = append(spec.Services, svc)
	}
	return json.MarshalIndent(document{config.MeshlabAPIVersion, "Registry", spec}, "", "  ")
}

func portName(s Service) string {
	if s.Protocol == "" {
		return "http"
	}
	return strings.ToLower(s.Protocol)
}

// proxyFile renders one sidecar's identity document.
func proxyFile(p Pod, ap addressPlan, tracing *config.Tracing) ([]byte, error) {
	spec := proxySpec{
		Proxy: config.Proxy{
			ID: p.Name + "." + p.namespace(), Namespace: p.namespace(), Workload: p.workload(),
			Labels: p.Labels, IP: ap.Pods[p.Name].Addr(),
		},
		Tracing: tracing,
	}
	return json.MarshalIndent(document{config.MeshlabAPIVersion, "Proxy", spec}, "", "  ")
}

// hostsFile is the pod's /etc/hosts: every service by its short, namespaced and fully qualified
// names, as cluster DNS would answer them.
func hostsFile(t Topology, ap addressPlan, pod Pod) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	fmt.Fprintf(&b, "%s\t%s\n", ap.Pods[pod.Name].Addr(), pod.Name)
	names := make([]string, 0, len(t.Services))
	for _, s := range t.Services {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	for _, s := range t.Services {
		ns := s.namespace()
		fmt.Fprintf(&b, "%s\t%s.%s.%s %s.%s.svc %s.%s", ap.VIPs[s.Name], s.Name, ns, config.ClusterDomain, s.Name, ns, s.Name, ns)
		if ns == pod.namespace() {
			fmt.Fprintf(&b, " %s", s.Name)
		}
		b.WriteString("\n")
	}
	return b.String()
}
