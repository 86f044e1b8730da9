package bundle

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/meshlab/meshlab/internal/image"
)

// realContainerd starts Debian's containerd with a private config, root, state and socket
// under a temporary directory and returns a function running ctr against it.
func realContainerd(t *testing.T) func(ctx context.Context, args ...string) (string, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: run as root or via .ci/run")
	}
	for _, b := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("needs %s (apt-get install containerd runc): %v", b, err)
		}
	}
	dir, err := os.MkdirTemp("", "meshlab-ctrd-") // short: the socket path must fit 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "containerd.sock")
	// restrict_oom_score_adj: this kernel denies a negative oom_score_adj (no CAP_SYS_RESOURCE).
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("containerd log:\n%s", tail(string(b), 30))
		}
	})
	ctr := func(ctx context.Context, args ...string) (string, error) {
		c := exec.CommandContext(ctx, "ctr", append([]string{"--address", sock, "--namespace", "k8s.io"}, args...)...)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		return out.String(), err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := ctr(ctx, "version")
		cancel()
		if err == nil {
			return ctr
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer on %s within 30s: %v", sock, err)
		}
		time.Sleep(200 * time.Millisecond) // polling interval of a deadline-bound wait
	}
}

// importAndRun imports tarball, then runs ref with args and returns the output.
func importAndRun(t *testing.T, ctr func(context.Context, ...string) (string, error), tarball, ref string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := ctr(ctx, "images", "import", "--all-platforms", tarball); err != nil {
		t.Fatalf("ctr images import %s: %v\n%s", tarball, err, out)
	}
	if out, err := ctr(ctx, "images", "ls", "-q"); err != nil || !strings.Contains(out, ref) {
		t.Fatalf("image %s not listed after import (%v):\n%s", ref, err, out)
	}
	id := fmt.Sprintf("meshlab-test-%d", time.Now().UnixNano())
	out, err := ctr(ctx, append([]string{"run", "--rm", ref, id}, args...)...)
	if err != nil {
		t.Fatalf("ctr run %s %v: %v\n%s", ref, args, err, out)
	}
	return out
}

// TestPauseImageRunsInContainerd builds the pause image exactly as the bundle does (static
// binary from tools/k8sbuild/pause, scratch, entrypoint, platform), imports it into a real
// containerd and runs it.
func TestPauseImageRunsInContainerd(t *testing.T) {
	ctr := realContainerd(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "pause")
	src, err := filepath.Abs("../../tools/k8sbuild/pause")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := component{Dir: "pause", VersionVars: []string{"main.version={v}"}}
	if err := goBuild(ctx, src, c, binary{"pause", "."}, "3.10.1", bin, os.Stderr); err != nil {
		t.Fatal(err)
	}
	ref := "registry.k8s.io/pause:3.10.1"
	specs := imageSpecs(imageRefs{Pause: ref}, func(string) string { return bin }, nil)
	var pause image.Spec
	for _, s := range specs {
		if s.Ref == ref {
			pause = s
		}
	}
	tb := filepath.Join(dir, "images")
	refs, err := buildImages([]image.Spec{pause}, tb, dir)
	if err != nil {
		t.Fatal(err)
	}
	out := importAndRun(t, ctr, filepath.Join(tb, refs[ref]), ref, "/pause", "--version")
	if !strings.Contains(out, "pause 3.10.1") {
		t.Errorf("pause --version printed %q", out)
	}
}

// TestBundleImagesRunInContainerd runs images of a bundle built with
// `meshlab cluster bundle build --from-source`: etcd --version, iptables in kube-proxy's
// Debian-based layer, the addons' servers. Set MESHLAB_BUNDLE to the bundle directory.
func TestBundleImagesRunInContainerd(t *testing.T) {
	dir := os.Getenv("MESHLAB_BUNDLE")
	if dir == "" {
		t.Skip("needs a built bundle: set MESHLAB_BUNDLE=DIR after `make bundle` (tools/k8sbuild/build.sh DIR)")
	}
	m, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctr := realContainerd(t)
	cases := []struct {
		image string
		args  []string
		want  string
	}{
		{m.Versions["image-etcd"], []string{"etcd", "--version"}, "etcd Version: 3.6.5"},
		{"registry.k8s.io/kube-proxy:" + m.Versions["kubernetes"], []string{"iptables", "--version"}, "nf_tables"},
		{"registry.k8s.io/kube-proxy:" + m.Versions["kubernetes"], []string{"kube-proxy", "--version"}, m.Versions["kubernetes"]},
		{m.Versions["image-coredns"], []string{"/coredns", "-version"}, "CoreDNS-"},
		{m.Versions["image-flannel"], []string{"/opt/bin/flanneld", "--version"}, m.Versions["flannel"]},
		{m.Versions["image-flannel"], []string{"iptables-save", "--version"}, "nf_tables"},
		{"registry.k8s.io/kube-apiserver:" + m.Versions["kubernetes"], []string{"kube-apiserver", "--version"}, m.Versions["kubernetes"]},
		// The addon images, under the references the stack and the charts use.
		{m.Versions["image-prometheus"], []string{"prometheus", "--version"}, "version " + strings.TrimPrefix(m.Versions["prometheus"], "v")},
		{m.Versions["image-prometheus"], []string{"promtool", "--version"}, "version " + strings.TrimPrefix(m.Versions["prometheus"], "v")},
		{m.Versions["image-jaeger"], []string{"jaeger-all-in-one", "version"}, `"gitVersion":"` + m.Versions["jaeger"]},
	}
	for _, c := range cases {
		t.Run(c.image+" "+strings.Join(c.args, " "), func(t *testing.T) {
			rel, ok := m.Images[c.image]
			if !ok {
				t.Fatalf("bundle has no image %s (has %v)", c.image, m.Images)
			}
			out := importAndRun(t, ctr, filepath.Join(dir, rel), c.image, c.args...)
			if !strings.Contains(out, c.want) {
				t.Errorf("output %q does not contain %q", out, c.want)
			}
		})
	}
}

// TestNetfilterLayerRunsIptables builds the Debian-based layer under kube-proxy and flanneld
// from .debs fetched with apt-get download, and runs iptables and nft from it in containerd.
func TestNetfilterLayerRunsIptables(t *testing.T) {
	for _, b := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("needs %s (Debian): %v", b, err)
		}
	}
	ctr := realContainerd(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	debDir := filepath.Join(dir, "debs")
	if err := fetchDebs(ctx, debDir, netfilterDebs()); err != nil {
		t.Fatal(err)
	}
	nf, err := netfilterLayer(ctx, debDir, dir)
	if err != nil {
		t.Fatal(err)
	}
	ref := "registry.k8s.io/meshlab-netfilter-test:v1"
	refs, err := buildImages([]image.Spec{{Ref: ref, Base: []v1.Layer{nf}}}, filepath.Join(dir, "out"), dir)
	if err != nil {
		t.Fatal(err)
	}
	tb := filepath.Join(dir, "out", refs[ref])
	if out := importAndRun(t, ctr, tb, ref, "iptables-save", "--version"); !strings.Contains(out, "nf_tables") {
		t.Errorf("iptables-save --version = %q, want the nf_tables back end", out)
	}
	if out := importAndRun(t, ctr, tb, ref, "nft", "--version"); !strings.Contains(out, "nftables v1.0.6") {
		t.Errorf("nft --version = %q", out)
	}
}
