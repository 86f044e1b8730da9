package bundle

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/versions"
)

func TestLdflagsSetVersion(t *testing.T) {
	for _, c := range components() {
		if c.Dir != "kubernetes" {
			continue
		}
		got := c.ldflags("v1.34.2")
		for _, want := range []string{"-s -w", "gitVersion=v1.34.2", "gitMajor=1 ", "gitMinor=34 ", "gitTreeState=clean"} {
			if !strings.Contains(got, want) {
				t.Errorf("ldflags %q lack %q", got, want)
			}
		}
		return
	}
	t.Fatal("no kubernetes component")
}

func TestFlannelLinksStatically(t *testing.T) {
	for _, c := range components() {
		if c.Dir == "flannel" {
			if got := c.ldflags("v0.28.10"); !c.Cgo || !strings.Contains(got, "-extldflags -static") {
				t.Errorf("flannel: cgo %v, ldflags %q; want a static cgo link", c.Cgo, got)
			}
			if got := strings.Join(c.tags(), ","); got != "netgo,osusergo" {
				t.Errorf("flannel tags = %s, want the pure-Go resolver and user lookup", got)
			}
			return
		}
	}
	t.Fatal("no flannel component")
}

func TestComponentsNameEveryBinaryOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range components() {
		for _, b := range c.Bins {
			if seen[b.Name] {
				t.Errorf("binary %s built twice", b.Name)
			}
			seen[b.Name] = true
		}
	}
	for _, need := range []string{"kubeadm", "kubelet", "kubectl", "kube-proxy", "etcd", "coredns", "flanneld",
		"crictl", "bridge", "host-local", "loopback", "portmap", "flannel", "pause",
		"prometheus", "promtool", "jaeger-all-in-one"} {
		if !seen[need] {
			t.Errorf("no component builds %s", need)
		}
	}
}

func TestStripVAndTagOf(t *testing.T) {
	if got := stripV(tagOf("registry.k8s.io/etcd:3.6.5-0")); got != "v3.6.5" {
		t.Errorf("etcd version = %s", got)
	}
	if got := tagOf("localhost:5000/pause"); got != "" {
		t.Errorf("tagOf without tag = %q", got)
	}
}

// TestPinsMatchVersionsTable resolves the real tools/k8sbuild go.mod files and checks them
// against versions.Default(): kubeadm's own pins must agree exactly.
func TestPinsMatchVersionsTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, warns, err := resolvePins(ctx, "../../tools/k8sbuild", versions.Default())
	if err != nil {
		if strings.Contains(err.Error(), "go list") {
			t.Skipf("needs the Go module proxy or a warm module cache: %v", err)
		}
		t.Fatal(err)
	}
	for _, w := range warns {
		t.Logf("warning: %s", w)
	}
	if p.Kubernetes != "v1.34.2" || p.byDir["etcd"] != "v3.6.5" || p.byDir["coredns"] != "v1.12.1" ||
		p.byDir["prometheus"] != "v3.10.0" || p.byDir["jaeger"] != "v1.76.0" {
		t.Errorf("pins = %+v", p)
	}
	for _, bad := range []struct {
		what string
		edit func(*versions.Set)
		want string
	}{
		{"kubernetes", func(s *versions.Set) { s.Kubernetes.Version = "v1.33.0" }, "v1.33.0"},
		{"prometheus", func(s *versions.Set) { s.Addons.Prometheus = "docker.io/prom/prometheus:v3.9.1" }, "builds v3.10.0"},
		{"jaeger release", func(s *versions.Set) { s.Addons.Jaeger = "docker.io/jaegertracing/all-in-one:1.75.0" }, "v1.75.0"},
		// A v2 image would get the chart's v2 config file, which the all-in-one cannot read.
		{"jaeger v2 image", func(s *versions.Set) { s.Addons.Jaeger = "docker.io/jaegertracing/jaeger:1.76.0" }, "all-in-one"},
	} {
		s := versions.Default()
		bad.edit(&s)
		if _, _, err := resolvePins(ctx, "../../tools/k8sbuild", s); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("a mismatched %s pin gave %v, want an error naming %q", bad.what, err, bad.want)
		}
	}
}

func TestPrometheusRelease(t *testing.T) {
	for mod, want := range map[string]string{
		"v0.310.0": "v3.10.0", "v0.300.1": "v3.0.1", "v0.316.0": "v3.16.0", "v0.305.2": "v3.5.2",
		"v0.55.1":                            "v2.55.1", // Prometheus 2.x used two-digit minors
		"v0.310.0-rc.0":                      "v0.310.0-rc.0",
		"v0.0.0-20250101000000-abcdefabcdef": "v0.0.0-20250101000000-abcdefabcdef",
		"v1.8.2":                             "v1.8.2",
	} {
		if got := prometheusRelease(mod); got != want {
			t.Errorf("prometheusRelease(%s) = %s, want %s", mod, got, want)
		}
	}
}

// TestPrometheusBuildKeepsKubernetesDiscovery checks the build tags and version flags of the
// Prometheus component: only Kubernetes discovery among the plugins, the web UI embedded,
// version without "v".
func TestPrometheusBuildKeepsKubernetesDiscovery(t *testing.T) {
	for _, c := range components() {
		if c.Dir != "prometheus" {
			continue
		}
		if got := strings.Join(c.tags(), ","); got != "remove_all_sd,enable_kubernetes_sd,builtinassets" {
			t.Errorf("tags = %s", got)
		}
		if got := c.ldflags(c.release("v0.310.0")); !strings.Contains(got, "common/version.Version=3.10.0 ") {
			t.Errorf("ldflags %q do not set Version=3.10.0", got)
		}
		return
	}
	t.Fatal("no prometheus component")
}

func TestCacheKeyFollowsInputs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := pinSet{byDir: map[string]string{"etcd": "v3.6.5"}, Kubernetes: "v1.34.2"}
	s := versions.Default()
	k1, err := cacheKey(ctx, src, p, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k2, _ := cacheKey(ctx, src, p, s, nil); k2 != k1 {
		t.Errorf("same inputs gave keys %s and %s", k1, k2)
	}
	if !strings.HasPrefix(k1, "v1.34.2-") {
		t.Errorf("key %s does not start with the Kubernetes version", k1)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if k3, _ := cacheKey(ctx, src, p, s, nil); k3 == k1 {
		t.Error("a changed go.mod kept the cache key")
	}
	s.DebianRuntime.Containerd = "9.9"
	if k4, _ := cacheKey(ctx, src, p, s, nil); k4 == k1 {
		t.Error("a changed containerd pin kept the cache key")
	}
}

func TestDefaultCacheRoot(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	if got := DefaultCacheRoot(get); got != "/var/cache/meshlab/bundle" {
		t.Errorf("default = %s", got)
	}
	env["MESHLAB_CACHE"] = "/tmp/c"
	if got := DefaultCacheRoot(get); got != "/tmp/c/bundle" {
		t.Errorf("with MESHLAB_CACHE = %s", got)
	}
}
