// Package local runs Istio's Bookinfo sample with meshlab sidecars on this machine, without
// Kubernetes: one network namespace "pod" per workload (productpage-v1, details-v1, reviews-v1,
// reviews-v2, reviews-v3, ratings-v1), as the sample's bookinfo.yaml deploys them.
package local

import (
	"context"

	"github.com/meshlab/meshlab/mesh/localmesh"
)

// Port is the port every Bookinfo service listens on and is exposed on.
const Port = 9080

// workloads lists Bookinfo's deployments as the upstream manifest defines them.
var workloads = []struct{ service, version string }{
	{"details", "v1"},
	{"ratings", "v1"},
	{"reviews", "v1"},
	{"reviews", "v2"},
	{"reviews", "v3"},
	{"productpage", "v1"},
}

// Topology returns the Bookinfo services and pods, each pod running `meshlab bookinfo serve`.
func Topology() localmesh.Topology {
	var t localmesh.Topology
	seen := map[string]bool{}
	for _, w := range workloads {
		if !seen[w.service] {
			t.Services = append(t.Services, localmesh.Service{Name: w.service, Port: Port, Protocol: "HTTP"})
			seen[w.service] = true
		}
		name := w.service + "-" + w.version
		t.Pods = append(t.Pods, localmesh.Pod{
			Name:    name,
			Labels:  map[string]string{"app": w.service, "version": w.version},
			Service: w.service,
			Port:    Port,
			App: []string{"meshlab", "bookinfo", "serve", "--service", w.service, "--version", w.version,
				"--listen", ":9080", "--pod-name", name},
			// bookinfo.yaml's ServiceAccounts, one per service: the pods' identities under mTLS.
			ServiceAccount: "bookinfo-" + w.service,
		})
	}
	return t
}

// Start runs Bookinfo with sidecars; productpage answers at ProductpageURL.
func Start(ctx context.Context, opts localmesh.Options) (*localmesh.Mesh, error) {
	return localmesh.Start(ctx, Topology(), opts)
}

// ProductpageURL is the page's address on this machine (through productpage's sidecar).
func ProductpageURL(m *localmesh.Mesh) string {
	return "http://" + m.PodAddr("productpage-v1").String() + ":9080/productpage"
}
