package proxy

import (
	"crypto/tls"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
)

// endpoint is the proxy's live state of one cluster endpoint. It survives config reloads when the
// address stays in the cluster, so ejections and in-flight counts are not forgotten.
type endpoint struct {
	addr netip.AddrPort
	ce   config.ClusterEndpoint

	active       atomic.Int64 // requests in flight (least-request balancing)
	consec5xx    atomic.Int32
	consecGw     atomic.Int32
	ejectedUntil atomic.Int64 // unix nanoseconds; 0 = in rotation
	ejections    atomic.Int32 // times ejected: each ejection lasts baseEjectionTime × this
}

func (e *endpoint) ejected(now int64) bool {
	u := e.ejectedUntil.Load()
	return u != 0 && now < u
}

// clusterState is the live side of one config.Cluster: its endpoints and upstream pools.
type clusterState struct {
	cluster   *config.Cluster
	endpoints []*endpoint
	rr        atomic.Uint64
	pools     *pools
	inflight  atomic.Int64 // requests in flight, bounded by the pool's MaxRequests
	// tls is the upstream TLS per endpoint address (nil: plaintext), and tlsKey what it was
	// made from: pools are kept across updates only while it stays the same.
	tls    map[string]*tls.Config
	tlsKey string
}

// secure is the pools' TLS lookup for this cluster.
func (st *clusterState) secure(addr string) *tls.Config { return st.tls[addr] }

// clusterSet holds the state of every cluster of the current table, by cluster name.
type clusterSet struct {
	p      *Proxy
	mu     sync.RWMutex
	states map[string]*clusterState
	// passthrough serves destinations outside the registry and pinned pod addresses.
	passthrough *pools
}

func newClusterSet(p *Proxy) *clusterSet {
	cs := &clusterSet{p: p, states: map[string]*clusterState{}}
	cs.passthrough = newPools(config.Pool{}, nil, cs.pinnedTLS)
	return cs
}

// update aligns the set with table t, keeping state for endpoints that remain.
func (cs *clusterSet) update(t *config.Table) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	next := make(map[string]*clusterState, len(t.Clusters))
	for name, cl := range t.Clusters {
		old := cs.states[name]
		st := &clusterState{cluster: cl}
		st.tls, st.tlsKey = cs.upstreamTLS(cl, t.Credentials)
		byAddr := map[netip.AddrPort]*endpoint{}
		if old != nil && old.cluster.Pool == cl.Pool && old.tlsKey == st.tlsKey {
			st.pools = old.pools
			st.tls = old.tls // the pools' lookup reads the old state's map
			for _, e := range old.endpoints {
				byAddr[e.addr] = e
			}
		} else {
			st.pools = newPools(cl.Pool, nil, st.secure)
			if old != nil {
				old.pools.close()
			}
		}
		for _, ce := range cl.Endpoints {
			e := byAddr[ce.Addr]
			if e == nil {
				e = &endpoint{addr: ce.Addr}
			}
			e.ce = ce
			st.endpoints = append(st.endpoints, e)
		}
		next[name] = st
	}
	for name, st := range cs.states {
		if next[name] == nil {
			st.pools.close()
		}
	}
	cs.states = next
}

func (cs *clusterSet) state(cl *config.Cluster) *clusterState {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return cs.states[cl.Name]
}

func (cs *clusterSet) close() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, st := range cs.states {
		st.pools.close()
	}
	cs.passthrough.close()
}

// pick chooses an endpoint of cl by its LB policy among endpoints not ejected; if every endpoint
// is ejected it picks among all (Envoy's panic mode), since refusing everything helps nobody.
// The caller must call done with the outcome.
func (cs *clusterSet) pick(cl *config.Cluster) *endpoint {
	st := cs.state(cl)
	if st == nil || len(st.endpoints) == 0 {
		return nil
	}
	eps := st.endpoints
	n := len(eps)
	now := time.Now().UnixNano()
	var e *endpoint
	switch cl.LB {
	case config.LBRoundRobin:
		e = healthyFrom(eps, int(st.rr.Add(1)%uint64(n)), now)
	case config.LBRandom:
		e = healthyFrom(eps, rand.IntN(n), now)
	default: // least request: the better of two random choices (Envoy's default for equal weights)
		a := healthyFrom(eps, rand.IntN(n), now)
		b := healthyFrom(eps, rand.IntN(n), now)
		e = a
		if b.active.Load() < a.active.Load() {
			e = b
		}
	}
	e.active.Add(1)
	return e
}

// healthyFrom returns the first endpoint not ejected, scanning from start; all ejected → eps[start].
func healthyFrom(eps []*endpoint, start int, now int64) *endpoint {
	for i := range eps {
		if e := eps[(start+i)%len(eps)]; !e.ejected(now) {
			return e
		}
	}
	return eps[start]
}

// done records the outcome of a request to e: gatewayErr for connect failures, resets and
// 502/503/504; serverErr for any 5xx. It drives outlier detection.
func (cs *clusterSet) done(cl *config.Cluster, e *endpoint, gatewayErr, serverErr bool) {
	e.active.Add(-1)
	od := cl.Outlier
	if od == nil {
		return
	}
	if !gatewayErr && !serverErr {
		e.consec5xx.Store(0)
		e.consecGw.Store(0)
		return
	}
	c5 := e.consec5xx.Add(1)
	var cg int32
	if gatewayErr {
		cg = e.consecGw.Add(1)
	}
	if (od.Consecutive5xx > 0 && int(c5) >= od.Consecutive5xx) || (od.ConsecutiveGateway > 0 && int(cg) >= od.ConsecutiveGateway) {
		cs.eject(cl, e, od)
	}
}

func (cs *clusterSet) eject(cl *config.Cluster, e *endpoint, od *config.Outlier) {
	st := cs.state(cl)
	if st == nil {
		return
	}
	now := time.Now().UnixNano()
	ejected := 0
	for _, x := range st.endpoints {
		if x.ejected(now) {
			ejected++
		}
	}
	// Like Envoy, allow an ejection while the ejected share is still below the maximum, so at
	// least one endpoint can be ejected even with a small percentage.
	if ejected*100/len(st.endpoints) >= od.MaxEjectionPercent || e.ejected(now) {
		return
	}
	k := e.ejections.Add(1)
	e.ejectedUntil.Store(now + int64(od.BaseEjectionTime)*int64(k))
	e.consec5xx.Store(0)
	e.consecGw.Store(0)
}
