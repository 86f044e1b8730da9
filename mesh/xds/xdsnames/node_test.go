package xdsnames

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/meshlab/meshlab/mesh/config"
)

func TestNodeRoundTrip(t *testing.T) {
	p := config.Proxy{ID: "reviews-v2-0.shop", Namespace: "shop", Workload: "reviews-v2",
		Labels: map[string]string{"app": "reviews", "version": "v2"}, IP: netip.MustParseAddr("10.88.0.13")}
	got := ProxyFromNode(NodeFor(p))
	if d := cmp.Diff(p, got, cmpopts.EquateComparable(netip.Addr{})); d != "" {
		t.Fatalf("(-sent +received):\n%s", d)
	}
}

// TestProxyFromNodeFillsNothingIn: what the node leaves out stays empty, for the control plane
// to complete (model.ProxyFromNode does).
func TestProxyFromNodeFillsNothingIn(t *testing.T) {
	got := ProxyFromNode(NodeFor(config.Proxy{ID: "x"}))
	if d := cmp.Diff(config.Proxy{ID: "x"}, got, cmpopts.EquateComparable(netip.Addr{})); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}
