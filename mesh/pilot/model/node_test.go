package model

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

func TestNodeRoundTrip(t *testing.T) {
	p := config.Proxy{ID: "reviews-v2-0.shop", Namespace: "shop", Workload: "reviews-v2",
		Labels: map[string]string{"app": "reviews", "version": "v2"}, IP: netip.MustParseAddr("10.88.0.13")}
	got := ProxyFromNode(xdsnames.NodeFor(p), nil)
	if d := cmp.Diff(p, got, cmpopts.EquateComparable(netip.Addr{})); d != "" {
		t.Fatalf("(-sent +received):\n%s", d)
	}
}

func TestProxyFromNodeFillsFromPods(t *testing.T) {
	ip := netip.MustParseAddr("10.88.0.12")
	n := xdsnames.NodeFor(config.Proxy{ID: "reviews-v1-abc", IP: ip})
	pods := map[netip.Addr]Pod{ip: {Name: "reviews-v1-abc", Namespace: "shop", Workload: "reviews-v1", Labels: map[string]string{"app": "reviews"}}}
	got := ProxyFromNode(n, pods)
	if got.Namespace != "shop" || got.Workload != "reviews-v1" || got.Labels["app"] != "reviews" {
		t.Fatalf("got %+v", got)
	}
	if got := ProxyFromNode(xdsnames.NodeFor(config.Proxy{ID: "x"}), nil); got.Namespace != config.DefaultNamespace {
		t.Fatalf("namespace default: %+v", got)
	}
}
