package server

import "github.com/prometheus/client_golang/prometheus"

// metrics are the control plane's Prometheus series; the names are the ones the Grafana dashboard
// addons/charts/grafana/dashboards/meshlab-control-plane.json queries.
type metrics struct {
	convergence prometheus.Histogram
	pushes      prometheus.Counter
	nacks       prometheus.Counter
	connected   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		convergence: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meshlab_pilot_proxy_convergence_time_seconds",
			Help:    "Time from a config push to the proxy's ACK of every resource type of that version.",
			Buckets: []float64{.01, .05, .1, .5, 1, 3, 5, 10},
		}),
		pushes:    prometheus.NewCounter(prometheus.CounterOpts{Name: "meshlab_pilot_xds_pushes_total", Help: "xDS responses sent to proxies."}),
		nacks:     prometheus.NewCounter(prometheus.CounterOpts{Name: "meshlab_pilot_xds_nacks_total", Help: "xDS responses proxies rejected."}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshlab_pilot_connected_proxies", Help: "Proxies with an open ADS stream."}),
	}
	for _, c := range []prometheus.Collector{m.convergence, m.pushes, m.nacks, m.connected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// MetricConnected and MetricNacks expose two series to tests in other packages.
func (s *Server) MetricConnected() prometheus.Collector { return s.metrics.connected }

// MetricNacks is the NACK counter.
func (s *Server) MetricNacks() prometheus.Collector { return s.metrics.nacks }
