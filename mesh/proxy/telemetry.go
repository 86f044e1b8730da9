package proxy

import (
	"net/http"
	"time"

	"github.com/meshlab/meshlab/mesh/telemetry"
)

// Telemetry is everything the proxy reports. It is an interface so the proxy does not care how
// metrics and spans are kept; NewTelemetry adapts mesh/telemetry, tests use fakes.
type Telemetry interface {
	// Request records one finished HTTP request.
	Request(l telemetry.Labels, code int, grpcStatus string, d time.Duration, reqBytes, respBytes int64)
	TCPOpened(l telemetry.Labels)
	TCPClosed(l telemetry.Labels, sent, received int64)
	// MetricsHandler serves /stats/prometheus (nil: metrics are not served).
	MetricsHandler() http.Handler
}

type nopTelemetry struct{}

func (nopTelemetry) Request(telemetry.Labels, int, string, time.Duration, int64, int64) {}
func (nopTelemetry) TCPOpened(telemetry.Labels)                                         {}
func (nopTelemetry) TCPClosed(telemetry.Labels, int64, int64)                           {}
func (nopTelemetry) MetricsHandler() http.Handler                                       { return nil }

// standardTelemetry adapts mesh/telemetry's Metrics. Spans do not go through it: the Zipkin
// collector comes from the routing config, so the proxy owns its reporter (tracing.go).
type standardTelemetry struct {
	metrics *telemetry.Metrics
	handler http.Handler
}

// NewTelemetry adapts mesh/telemetry metrics, served by handler.
func NewTelemetry(m *telemetry.Metrics, handler http.Handler) Telemetry {
	return &standardTelemetry{metrics: m, handler: handler}
}

func (t *standardTelemetry) Request(l telemetry.Labels, code int, grpc string, d time.Duration, req, resp int64) {
	t.metrics.ObserveRequest(l, code, grpc, d, req, resp)
}
func (t *standardTelemetry) TCPOpened(l telemetry.Labels) { t.metrics.TCPOpened(l) }
func (t *standardTelemetry) TCPClosed(l telemetry.Labels, sent, received int64) {
	t.metrics.TCPClosed(l, sent, received)
}
func (t *standardTelemetry) MetricsHandler() http.Handler { return t.handler }
