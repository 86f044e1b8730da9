package bundle

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/internal/image"
)

// builtBundle returns the bundle MESHLAB_BUNDLE names, or skips.
func builtBundle(t *testing.T) (string, *Manifest) {
	t.Helper()
	dir := os.Getenv("MESHLAB_BUNDLE")
	if dir == "" {
		t.Skip("needs a built bundle: set MESHLAB_BUNDLE=DIR after `make bundle` (tools/k8sbuild/build.sh DIR)")
	}
	m, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// extractFromImage copies file (a path inside the image, without the leading /) out of the
// bundle's image ref into dst, executable.
func extractFromImage(t *testing.T, dir string, m *Manifest, ref, file, dst string) {
	t.Helper()
	rel, ok := m.Images[ref]
	if !ok {
		t.Fatalf("bundle has no image %s (has %v)", ref, m.Images)
	}
	img, err := image.ReadTarball(filepath.Join(dir, rel), ref)
	if err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("image %s has no /%s", ref, file)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != file {
			continue
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
}

// chartPrometheusConfig is the scrape config the addon chart renders (its golden file), the
// one the lab's Prometheus runs: kubernetes_sd_configs, role pod, annotation based.
func chartPrometheusConfig(t *testing.T) []byte {
	t.Helper()
	const golden = "../../addons/testdata/prometheus.golden.yaml"
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var cm struct {
			Kind string            `json:"kind"`
			Data map[string]string `json:"data"`
		}
		if err := yaml.Unmarshal([]byte(doc), &cm); err == nil && cm.Kind == "ConfigMap" && cm.Data["prometheus.yml"] != "" {
			if !strings.Contains(cm.Data["prometheus.yml"], "kubernetes_sd_configs") {
				t.Fatalf("%s: the scrape config no longer uses kubernetes_sd_configs; update this test", golden)
			}
			return []byte(cm.Data["prometheus.yml"])
		}
	}
	t.Fatalf("%s has no ConfigMap with prometheus.yml", golden)
	return nil
}

// TestBundlePrometheusRunsTheChartConfig takes Prometheus and promtool out of the bundle's image
// and the chart's rendered scrape config, checks the config with that promtool (Debian's lacks
// Kubernetes discovery and rejects it), then runs the server on loopback with the chart's flags
// until /-/ready answers, and asks its HTTP API for the version and a query.
func TestBundlePrometheusRunsTheChartConfig(t *testing.T) {
	dir, m := builtBundle(t)
	ref := m.Versions["image-prometheus"]
	work := t.TempDir()
	prom := filepath.Join(work, "prometheus")
	promtool := filepath.Join(work, "promtool")
	extractFromImage(t, dir, m, ref, "bin/prometheus", prom)
	extractFromImage(t, dir, m, ref, "bin/promtool", promtool)
	cfg := filepath.Join(work, "prometheus.yml")
	if err := os.WriteFile(cfg, chartPrometheusConfig(t), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "check", "config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("the image's promtool check config: %v\n%s", err, out)
	}
	t.Logf("promtool check config:\n%s", out)

	addr := freeLoopbackAddr(t)
	startPeer(t, work, "prometheus", prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(work, "data"),
		"--storage.tsdb.retention.time=1h", "--web.enable-lifecycle", "--web.listen-address="+addr)
	base := "http://" + addr
	waitHTTP(ctx, t, base+"/-/ready")
	if code, _ := get(ctx, base+"/-/healthy"); code != http.StatusOK {
		t.Errorf("/-/healthy = %d", code)
	}
	var info struct {
		Data struct{ Version string } `json:"data"`
	}
	_, body := get(ctx, base+"/api/v1/status/buildinfo")
	if err := json.Unmarshal(body, &info); err != nil || "v"+info.Data.Version != m.Versions["prometheus"] {
		t.Errorf("buildinfo version %q (%v), want %s: %s", info.Data.Version, err, m.Versions["prometheus"], body)
	}
	if code, body := get(ctx, base+"/api/v1/query?query=vector(1)"); code != http.StatusOK || !strings.Contains(string(body), `"status":"success"`) {
		t.Errorf("query vector(1): %d %s", code, body)
	}
	// The web UI's files are not in the binary (no builtinassets tag): say what / does.
	code, body := get(ctx, base+"/query")
	t.Logf("GET /query without UI assets: %d %s", code, tail(string(body), 3))
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port nobody listened on a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(ctx context.Context, url string) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, []byte(err.Error())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}

// waitHTTP polls url until it answers 200 or ctx ends.
func waitHTTP(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	for {
		code, body := get(ctx, url)
		if code == http.StatusOK {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never answered 200 (last: %d %s): %v", url, code, body, ctx.Err())
		case <-time.After(200 * time.Millisecond): // polling interval of a deadline-bound wait
		}
	}
}

// startPeer runs a program taken out of a bundle image on loopback, logging to work/<name>.log,
// and ends it (by its PID) when the test does; the log's tail is shown if the test failed.
func startPeer(t *testing.T, work, name, bin string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(work, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = work, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log:\n%s", name, tail(string(b), 30))
		}
	})
}
