package proxy

import "github.com/meshlab/meshlab/mesh/config"

// ApplySnapshot compiles snap and swaps the result in atomically, exactly as a config file reload
// does; on error the previous config stays. It is the entry point of the xDS client (mesh/xds)
// when Options.External is set; file-based proxies never need it.
func (p *Proxy) ApplySnapshot(snap *config.Snapshot) error {
	t, err := config.Compile(snap)
	if err != nil {
		return err
	}
	sec, err := p.compilePolicies(snap)
	if err != nil {
		return err
	}
	for _, w := range t.Warnings {
		p.opts.Logger.Warn("proxy: config", "warning", w)
	}
	p.clusters.update(t)
	p.tracer.update(t.Tracing)
	peer := peerValue(t.Proxy)
	p.peer.Store(&peer)
	p.policy.Store(sec)
	old := p.table.Swap(t)
	if old != nil && old.Inbound.String() != t.Inbound.String() {
		p.enforceInbound(t.Inbound)
	}
	return nil
}

// enforceInbound closes the inbound connections the new policy does not admit (plaintext ones
// where a port became STRICT, mutual TLS ones where it became DISABLE), as Envoy drains the
// connections of a filter chain that went away: a policy applies to connections already open,
// not only to new ones. Fast-path connections finish the request in flight first.
func (p *Proxy) enforceInbound(in config.InboundTLS) {
	p.mu.Lock()
	s := p.servers["inbound"]
	p.mu.Unlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	closed := 0
	for c := range s.conns {
		adm := c.admitted.Load()
		if adm == 0 {
			continue // still being classified, by the policy in force when it arrived
		}
		mode := in.ModeFor(c.info.dst.Port())
		if mode == config.MTLSStrict && adm == admittedPlain || mode == config.MTLSDisable && adm == admittedMTLS {
			closed++
			if c.fast.Load() {
				c.disallowed.Store(true)
				_ = c.TCPConn.SetReadDeadline(aLongTimeAgo) // wakes it if idle
				continue
			}
			c.TCPConn.Close()
		}
	}
	if closed > 0 {
		p.opts.Logger.Info("proxy: closed inbound connections the new policy refuses", "count", closed, "inbound", in.String())
	}
}
