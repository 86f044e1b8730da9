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
	p.table.Store(t)
	return nil
}
