package telemetry

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reporter values of the "reporter" label.
const (
	ReporterSource      = "source"
	ReporterDestination = "destination"
)

// labelNames are Istio's standard metric labels, in the order Labels.values returns them.
// Dashboards built for Istio select on these names, so they must not change.
var labelNames = []string{
	"reporter",
	"source_workload", "source_workload_namespace", "source_principal", "source_app", "source_version",
	"source_canonical_service", "source_canonical_revision", "source_cluster",
	"destination_workload", "destination_workload_namespace", "destination_principal", "destination_app",
	"destination_version", "destination_service", "destination_service_name", "destination_service_namespace",
	"destination_canonical_service", "destination_canonical_revision", "destination_cluster",
	"request_protocol", "response_flags", "connection_security_policy",
}

// httpLabelNames adds the per-response labels of the HTTP metrics.
var httpLabelNames = append(append([]string{}, labelNames...), "response_code", "grpc_response_status")

// Workload describes one side of a request for metric labels.
type Workload struct {
	Name      string // the workload (Deployment) name
	Namespace string
	Principal string // SPIFFE identity, "unknown" without mTLS
	App       string // the app label
	Version   string // the version label
	Cluster   string
}

// Labels are the connection-level labels of one observation. The struct is comparable so it
// can key the series cache.
type Labels struct {
	Reporter                 string
	Source, Destination      Workload
	DestinationService       string // FQDN, e.g. reviews.default.svc.cluster.local
	DestinationServiceName   string
	DestinationServiceNS     string
	RequestProtocol          string // http, grpc, tcp
	ResponseFlags            string // Envoy-style flags ("-" when none): UF, UH, NR, UT, DI, FI, URX, UC
	ConnectionSecurityPolicy string // none | mutual_tls | unknown
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func (l Labels) values() []string {
	flags := l.ResponseFlags
	if flags == "" {
		flags = "-"
	}
	src, dst := l.Source, l.Destination
	return []string{
		l.Reporter,
		orUnknown(src.Name), orUnknown(src.Namespace), orUnknown(src.Principal), orUnknown(src.App), orUnknown(src.Version),
		orUnknown(src.App), orUnknown(src.Version), orUnknown(src.Cluster),
		orUnknown(dst.Name), orUnknown(dst.Namespace), orUnknown(dst.Principal), orUnknown(dst.App),
		orUnknown(dst.Version), orUnknown(l.DestinationService), orUnknown(l.DestinationServiceName), orUnknown(l.DestinationServiceNS),
		orUnknown(dst.App), orUnknown(dst.Version), orUnknown(dst.Cluster),
		orUnknown(l.RequestProtocol), flags, orUnknown(l.ConnectionSecurityPolicy),
	}
}

// Envoy's default histogram buckets, which Istio's dashboards assume.
var (
	durationBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}
	sizeBuckets     = prometheus.ExponentialBuckets(1, 10, 9)
)

// Metrics holds the Istio standard metrics of one proxy.
type Metrics struct {
	requests                   *prometheus.CounterVec
	duration, reqSize, resSize *prometheus.HistogramVec
	tcpSent, tcpReceived       *prometheus.CounterVec
	tcpOpened, tcpClosed       *prometheus.CounterVec

	// series caches resolved children: resolving 25 label values per request through the vector
	// costs more than the observation itself.
	series sync.Map // httpKey → *httpSeries, Labels → *tcpSeries
}

type httpKey struct {
	Labels
	code, grpc string
}

type httpSeries struct {
	requests                   prometheus.Counter
	duration, reqSize, resSize prometheus.Observer
}

type tcpSeries struct {
	sent, received, opened, closed prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_requests_total",
			Help: "Requests handled, by reporter, source, destination and response code."}, httpLabelNames),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "istio_request_duration_milliseconds",
			Help: "Request duration in milliseconds.", Buckets: durationBuckets}, httpLabelNames),
		reqSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "istio_request_bytes",
			Help: "Request size (headers and body) in bytes.", Buckets: sizeBuckets}, httpLabelNames),
		resSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "istio_response_bytes",
			Help: "Response size (headers and body) in bytes.", Buckets: sizeBuckets}, httpLabelNames),
		tcpSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_tcp_sent_bytes_total",
			Help: "Bytes sent to the downstream during TCP connections."}, labelNames),
		tcpReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_tcp_received_bytes_total",
			Help: "Bytes received from the downstream during TCP connections."}, labelNames),
		tcpOpened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_tcp_connections_opened_total",
			Help: "TCP connections opened."}, labelNames),
		tcpClosed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "istio_tcp_connections_closed_total",
			Help: "TCP connections closed."}, labelNames),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.reqSize, m.resSize, m.tcpSent, m.tcpReceived, m.tcpOpened, m.tcpClosed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ObserveRequest records one finished HTTP or gRPC request. grpcStatus is "" for plain HTTP.
func (m *Metrics) ObserveRequest(l Labels, code int, grpcStatus string, d time.Duration, reqBytes, respBytes int64) {
	k := httpKey{Labels: l, code: strconv.Itoa(code), grpc: grpcStatus}
	s, ok := m.series.Load(k)
	if !ok {
		vals := append(l.values(), k.code, orUnknownGRPC(grpcStatus))
		s, _ = m.series.LoadOrStore(k, &httpSeries{
			requests: m.requests.WithLabelValues(vals...),
			duration: m.duration.WithLabelValues(vals...),
			reqSize:  m.reqSize.WithLabelValues(vals...),
			resSize:  m.resSize.WithLabelValues(vals...),
		})
	}
	hs := s.(*httpSeries)
	hs.requests.Inc()
	hs.duration.Observe(float64(d.Microseconds()) / 1000)
	hs.reqSize.Observe(float64(reqBytes))
	hs.resSize.Observe(float64(respBytes))
}

func orUnknownGRPC(s string) string {
	if s == "" {
		return "-" // Istio leaves the label empty-ish for non-gRPC; "-" keeps it explicit
	}
	return s
}

func (m *Metrics) tcp(l Labels) *tcpSeries {
	s, ok := m.series.Load(l)
	if !ok {
		vals := l.values()
		s, _ = m.series.LoadOrStore(l, &tcpSeries{
			sent:     m.tcpSent.WithLabelValues(vals...),
			received: m.tcpReceived.WithLabelValues(vals...),
			opened:   m.tcpOpened.WithLabelValues(vals...),
			closed:   m.tcpClosed.WithLabelValues(vals...),
		})
	}
	return s.(*tcpSeries)
}

// TCPOpened records a new proxied TCP connection.
func (m *Metrics) TCPOpened(l Labels) { m.tcp(l).opened.Inc() }

// TCPClosed records a finished TCP connection and the bytes it moved: sent toward the downstream
// (client) and received from it.
func (m *Metrics) TCPClosed(l Labels, sent, received int64) {
	s := m.tcp(l)
	s.sent.Add(float64(sent))
	s.received.Add(float64(received))
	s.closed.Inc()
}
