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
		"crictl", "bridge", "host-local", "loopback", "portmap", "flannel", "pause"} {
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
	if p.Kubernetes != "v1.34.2" || p.byDir["etcd"] != "v3.6.5" || p.byDir["coredns"] != "v1.12.1" {
		t.Errorf("pins = %+v", p)
	}
	bad := versions.Default()
	bad.Kubernetes.Version = "v1.33.0"
	if _, _, err := resolvePins(ctx, "../../tools/k8sbuild", bad); err == nil || !strings.Contains(err.Error(), "v1.33.0") {
		t.Errorf("a mismatched Kubernetes pin gave %v", err)
	}
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
	k1, err := cacheKey(ctx, src, p, s)
	if err != nil {
		t.Fatal(err)
	}
	if k2, _ := cacheKey(ctx, src, p, s); k2 != k1 {
		t.Errorf("same inputs gave keys %s and %s", k1, k2)
	}
	if !strings.HasPrefix(k1, "v1.34.2-") {
		t.Errorf("key %s does not start with the Kubernetes version", k1)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if k3, _ := cacheKey(ctx, src, p, s); k3 == k1 {
		t.Error("a changed go.mod kept the cache key")
	}
	s.DebianRuntime.Containerd = "9.9"
	if k4, _ := cacheKey(ctx, src, p, s); k4 == k1 {
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
