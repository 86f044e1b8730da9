// Package localmesh runs a service mesh on this machine without Kubernetes: every "pod" is a
// network namespace on a private bridge with its own address, the capture rules of `meshlab mesh
// init`, a `meshlab mesh proxy` sidecar running as UID 1337 and an application process. Services
// get virtual IPs that resolve through the pod's /etc/hosts (ip netns exec mounts
// /etc/netns/<ns>/hosts), so applications call each other by name exactly as in a cluster.
//
// Nothing it creates can reach off the machine: the bridge is not masqueraded, a FORWARD rule
// drops everything from the bridge to any other interface, and the service range is
// blackholed on the host so an uncaptured packet to a virtual IP dies here.
package localmesh

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
)

// Pod is one workload instance: an application behind a sidecar.
type Pod struct {
	Name      string            // unique within the topology, e.g. reviews-v2
	Namespace string            // default "default"
	Workload  string            // default Name
	Labels    map[string]string // app, version, ...
	Service   string            // the service it backs ("" for a client-only pod)
	Port      uint16            // the application's port (the service port maps to it)
	// App is the application's argv; the first element may be "meshlab" to mean this binary.
	App []string
	Env []string
	// ServiceAccount names the pod's identity under Options.MTLS (default "default").
	ServiceAccount string
}

func (p Pod) serviceAccount() string {
	if p.ServiceAccount == "" {
		return "default"
	}
	return p.ServiceAccount
}

// Service is a name with a virtual IP and one port; its endpoints are the pods that name it.
type Service struct {
	Name      string
	Namespace string // default "default"
	Port      uint16
	Protocol  string // Istio port protocol (HTTP, HTTP2, GRPC, TCP) or "" to sniff
}

// Topology is what to run.
type Topology struct {
	Services []Service
	Pods     []Pod
}

var podName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// Validate reports every problem in the topology at once.
func (t Topology) Validate() error {
	var errs []error
	services := map[string]bool{}
	for i, s := range t.Services {
		if !podName.MatchString(s.Name) {
			errs = append(errs, fmt.Errorf("services[%d]: name %q must be a DNS label of at most 32 characters", i, s.Name))
		}
		if s.Port == 0 {
			errs = append(errs, fmt.Errorf("services[%d] %s: port is required", i, s.Name))
		}
		services[s.Name] = true
	}
	seen := map[string]bool{}
	for i, p := range t.Pods {
		switch {
		case !podName.MatchString(p.Name):
			errs = append(errs, fmt.Errorf("pods[%d]: name %q must be a DNS label of at most 32 characters", i, p.Name))
		case seen[p.Name]:
			errs = append(errs, fmt.Errorf("pods[%d]: duplicate pod name %q", i, p.Name))
		}
		seen[p.Name] = true
		if p.Service != "" && !services[p.Service] {
			errs = append(errs, fmt.Errorf("pods[%d] %s: service %q is not defined", i, p.Name, p.Service))
		}
		if p.Service != "" && p.Port == 0 {
			errs = append(errs, fmt.Errorf("pods[%d] %s: port is required for a pod behind a service", i, p.Name))
		}
		if len(p.App) == 0 {
			errs = append(errs, fmt.Errorf("pods[%d] %s: app command is required", i, p.Name))
		}
	}
	if len(t.Pods) > 200 {
		errs = append(errs, fmt.Errorf("%d pods: at most 200 fit the pod subnet", len(t.Pods)))
	}
	return errors.Join(errs...)
}

func (p Pod) namespace() string {
	if p.Namespace == "" {
		return "default"
	}
	return p.Namespace
}

func (p Pod) workload() string {
	if p.Workload == "" {
		return p.Name
	}
	return p.Workload
}

func (s Service) namespace() string {
	if s.Namespace == "" {
		return "default"
	}
	return s.Namespace
}

// addressPlan gives each pod and service its address inside the lab's /24 networks.
type addressPlan struct {
	Gateway netip.Prefix // the bridge's address on the host, e.g. 10.213.7.1/24
	Pods    map[string]netip.Prefix
	VIPs    map[string]netip.Addr
	PodNet  netip.Prefix
	SvcNet  netip.Prefix
}

func planAddresses(t Topology, podNet, svcNet netip.Prefix) addressPlan {
	ap := addressPlan{PodNet: podNet.Masked(), SvcNet: svcNet.Masked(), Pods: map[string]netip.Prefix{}, VIPs: map[string]netip.Addr{}}
	gw := ap.PodNet.Addr().Next()
	ap.Gateway = netip.PrefixFrom(gw, podNet.Bits())
	a := gw.Next().Next().Next().Next().Next().Next().Next().Next().Next() // pods start at .10
	for _, p := range t.Pods {
		ap.Pods[p.Name] = netip.PrefixFrom(a, podNet.Bits())
		a = a.Next()
	}
	v := ap.SvcNet.Addr().Next().Next().Next().Next().Next().Next().Next().Next().Next()
	for _, s := range t.Services {
		ap.VIPs[s.Name] = v
		v = v.Next()
	}
	return ap
}
