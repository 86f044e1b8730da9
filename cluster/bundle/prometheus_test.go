package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// chartPrometheusArgs are the Prometheus container's arguments in the chart's rendered
// Deployment (its golden file), with the config file and TSDB moved to cfg and data, and the
// listen address (the pod's :9090) set to addr.
func chartPrometheusArgs(t *testing.T, cfg, data, addr string) []string {
	t.Helper()
	const golden = "../../addons/testdata/prometheus.golden.yaml"
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var d struct {
			Kind string `json:"kind"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct{ Args []string } `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil || d.Kind != "Deployment" || len(d.Spec.Template.Spec.Containers) == 0 {
			continue
		}
		args := []string{"--web.listen-address=" + addr}
		for _, a := range d.Spec.Template.Spec.Containers[0].Args {
			switch {
			case strings.HasPrefix(a, "--config.file="):
				a = "--config.file=" + cfg
			case strings.HasPrefix(a, "--storage.tsdb.path="):
				a = "--storage.tsdb.path=" + data
			case strings.HasPrefix(a, "--web.listen-address="):
				continue
			}
			args = append(args, a)
		}
		return args
	}
	t.Fatalf("%s has no Deployment with a container", golden)
	return nil
}

// TestBundlePrometheusRunsTheChartConfig takes Prometheus and promtool out of the bundle's image
// and the chart's rendered scrape config, checks the config with that promtool (Debian's lacks
// Kubernetes discovery and rejects it), then runs the server on loopback with the chart's
// arguments until /-/ready answers, asks its HTTP API for the version and a query, and checks that it
// serves its web UI (the React app and its assets, embedded in the binary).
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
	startPeer(t, work, "prometheus", prom, chartPrometheusArgs(t, cfg, filepath.Join(work, "data"), addr)...)
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
	checkUIServed(ctx, t, base)
}

// uiAsset matches the app's script and stylesheet in the index.html Vite built (relative to the
// page, so the UI works behind any host and port, a NodePort's included).
var uiAsset = regexp.MustCompile(`(?:src|href)="\./(assets/[^"]+\.(js|css))"`)

// checkUIServed asks the Prometheus at base for the pages of its React app and the files they
// load: each page answers 200 with the app's HTML (title filled in, a root to render into, a
// script and a stylesheet), and each of those files answers 200 with its type and some content.
// It returns the asset paths.
func checkUIServed(ctx context.Context, t *testing.T, base string) []string {
	t.Helper()
	var index []byte
	for _, page := range []string{"/query", "/targets", "/"} { // "/" redirects to /query
		code, body := get(ctx, base+page)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d: %s", page, code, tail(string(body), 3))
		}
		for _, want := range []string{`<div id="root">`, "<title>Prometheus Time Series Collection and Processing Server</title>"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("GET %s: the page lacks %s:\n%s", page, want, body)
			}
		}
		if index != nil && !bytes.Equal(body, index) {
			t.Errorf("GET %s is another page than /query; both are the one React app", page)
		}
		index = body
	}
	var assets []string
	kinds := map[string]int{}
	for _, m := range uiAsset.FindAllStringSubmatch(string(index), -1) {
		assets = append(assets, m[1])
		kinds[m[2]]++
	}
	if kinds["js"] == 0 || kinds["css"] == 0 {
		t.Fatalf("the app's index.html names no script or no stylesheet under ./assets/ (%v):\n%s", assets, index)
	}
	for _, a := range assets {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/"+a, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ctype := resp.Header.Get("Content-Type")
		want := map[string]string{".js": "javascript", ".css": "text/css"}[filepath.Ext(a)]
		if resp.StatusCode != http.StatusOK || !strings.Contains(ctype, want) || len(body) < 1000 {
			t.Errorf("GET /%s = %d, %s, %d bytes; want 200, %s, the built file", a, resp.StatusCode, ctype, len(body), want)
		}
	}
	return assets
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
