package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/bookinfo/deploy"
)

// TestMeshGatewayExportsItsMetrics runs `meshlab mesh gateway` as its pod does (POD_NAMESPACE
// from the downward API) in front of a productpage on loopback: after a request through it,
// its metrics port serves istio_requests_total as a sidecar's, naming the gateway and its
// namespace as the source. Prometheus scrapes that port (the pod's annotations), and the
// service graph's entry edges come from it.
func TestMeshGatewayExportsItsMetrics(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "productpage")
	}))
	defer app.Close()
	_, appPort, _ := net.SplitHostPort(strings.TrimPrefix(app.URL, "http://"))
	dir := t.TempDir()
	sample, err := deploy.Sample(deploy.GatewayFile)
	if err != nil {
		t.Fatal(err)
	}
	registry := fmt.Sprintf(`apiVersion: meshlab.io/v1alpha1
kind: Registry
spec:
  services:
  - name: productpage
    ports: [{name: http, port: 9080, protocol: HTTP}]
    endpoints: [{address: 127.0.0.1, port: %s, labels: {app: productpage, version: v1}, workload: productpage-v1}]
`, appPort)
	files := map[string]string{"bookinfo-gateway.yaml": string(sample), "registry.yaml": registry}
	var args []string
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", p)
	}
	server, metrics, health := freeLoopback(t), freeLoopback(t), freeLoopback(t)
	t.Setenv("POD_NAMESPACE", "meshlab-system")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"mesh", "gateway", "--listen", "8080=" + server, "--metrics-addr", metrics, "--health-addr", health}, args...))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Errorf("mesh gateway: %v\n%s", err, out.String())
		}
	}()

	var body string
	for {
		code, b, err := httpGet(ctx, "http://"+server+"/productpage")
		if err == nil && code == http.StatusOK {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("GET /productpage through the gateway: %d %q %v\n%s", code, b, err, out.String())
		}
		time.Sleep(100 * time.Millisecond) // polling interval of a deadline-bound wait
	}
	code, body, err := httpGet(ctx, "http://"+metrics+"/stats/prometheus")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET the gateway's /stats/prometheus: %d %v", code, err)
	}
	line := regexp.MustCompile(`(?m)^istio_requests_total\{[^}]*reporter="source"[^}]*\} 1$`).FindString(body)
	for _, want := range []string{`source_workload="meshlab-ingressgateway"`, `source_workload_namespace="meshlab-system"`,
		`destination_workload="productpage-v1"`, `response_code="200"`} {
		if !strings.Contains(line, want) {
			t.Errorf("the gateway's request metric lacks %s: %q\n%s", want, line, body)
		}
	}
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpGet(ctx context.Context, url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
