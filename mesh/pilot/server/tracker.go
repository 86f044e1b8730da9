package server

import (
	"context"
	"slices"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/authn"
)

// Sync states of a proxy, as `meshlab mesh status` shows them.
const (
	StateSynced = "SYNCED" // every resource type ACKed at the latest version
	StateStale  = "STALE"  // a push is not ACKed yet
	StateNacked = "NACKED" // the proxy rejected the latest version of some type
)

// ProxyStatus is one connected proxy's sync state.
type ProxyStatus struct {
	ID        string            `json:"id"`
	Namespace string            `json:"namespace"`
	Workload  string            `json:"workload"`
	IP        string            `json:"ip,omitempty"`
	State     string            `json:"state"`
	Version   string            `json:"version"`         // latest version pushed
	Acked     map[string]string `json:"acked"`           // type -> version ACKed
	Error     string            `json:"error,omitempty"` // the NACK's error detail
	// Rejected is config the control plane refused (a policy that does not validate), with what
	// it keeps in force instead; the same for every proxy.
	Rejected []string  `json:"rejected,omitempty"`
	Since    time.Time `json:"connectedSince"`
	// Identity is the SPIFFE ID the proxy authenticated as; empty on the plaintext port, where
	// a proxy is who it claims to be.
	Identity string `json:"identity,omitempty"`
	// CertExpiry is when the pod's workload certificate expires: the last one the CA signed, or
	// the one the sidecar presented on its connection, whichever is later.
	CertExpiry time.Time `json:"certExpiry,omitzero"`
	// InboundMTLS is the inbound policy the proxy was sent: "STRICT", "PERMISSIVE (8080: DISABLE)".
	InboundMTLS string `json:"inboundMTLS,omitempty"`
}

// proxyState is what the tracker knows about one node; guarded by tracker.mu.
type proxyState struct {
	proxy    config.Proxy
	identity string // authenticated SPIFFE ID, "" when unauthenticated
	inbound  string // the inbound policy of the latest push
	// certExpiry is the expiry of the workload certificate the proxy presented (valid, its own
	// identity) on the connection of one of its streams; the latest of them.
	certExpiry time.Time
	streams    int
	since      time.Time
	version    string    // latest snapshot version set for the node
	pushedAt   time.Time // when version was set
	observed   bool      // convergence of version already recorded
	acked      map[string]string
	nacked     map[string]string       // type -> error detail, for the latest response of that type
	sent       map[string]sentResponse // type -> the latest response of that type
}

type sentResponse struct{ nonce, version string }

// tracker follows every stream through the server callbacks: which node it is, which version and
// nonce went out, and whether the proxy ACKed or NACKed it.
type tracker struct {
	mu       sync.Mutex
	byStream map[int64]string // stream -> node ID
	callers  map[int64]streamCaller
	proxies  map[string]*proxyState
	metrics  *metrics
	// onNode is called (outside the lock) the first time a node's stream sends a request.
	onNode func(n *corev3.Node)
	// onGone is called (under the lock; it must not call back) when a node's last stream closes.
	onGone func(id string)
	// authorize, when a stream's caller is authenticated, gives the node it is (replacing what
	// the proxy claims) and its identity; nil means no stream is ever authenticated.
	authorize func(authn.Caller) (*corev3.Node, string, error)
}

var _ serverv3.Callbacks = (*tracker)(nil)

func newTracker(m *metrics, onNode func(*corev3.Node), onGone func(string)) *tracker {
	return &tracker{byStream: map[int64]string{}, callers: map[int64]streamCaller{}, proxies: map[string]*proxyState{}, metrics: m, onNode: onNode, onGone: onGone}
}

// OnStreamOpen remembers the stream's authenticated caller, if its listener authenticates.
func (t *tracker) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	if c, ok := callerFrom(ctx); ok {
		t.mu.Lock()
		t.callers[id] = c
		t.mu.Unlock()
	}
	return nil
}

func (t *tracker) OnStreamClosed(id int64, _ *corev3.Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.callers, id)
	node, ok := t.byStream[id]
	if !ok {
		return
	}
	delete(t.byStream, id)
	if ps := t.proxies[node]; ps != nil {
		ps.streams--
		if ps.streams <= 0 {
			delete(t.proxies, node)
			t.metrics.connected.Dec()
			t.onGone(node)
		}
	}
}

