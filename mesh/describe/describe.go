// Package describe gathers what `meshlab mesh describe POD` shows about one meshed pod, as
// istioctl x describe does for Istio: who the pod is in the mesh (its SPIFFE identity and
// certificate, from its sidecar), whether the control plane has it in sync, the mutual TLS it
// accepts inbound and the PeerAuthentications that decide it, and what it originates outbound.
package describe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/inject"
	"github.com/meshlab/meshlab/mesh/install"
	"github.com/meshlab/meshlab/mesh/pilot"
	"github.com/meshlab/meshlab/mesh/pilot/server"
	"github.com/meshlab/meshlab/mesh/proxy"
)

// Report is everything Write prints. Problems lists what could not be read, so that a partial
// answer still says why it is partial.
type Report struct {
	Namespace, Pod, Workload, ServiceAccount, IP string
	Injected, Ready                              bool
	Sidecar                                      *proxy.CertStatus   // the sidecar's /certs
	Sync                                         *server.ProxyStatus // the control plane's view
	Policies                                     []Policy
	Problems                                     []string
	Now                                          time.Time
}

// Policy is one PeerAuthentication in force for the pod, at its level.
type Policy struct {
	Level, Namespace, Name, Mode string
}

// Sources are where Gather reads from.
type Sources struct {
	Kube  kubernetes.Interface
	Istio istioclient.Interface
	// Fetch reads a path from a port of a pod; nil goes through the apiserver's pod proxy.
	Fetch func(ctx context.Context, namespace, pod string, port int, path string) ([]byte, error)
	// Status lists the control plane's proxies; nil asks the installed control plane.
	Status func(ctx context.Context) ([]server.ProxyStatus, error)
}

// Gather builds the report of pod namespace/name.
func Gather(ctx context.Context, src Sources, namespace, name string) (*Report, error) {
	p, err := src.Kube.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("describe: pod %s/%s: %w", namespace, name, err)
	}
	if src.Fetch == nil {
		src.Fetch = func(ctx context.Context, ns, pod string, port int, path string) ([]byte, error) {
			return src.Kube.CoreV1().Pods(ns).ProxyGet("http", pod, strconv.Itoa(port), path, nil).DoRaw(ctx)
		}
	}
	if src.Status == nil {
		src.Status = func(ctx context.Context) ([]server.ProxyStatus, error) {
			return pilot.FetchStatusInCluster(ctx, src.Kube, install.Namespace, "app="+install.Name, install.MetricsPort)
		}
	}
	r := &Report{Namespace: namespace, Pod: name, ServiceAccount: p.Spec.ServiceAccountName, IP: p.Status.PodIP, Now: time.Now()}
	if r.ServiceAccount == "" {
		r.ServiceAccount = "default"
	}
	r.Workload = p.Labels["app"]
	_, r.Injected = p.Annotations[inject.StatusAnnotation]
	r.Ready = sidecarReady(p)
	if !r.Injected {
		r.Problems = append(r.Problems, "the pod has no meshlab sidecar (not injected): it takes no part in mutual TLS")
	}
	if r.Injected {
		body, err := src.Fetch(ctx, namespace, name, inject.HealthPort, "/certs")
		if err == nil {
			var cs proxy.CertStatus
			if err = json.Unmarshal(body, &cs); err == nil {
				r.Sidecar = &cs
			}
		}
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("the sidecar's /certs (port %d) could not be read: %v", inject.HealthPort, err))
		}
	}
	if st, err := src.Status(ctx); err != nil {
		r.Problems = append(r.Problems, "the control plane's status could not be read: "+err.Error())
	} else {
		for i := range st {
			if st[i].ID == name+"."+namespace {
				r.Sync = &st[i]
			}
		}
	}
	if src.Istio != nil {
		r.Policies, err = policies(ctx, src.Istio, namespace, p.Labels)
		if err != nil {
			r.Problems = append(r.Problems, "PeerAuthentications could not be listed: "+err.Error())
		}
	}
	return r, nil
}

func sidecarReady(p *corev1.Pod) bool {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, c := range list {
			if c.Name == inject.ProxyContainerName {
				return c.Ready
			}
		}
	}
	return false
}

