package kubereg_test

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// summary renders a State as stable text: the parts tests compare, without apiserver-assigned
// metadata (uids, resource versions, timestamps).
func summary(s model.State) string {
	var b strings.Builder
	for _, svc := range s.Services {
		var ports, eps []string
		for _, p := range svc.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d->%d/%s", p.Name, p.Port, p.TargetPort, p.Protocol))
		}
		for _, e := range svc.Endpoints {
			eps = append(eps, fmt.Sprintf("%s(%s %s)", e.Address, e.Workload, labelText(e.Labels)))
		}
		fmt.Fprintf(&b, "service %s/%s vips=%v ports=[%s] endpoints=[%s]\n", svc.Namespace, svc.Name, svc.VIPs,
			strings.Join(ports, " "), strings.Join(eps, " "))
	}
	for _, vs := range s.VirtualServices {
		fmt.Fprintf(&b, "vs %s/%s hosts=%v http=%d\n", vs.Namespace, vs.Name, vs.Spec.Hosts, len(vs.Spec.Http))
	}
	for _, dr := range s.DestinationRules {
		var subsets []string
		for _, ss := range dr.Spec.Subsets {
			subsets = append(subsets, ss.Name)
		}
		fmt.Fprintf(&b, "dr %s/%s host=%s subsets=%v\n", dr.Namespace, dr.Name, dr.Spec.Host, subsets)
	}
	for _, ip := range slices.SortedFunc(maps.Keys(s.Pods), netip.Addr.Compare) {
		p := s.Pods[ip]
		fmt.Fprintf(&b, "pod %s %s/%s workload=%s\n", ip, p.Namespace, p.Name, p.Workload)
	}
	return b.String()
}

// labelText shows the labels routing cares about; app and pod-template-hash are the same for
// every endpoint of a service here.
func labelText(l map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		if k != "app" && k != "pod-template-hash" {
			out = append(out, k+"="+l[k])
		}
	}
	return strings.Join(out, ",")
}

// withoutAPIServerService leaves out the apiserver's own "kubernetes" Service: its target port is
// this test run's random secure port.
func withoutAPIServerService(summary string) []byte {
	var keep []string
	for _, l := range strings.SplitAfter(summary, "\n") {
		if !strings.HasPrefix(l, "service default/kubernetes ") {
			keep = append(keep, l)
		}
	}
	return []byte(strings.Join(keep, ""))
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger { return slog.New(slog.NewTextHandler(testWriter{t}, nil)) }