// OnStreamRequest records ACKs and NACKs. A NACK's version_info is the last version the proxy
// accepted; left as is, the cache would answer at once with the same rejected config, and again
// after every NACK. The request is rewritten to name the rejected version instead, so the cache
// waits for the next change (Istio likewise does not resend a NACKed config).
func (t *tracker) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	t.mu.Lock()
	caller, authenticated := t.callers[id]
	node, known := t.byStream[id]
	var identity string
	if authenticated && t.authorize != nil {
		// Every request, not only the first: go-control-plane keys its cache by the node of
		// each request, and a later request could claim another.
		t.mu.Unlock()
		n, who, err := t.authorize(caller.Caller)
		if err != nil {
			return err
		}
		req.Node, identity = n, who
		t.mu.Lock()
	}
	if !known {
		node = req.GetNode().GetId()
		t.byStream[id] = node
		ps := t.proxies[node]
		if ps == nil {
			ps = &proxyState{since: time.Now(), acked: map[string]string{}, nacked: map[string]string{}, sent: map[string]sentResponse{}}
			t.proxies[node] = ps
			t.metrics.connected.Inc()
		}
		ps.identity = identity
		if caller.certExpiry.After(ps.certExpiry) {
			ps.certExpiry = caller.certExpiry
		}
		ps.streams++
		t.mu.Unlock()
		t.onNode(req.GetNode())
		t.mu.Lock()
	}
	defer t.mu.Unlock()
	ps := t.proxies[node]
	if ps == nil || req.GetResponseNonce() == "" {
		return nil
	}
	typ := req.GetTypeUrl()
	last, ok := ps.sent[typ]
	if !ok || last.nonce != req.GetResponseNonce() {
		return nil // a stale nonce: the server ignores the request too
	}
	version := last.version
	if d := req.GetErrorDetail(); d != nil {
		ps.nacked[typ] = d.GetMessage()
		t.metrics.nacks.Inc()
		req.VersionInfo = version
		return nil
	}
	delete(ps.nacked, typ)
	ps.acked[typ] = version
	if !ps.observed && version == ps.version && ps.syncedLocked() {
		ps.observed = true
		t.metrics.convergence.Observe(time.Since(ps.pushedAt).Seconds())
	}
	return nil
}

func (t *tracker) OnStreamResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.metrics.pushes.Inc()
	if ps := t.proxies[t.byStream[id]]; ps != nil {
		ps.sent[resp.GetTypeUrl()] = sentResponse{nonce: resp.GetNonce(), version: resp.GetVersionInfo()}
	}
}

// pushed records that version was set for node (convergence is measured from here).
func (t *tracker) pushed(node string, p config.Proxy, version, inbound string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps := t.proxies[node]
	if ps == nil {
		return
	}
	ps.proxy, ps.inbound = p, inbound
	if ps.version != version {
		ps.version, ps.pushedAt, ps.observed = version, time.Now(), false
	}
}

func (ps *proxyState) syncedLocked() bool {
	for _, typ := range resourceTypes {
		if ps.acked[typ] != ps.version {
			return false
		}
	}
	return true
}

func (t *tracker) status() []ProxyStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []ProxyStatus
	for id, ps := range t.proxies {
		st := ProxyStatus{
			ID: id, Namespace: ps.proxy.Namespace, Workload: ps.proxy.Workload, Version: ps.version,
			Acked: map[string]string{}, Since: ps.since, State: StateStale, Identity: ps.identity, InboundMTLS: ps.inbound,
			CertExpiry: ps.certExpiry,
		}
		if ps.proxy.IP.IsValid() {
			st.IP = ps.proxy.IP.String()
		}
		for k, v := range ps.acked {
			st.Acked[k] = v
		}
		switch {
		case len(ps.nacked) > 0:
			st.State = StateNacked
			for _, typ := range resourceTypes {
				if e, ok := ps.nacked[typ]; ok {
					st.Error = typ + ": " + e
					break
				}
			}
		case ps.version != "" && ps.syncedLocked():
			st.State = StateSynced
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ProxyStatus) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// Unused callback kinds: meshlab serves state-of-the-world ADS only.

func (t *tracker) OnDeltaStreamOpen(context.Context, int64, string) error { return nil }
func (t *tracker) OnDeltaStreamClosed(int64, *corev3.Node)                {}
func (t *tracker) OnStreamDeltaRequest(int64, *discoveryv3.DeltaDiscoveryRequest) error {
	return nil
}
func (t *tracker) OnStreamDeltaResponse(int64, *discoveryv3.DeltaDiscoveryRequest, *discoveryv3.DeltaDiscoveryResponse) {
}
func (t *tracker) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error { return nil }
func (t *tracker) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {
}
