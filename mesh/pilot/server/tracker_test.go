package server

import (
	"context"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/meshlab/meshlab/mesh/config"
)

// TestTrackerStates walks one proxy through STALE, SYNCED and NACKED from the callbacks alone.
func TestTrackerStates(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var gone []string
	tr := newTracker(m, func(*corev3.Node) {}, func(id string) { gone = append(gone, id) })
	node := &corev3.Node{Id: "a.default"}
	const stream = 7
	nonce := 0
	respond := func(typ, version string) string {
		nonce++
		n := string(rune('a' + nonce))
		tr.OnStreamResponse(context.Background(), stream, nil, &discoveryv3.DiscoveryResponse{TypeUrl: typ, VersionInfo: version, Nonce: n})
		return n
	}
	state := func() ProxyStatus { return tr.status()[0] }

	for _, typ := range resourceTypes {
		if err := tr.OnStreamRequest(stream, &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ}); err != nil {
			t.Fatal(err)
		}
	}
	tr.pushed("a.default", config.Proxy{ID: "a.default", Namespace: "default"}, "v1", "PERMISSIVE")
	if got := state().State; got != StateStale {
		t.Fatalf("before any ACK: %s, want STALE", got)
	}
	for _, typ := range resourceTypes {
		n := respond(typ, "v1")
		_ = tr.OnStreamRequest(stream, &discoveryv3.DiscoveryRequest{TypeUrl: typ, VersionInfo: "v1", ResponseNonce: n})
	}
	if got := state(); got.State != StateSynced || got.Version != "v1" {
		t.Fatalf("after ACKs: %+v, want SYNCED at v1", got)
	}
	if n := testutil.CollectAndCount(m.convergence); n != 1 {
		t.Fatalf("convergence observed %d series", n)
	}

	tr.pushed("a.default", config.Proxy{ID: "a.default"}, "v2", "PERMISSIVE")
	n := respond(resourceTypes[0], "v2")
	req := &discoveryv3.DiscoveryRequest{TypeUrl: resourceTypes[0], VersionInfo: "v1", ResponseNonce: n,
		ErrorDetail: &status.Status{Message: "bad cluster"}}
	_ = tr.OnStreamRequest(stream, req)
	if got := state(); got.State != StateNacked || got.Error != resourceTypes[0]+": bad cluster" {
		t.Fatalf("after a NACK: %+v", got)
	}
	if req.VersionInfo != "v2" {
		t.Errorf("the NACK's version was not rewritten to the rejected one (got %q): the cache would resend it at once", req.VersionInfo)
	}
	if got := testutil.ToFloat64(m.nacks); got != 1 {
		t.Errorf("nacks = %v", got)
	}
	// A request with a stale nonce is no ACK.
	_ = tr.OnStreamRequest(stream, &discoveryv3.DiscoveryRequest{TypeUrl: resourceTypes[1], VersionInfo: "v2", ResponseNonce: "old"})
	if got := state().Acked[resourceTypes[1]]; got != "v1" {
		t.Errorf("a stale nonce counted as an ACK: %s", got)
	}

	tr.OnStreamClosed(stream, node)
	if len(tr.status()) != 0 || len(gone) != 1 || testutil.ToFloat64(m.connected) != 0 {
		t.Fatalf("after close: status %v, gone %v, connected %v", tr.status(), gone, testutil.ToFloat64(m.connected))
	}
}
