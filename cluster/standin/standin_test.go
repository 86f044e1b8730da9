package standin

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/provision/versions"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (tools/install-deps.sh installs it)", tool)
		}
	}
}

// freeAddr is a free port on loopback.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// fakeBundle is a bundle built from source in miniature: tiny stand-ins for the binaries.
func fakeBundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"bin/kubeadm", "bin/kubelet", "bin/kubectl", "bin/crictl",
		"cni/bridge", "cni/host-local", "cni/loopback", "cni/portmap", "cni/flannel"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho "+filepath.Base(f)+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestKubernetesDebs: the five packages carry upstream's names, versions, dependencies and files.
func TestKubernetesDebs(t *testing.T) {
	need(t, "dpkg-deb")
	out := t.TempDir()
	debs, err := KubernetesDebs(context.Background(), fakeBundle(t), versions.Default(), out, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ version, depends, files string }{
		"kubeadm":        {"1.34.2-1.1", "", "./usr/bin/kubeadm ./usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"},
		"kubelet":        {"1.34.2-1.1", "kubernetes-cni (>= 1.2.0), mount, util-linux", "./usr/bin/kubelet ./usr/lib/systemd/system/kubelet.service ./etc/default/kubelet"},
		"kubectl":        {"1.34.2-1.1", "", "./usr/bin/kubectl"},
		"cri-tools":      {"1.34.0-1.1", "", "./usr/bin/crictl"},
		"kubernetes-cni": {"1.9.1-1.1", "", "./opt/cni/bin/bridge ./opt/cni/bin/portmap"},
	}
	if len(debs) != len(want) {
		t.Fatalf("%d packages: %v", len(debs), debs)
	}
	for _, deb := range debs {
		fields, err := exec.Command("dpkg-deb", "-f", deb, "Package", "Version", "Depends").Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", deb, err)
		}
		f := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(fields)), "\n") {
			k, v, _ := strings.Cut(line, ": ")
			f[k] = v
		}
		w, ok := want[f["Package"]]
		if !ok {
			t.Errorf("unexpected package %v", f)
			continue
		}
		if f["Version"] != w.version || f["Depends"] != w.depends {
			t.Errorf("%s: version %q depends %q; want %q, %q", f["Package"], f["Version"], f["Depends"], w.version, w.depends)
		}
		list, err := exec.Command("dpkg-deb", "-c", deb).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range strings.Fields(w.files) {
			if !strings.Contains(string(list), " "+file+"\n") {
				t.Errorf("%s lacks %s:\n%s", f["Package"], file, list)
			}
		}
		if f["Package"] == "kubernetes-cni" && strings.Contains(string(list), "flannel") {
			t.Error("kubernetes-cni must not carry Flannel's plugin (Flannel's image installs it)")
		}
		if !strings.Contains(string(list), "root/root") {
			t.Errorf("%s: files not owned by root", f["Package"])
		}
	}
}

// TestAptRepositoriesWithRealApt: apt itself (in a root of its own, talking to loopback only)
// accepts the signed repositories, finds the pinned versions, and refuses a Release changed
// after signing.
func TestAptRepositoriesWithRealApt(t *testing.T) {
	need(t, "dpkg-deb", "apt-ftparchive", "gpg", "apt-get")
	ctx := context.Background()
	key, err := NewKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(key.Close)
	debs, err := KubernetesDebs(ctx, fakeBundle(t), versions.Default(), t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	flat, err := FlatRepo(ctx, root, "core:/stable:/v1.34/deb", debs, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DebianRepo(ctx, root, "debian", "bookworm", debs[:1], key); err != nil {
		t.Fatal(err)
	}
	srv, err := Serve(root, freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	aptRoot := t.TempDir()
	keyFile := filepath.Join(aptRoot, "key.asc")
	if err := os.WriteFile(keyFile, key.Public, 0o644); err != nil {
		t.Fatal(err)
	}
	sources := filepath.Join(aptRoot, "sources.list")
	list := "deb [signed-by=" + keyFile + "] http://" + srv.Addr + "/core:/stable:/v1.34/deb/ /\n" +
		"deb [signed-by=" + keyFile + "] http://" + srv.Addr + "/debian bookworm main\n"
	if err := os.WriteFile(sources, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"state/lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(aptRoot, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	apt := func(args ...string) (string, error) {
		base := []string{"-q", "-o", "Dir::State=" + filepath.Join(aptRoot, "state"), "-o", "Dir::Cache=" + filepath.Join(aptRoot, "cache"),
			"-o", "Dir::Etc::SourceList=" + sources, "-o", "Dir::Etc::SourceParts=-", "-o", "Dir::State::status=/dev/null",
			"-o", "Acquire::Retries=0", "-o", "APT::Sandbox::User=root", "-o", "Acquire::http::Proxy=false"}
		cmd := exec.Command("apt-get", append(base, args...)...)
		cmd.Dir = aptRoot
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := apt("update"); err != nil || strings.Contains(out, "W:") || strings.Contains(out, "E:") {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	if out, err := apt("download", "kubeadm=1.34.2-1.1", "kubernetes-cni=1.9.1-1.1"); err != nil {
		t.Fatalf("apt-get download: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(aptRoot, "kubeadm_1.34.2-1.1_amd64.deb")); err != nil {
		t.Errorf("kubeadm not downloaded: %v", err)
	}

	// A Release changed after it was signed: apt must refuse the repository.
	rel := filepath.Join(flat, "InRelease")
	b, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rel, []byte(strings.Replace(string(b), "Date:", "Date: ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(aptRoot, "state", "lists")); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(filepath.Join(aptRoot, "state", "lists", "partial"), 0o755)
	out, _ := apt("update")
	if !strings.Contains(out, "BADSIG") && !strings.Contains(out, "not signed") && !strings.Contains(out, "signature") {
		t.Errorf("apt accepted a Release changed after signing:\n%s", out)
	}
}

// TestRegistryServesWhatIsPushed: Debian's docker-registry, started with meshlab's config on
// loopback, serves a pushed image back by its upstream name under the mirror's path, and its
// blob files are where Blob says.
func TestRegistryServesWhatIsPushed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry process")
	}
	bin, missing := RegistryBinary(CacheDir())
	if missing != "" {
		t.Skip(missing)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg, err := StartRegistry(ctx, bin, freeAddr(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := reg.Push(ctx, "registry.k8s.io/pause:3.10.1", img)
	if err != nil {
		t.Fatal(err)
	}
	p := bundle.Puller{Mirrors: map[string]string{"registry.k8s.io": reg.MirrorURL("registry.k8s.io")}, MirrorsOnly: true}
	got, err := p.Resolve(ctx, "registry.k8s.io/pause:3.10.1")
	if err != nil || got != digest {
		t.Fatalf("resolved %s, %v; pushed %s", got, err, digest)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	blob, err := reg.Blob(ld.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(blob); err != nil {
		t.Errorf("layer blob not at %s: %v", blob, err)
	}
	ref, _ := name.ParseReference(reg.Addr+"/registry.k8s.io/pause@"+digest, name.Insecure)
	if _, err := remote.Image(ref); err != nil {
		t.Errorf("pull by digest: %v", err)
	}
	reg.Stop()
	if _, err := p.Resolve(ctx, "registry.k8s.io/pause:3.10.1"); err == nil {
		t.Error("the registry still answers after Stop")
	}
}
