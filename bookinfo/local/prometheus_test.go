package local

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/localmesh"
)

// sidecarMetricsPort and path are where Istio's sidecars (and meshlab's) expose their metrics.
const (
	sidecarMetricsPort = 15090
	sidecarMetricsPath = "/stats/prometheus"
)

// prometheusConfig scrapes every sidecar once a second, as static targets (the pods' addresses).
func prometheusConfig(m *localmesh.Mesh) string {
	var targets []string
	for _, p := range Topology().Pods {
		targets = append(targets, fmt.Sprintf("'%s'", netip.AddrPortFrom(m.PodAddr(p.Name), sidecarMetricsPort)))
	}
	return fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
- job_name: sidecars
  metrics_path: %s
  static_configs:
  - targets: [%s]
`, sidecarMetricsPath, strings.Join(targets, ", "))
}

// startPrometheus runs Prometheus with a temporary storage on a free loopback port and waits
// until it has scraped every sidecar successfully. It returns the HTTP API's base URL.
func startPrometheus(t *testing.T, binary, dir string, m *localmesh.Mesh) string {
	t.Helper()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(prometheusConfig(m)), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := freeLoopbackPort(t)
	p := startPeer(t, "prometheus", filepath.Join(dir, "prometheus.log"), nil, binary,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+listen,
	)
	base := "http://" + listen
	want := len(Topology().Pods)
	p.waitFor(t, fmt.Sprintf("all %d sidecars scraped", want), 60*time.Second, func() error {
		// `up` is 1 for a target whose last scrape succeeded.
		res, err := promQuery(base, "sum(up)")
		if err != nil {
			return err
		}
		if len(res) != 1 || res[0].value() != float64(want) {
			return fmt.Errorf("sum(up) = %v", res)
		}
		return nil
	})
	checkBoundPrivately(t, p)
	return base
}

// promSample is one element of an instant query's vector result.
type promSample struct {
	Metric map[string]string
	Value  [2]any // [unix time, "value"]
}

func (s promSample) value() float64 {
	str, _ := s.Value[1].(string)
	v, _ := strconv.ParseFloat(str, 64)
	return v
}

// promQuery runs an instant query through Prometheus's HTTP API.
func promQuery(base, q string) ([]promSample, error) {
	var body struct {
		Status string
		Error  string
		Data   struct {
			ResultType string
			Result     []promSample
		}
	}
	if err := getJSON(base+"/api/v1/query?"+url.Values{"query": {q}}.Encode(), &body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, body.Error)
	}
	return body.Data.Result, nil
}

// checkPrometheus waits for the reviews requests to show in Prometheus, then checks that both
// reporters' series carry the right workloads.
func checkPrometheus(t *testing.T, base string) {
	t.Helper()
	const total = `sum(istio_requests_total{destination_service=~"reviews.*"})`
	series := map[string]string{
		"source (productpage's sidecar)": `istio_requests_total{reporter="source",source_workload="productpage-v1",source_app="productpage",` +
			`destination_workload="reviews-v3",destination_app="reviews",destination_version="v3",destination_service=~"reviews.*",response_code="200"}`,
		"destination (reviews-v3's sidecar)": `istio_requests_total{reporter="destination",source_workload="productpage-v1",` +
			`destination_workload="reviews-v3",destination_service_name="reviews",destination_service=~"reviews.*",response_code="200"}`,
		"source (reviews-v3 calling ratings)": `istio_requests_total{reporter="source",source_workload="reviews-v3",destination_workload="ratings-v1"}`,
	}
	var last error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if last = promPositive(base, total); last == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("%s never went above zero within 30 s: %v", total, last)
	}
	for what, q := range series {
		if err := promPositive(base, "sum("+q+")"); err != nil {
			all, _ := promQuery(base, `istio_requests_total`)
			t.Errorf("reporter %s: %v\nevery istio_requests_total series: %v", what, err, all)
		}
	}
}

func promPositive(base, q string) error {
	res, err := promQuery(base, q)
	if err != nil {
		return err
	}
	if len(res) == 0 || res[0].value() <= 0 {
		return fmt.Errorf("%s = %v, want > 0", q, res)
	}
	return nil
}
