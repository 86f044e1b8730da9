package verify

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlab/meshlab/bookinfo/local"
	"github.com/meshlab/meshlab/mesh/localmesh"
)

// startRealPrometheus runs the Prometheus binary on a free loopback port, scraping every
// sidecar of m on :15090 with the labels a Kubernetes pod job gives (namespace, pod), and
// returns its base URL once it is ready, and stop. It is stopped, by PID, when the test ends.
func startRealPrometheus(ctx context.Context, t *testing.T, dir string, m *localmesh.Mesh) (string, func()) {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("needs the prometheus binary (apt package prometheus)")
	}
	var jobs strings.Builder
	for _, p := range local.Topology().Pods {
		fmt.Fprintf(&jobs, "  - targets: ['%s']\n    labels: {namespace: default, pod: %s, app: %s, version: %s}\n",
			net.JoinHostPort(m.PodAddr(p.Name).String(), "15090"), p.Name, p.Labels["app"], p.Labels["version"])
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n- job_name: kubernetes-pods\n" +
		"  metrics_path: /stats/prometheus\n  static_configs:\n" + jobs.String()
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	stop := startPeer(ctx, t, dir, "prometheus", exec.Command(bin, "--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"), "--web.listen-address="+addr),
		func() bool { return httpOK(ctx, base+"/-/ready") })
	return base, stop
}

// startRealJaeger runs Jaeger all-in-one (built by tools/testpeers/build.sh) with its Zipkin
// receiver on zipkin (the host's address on the pods' bridge) and everything else on loopback.
// It returns the query API's base URL, or "" when the binary is not built, and stop.
func startRealJaeger(ctx context.Context, t *testing.T, dir, zipkin string) (string, func()) {
	t.Helper()
	cache := os.Getenv("MESHLAB_CACHE")
	if cache == "" {
		cache = "/var/cache/meshlab"
	}
	bins, _ := filepath.Glob(filepath.Join(cache, "testpeers", "*", "jaeger-all-in-one"))
	if len(bins) == 0 {
		t.Logf("no Jaeger at %s/testpeers/*/jaeger-all-in-one (tools/testpeers/build.sh): tracing not checked", cache)
		return "", func() {}
	}
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	query := free()
	cmd := exec.Command(bins[len(bins)-1], "--collector.zipkin.host-port="+zipkin, "--collector.otlp.enabled=false",
		"--collector.grpc-server.host-port="+free(), "--collector.http-server.host-port="+free(),
		"--query.http-server.host-port="+query, "--query.grpc-server.host-port="+free(), "--admin.http.host-port="+free())
	cmd.Env = append(os.Environ(), "SPAN_STORAGE_TYPE=memory")
	base := "http://" + query
	stop := startPeer(ctx, t, dir, "jaeger", cmd, func() bool {
		if !httpOK(ctx, base+"/api/services") {
			return false
		}
		c, err := net.DialTimeout("tcp", zipkin, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return base, stop
}

// startPeer starts a real peer logging to dir/<name>.log, ends it (by its PID) with the test,
// and waits up to 60 s for ready. stop ends it earlier (a backend going down).
func startPeer(ctx context.Context, t *testing.T, dir, name string, cmd *exec.Cmd, ready func() bool) (stop func()) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = sync.OnceFunc(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	t.Cleanup(stop)
	deadline := time.Now().Add(60 * time.Second)
	for !ready() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s not ready within 60 s (log in %s)", name, logf.Name())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return stop
}

// httpOK reports whether GET url answers 200.
func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