// policies are the PeerAuthentications in force for a pod, by level.
func policies(ctx context.Context, ic istioclient.Interface, namespace string, labels map[string]string) ([]Policy, error) {
	var all []*securityv1.PeerAuthentication
	for _, ns := range []string{config.RootNamespace, namespace} {
		list, err := ic.SecurityV1().PeerAuthentications(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		all = append(all, list.Items...)
		if ns == namespace {
			break // the root namespace's own pods
		}
	}
	mesh, nsPolicy, wl := config.ApplyingPeerAuthentications(all, namespace, labels)
	var out []Policy
	for _, x := range []struct {
		level string
		pa    *securityv1.PeerAuthentication
	}{{"mesh-wide", mesh}, {"namespace-wide", nsPolicy}, {"workload", wl}} {
		if x.pa == nil {
			continue
		}
		mode := string(config.ModeOf(x.pa))
		if mode == "" {
			mode = "UNSET (inherited)"
		}
		if len(x.pa.Spec.PortLevelMtls) > 0 {
			mode += fmt.Sprintf(", %d port exception(s)", len(x.pa.Spec.PortLevelMtls))
		}
		out = append(out, Policy{Level: x.level, Namespace: x.pa.Namespace, Name: x.pa.Name, Mode: mode})
	}
	return out, nil
}

// Write prints the report for people.
func (r *Report) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s:\t%s\n", k, fmt.Sprintf(format, a...)) }
	line("Pod", "%s/%s", r.Namespace, r.Pod)
	line("Workload", "%s (ServiceAccount %s, IP %s)", orDash(r.Workload), r.ServiceAccount, orDash(r.IP))
	sidecar := "none"
	if r.Injected {
		sidecar = inject.ProxyContainerName + map[bool]string{true: " (ready)", false: " (not ready)"}[r.Ready]
	}
	line("Sidecar", "%s", sidecar)
	if s := r.Sidecar; s != nil {
		switch {
		case s.Identity == "":
			line("Identity", "none: the sidecar runs without a workload certificate (plaintext only)")
		default:
			line("Identity", "%s", s.Identity)
			left := s.NotAfter.Sub(r.Now).Round(time.Minute)
			line("Certificate", "serial %s, valid %s to %s (expires in %s), root %q", s.Serial,
				s.NotBefore.UTC().Format(time.RFC3339), s.NotAfter.UTC().Format(time.RFC3339), left, s.Root)
		}
		if s.Error != "" {
			line("Certificate problem", "%s", s.Error)
		}
	}
	if st := r.Sync; st != nil {
		sync := fmt.Sprintf("%s (version %s)", st.State, st.Version)
		if st.Identity != "" {
			sync += ", authenticated as " + st.Identity
		}
		if st.Error != "" {
			sync += ": " + st.Error
		}
		line("Control plane", "%s", sync)
	} else if r.Injected {
		line("Control plane", "not connected")
	}
	inbound := "-"
	switch {
	case r.Sidecar != nil && r.Sidecar.InboundTLS != "":
		inbound = r.Sidecar.InboundTLS
	case r.Sync != nil && r.Sync.InboundMTLS != "":
		inbound = r.Sync.InboundMTLS
	}
	line("Inbound mTLS", "%s", inbound)
	for _, p := range r.Policies {
		fmt.Fprintf(tw, "\tPeerAuthentication %s/%s (%s): %s\n", p.Namespace, p.Name, p.Level, p.Mode)
	}
	if r.Sidecar != nil && len(r.Sidecar.Outbound) > 0 {
		fmt.Fprintf(tw, "Outbound mTLS:\n")
		for _, c := range r.Sidecar.Outbound {
			fmt.Fprintf(tw, "\t%s\t%s\t%s\n", c.Cluster, c.Mode, outbound(c))
		}
	}
	for _, p := range r.Problems {
		line("Note", "%s", p)
	}
	return tw.Flush()
}

func outbound(c proxy.ClusterTLS) string {
	switch {
	case c.Endpoints == 0:
		return "no endpoints"
	case c.Mode == "SIMPLE" || c.Mode == "MUTUAL":
		return "TLS to a server outside the mesh"
	case c.MTLS == c.Endpoints:
		return fmt.Sprintf("mutual TLS to all %d endpoints", c.Endpoints)
	case c.MTLS == 0:
		return fmt.Sprintf("plaintext to all %d endpoints", c.Endpoints)
	}
	return fmt.Sprintf("mutual TLS to %d of %d endpoints (the rest run no sidecar)", c.MTLS, c.Endpoints)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
