package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// admin serves readiness on 15021 and metrics on 15090, on their own small servers so that a
// flood of application traffic cannot starve the probes.
type admin struct {
	servers []*http.Server
}

func (p *Proxy) startAdmin() (*admin, error) {
	health := http.NewServeMux()
	health.HandleFunc("/healthz/ready", func(w http.ResponseWriter, r *http.Request) {
		if err := p.NotReady(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	health.HandleFunc("/healthz/live", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	health.HandleFunc("/config_dump", func(w http.ResponseWriter, r *http.Request) {
		t := p.Table()
		if t == nil {
			http.Error(w, "no config", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_ = t.Dump(w)
		p.policy.Load().dump(w)
	})
	health.HandleFunc("/certs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(p.CertStatus())
	})
	metrics := http.NewServeMux()
	if h := p.opts.Telemetry.MetricsHandler(); h != nil {
		metrics.Handle("/stats/prometheus", h)
		metrics.Handle("/metrics", h)
	}
	a := &admin{}
	for _, s := range []struct {
		role, addr string
		h          http.Handler
	}{{"health", p.opts.HealthAddr, health}, {"metrics", p.opts.MetricsAddr, metrics}} {
		ln, err := p.listen(s.role, s.addr)
		if err != nil {
			a.close()
			return nil, err
		}
		srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
		a.servers = append(a.servers, srv)
		go func() { _ = srv.Serve(ln) }()
	}
	return a, nil
}

func (a *admin) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, s := range a.servers {
		_ = s.Shutdown(ctx)
	}
}
