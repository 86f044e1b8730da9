package telemetry

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func reviewsLabels() Labels {
	return Labels{
		Reporter:               ReporterSource,
		Source:                 Workload{Name: "productpage-v1", Namespace: "default", App: "productpage", Version: "v1"},
		Destination:            Workload{Name: "reviews-v3", Namespace: "default", App: "reviews", Version: "v3"},
		DestinationService:     "reviews.default.svc.cluster.local",
		DestinationServiceName: "reviews", DestinationServiceNS: "default",
		RequestProtocol: "http", ConnectionSecurityPolicy: "none",
	}
}

func TestMetricsIstioNamesAndLabels(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	l := reviewsLabels()
	m.ObserveRequest(l, 200, "", 12*time.Millisecond, 300, 1500)
	m.ObserveRequest(l, 200, "", 2*time.Millisecond, 300, 1500)
	m.ObserveRequest(l, 503, "", time.Millisecond, 300, 20)
	m.TCPOpened(Labels{Reporter: ReporterDestination, RequestProtocol: "tcp"})
	m.TCPClosed(Labels{Reporter: ReporterDestination, RequestProtocol: "tcp"}, 10, 20)

	if got := testutil.ToFloat64(m.requests.WithLabelValues(append(l.values(), "200", "-")...)); got != 2 {
		t.Errorf("istio_requests_total{response_code=200} = %v, want 2", got)
	}
	n, err := testutil.GatherAndCount(reg, "istio_requests_total", "istio_request_duration_milliseconds",
		"istio_request_bytes", "istio_response_bytes", "istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total",
		"istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2*4+4 {
		t.Errorf("series = %d, want 12", n)
	}
	// The label set queried by Istio's docs and dashboards must be present.
	expected := `
# HELP istio_tcp_sent_bytes_total Bytes sent to the downstream during TCP connections.
# TYPE istio_tcp_sent_bytes_total counter
istio_tcp_sent_bytes_total{connection_security_policy="unknown",destination_app="unknown",destination_canonical_revision="unknown",destination_canonical_service="unknown",destination_cluster="unknown",destination_principal="unknown",destination_service="unknown",destination_service_name="unknown",destination_service_namespace="unknown",destination_version="unknown",destination_workload="unknown",destination_workload_namespace="unknown",reporter="destination",request_protocol="tcp",response_flags="-",source_app="unknown",source_canonical_revision="unknown",source_canonical_service="unknown",source_cluster="unknown",source_principal="unknown",source_version="unknown",source_workload="unknown",source_workload_namespace="unknown"} 10
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "istio_tcp_sent_bytes_total"); err != nil {
		t.Error(err)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	l := reviewsLabels()
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest(l, 200, "", time.Millisecond, 100, 1000)
	}
}
