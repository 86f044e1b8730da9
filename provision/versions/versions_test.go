package versions

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultIsValid(t *testing.T) {
	for _, err := range Default().Validate() {
		t.Errorf("Default(): %v", err)
	}
}

func TestValidateReportsEachMalformedField(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Set)
		field string
	}{
		{"kubernetes without v", func(s *Set) { s.Kubernetes.Version = "1.34.2" }, "kubernetes.version"},
		{"package of another version", func(s *Set) { s.Kubernetes.Package = "1.33.1-1.1" }, "kubernetes.package"},
		{"repo of another minor", func(s *Set) { s.Kubernetes.Repo = "v1.33" }, "kubernetes.repo"},
		{"repo with patch", func(s *Set) { s.Kubernetes.Repo = "v1.34.2" }, "kubernetes.repo"},
		{"docker version with spaces", func(s *Set) { s.Docker.Engine = "28.5 2" }, "docker.engine"},
		{"empty runc", func(s *Set) { s.DebianRuntime.Runc = "" }, "debian.runc"},
		{"cni without v", func(s *Set) { s.CNIPlugins = "1.8.0" }, "cniPlugins"},
		{"image without tag", func(s *Set) { s.Images.Pause = "registry.k8s.io/pause" }, "images.pause"},
		{"image latest", func(s *Set) { s.Addons.Grafana = "grafana/grafana:latest" }, "addons.grafana"},
		{"registry with tag", func(s *Set) { s.Bookinfo.Registry = "docker.io/istio:1" }, "bookinfo.registry"},
		{"bad tag", func(s *Set) { s.Bookinfo.Tag = "-1" }, "bookinfo.tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Default()
			tt.edit(&s)
			errs := s.Validate()
			if len(errs) != 1 {
				t.Fatalf("want 1 error, got %d: %v", len(errs), errs)
			}
			var fe *FieldError
			if !errors.As(errs[0], &fe) || fe.Field != tt.field {
				t.Fatalf("want a FieldError for %s, got %v", tt.field, errs[0])
			}
			if fe.Hint == "" {
				t.Errorf("%s: no hint", tt.field)
			}
		})
	}
}

func TestDeriveKubernetes(t *testing.T) {
	pkg, repo, ok := DeriveKubernetes("v1.33.5")
	if !ok || pkg != "1.33.5-1.1" || repo != "v1.33" {
		t.Fatalf("DeriveKubernetes(v1.33.5) = %q, %q, %v", pkg, repo, ok)
	}
	if _, _, ok := DeriveKubernetes("latest"); ok {
		t.Fatal("DeriveKubernetes(latest) succeeded")
	}
	d := Default()
	pkg, repo, _ = DeriveKubernetes(d.Kubernetes.Version)
	if pkg != d.Kubernetes.Package || repo != d.Kubernetes.Repo {
		t.Errorf("Default's package/repo %q/%q differ from derived %q/%q", d.Kubernetes.Package, d.Kubernetes.Repo, pkg, repo)
	}
}

func TestForUbuntu(t *testing.T) {
	d := Default().Docker.ForUbuntu("22.04", "jammy")
	for _, v := range []string{d.Engine, d.CLI, d.Containerd} {
		if !strings.HasSuffix(v, "~ubuntu.22.04~jammy") {
			t.Errorf("ForUbuntu: %q not rewritten", v)
		}
	}
}

func TestDownloads(t *testing.T) {
	dl, err := Default().Downloads("amd64")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"kubeadm":          "https://dl.k8s.io/release/v1.34.2/bin/linux/amd64/kubeadm",
		"cni-plugins":      "https://github.com/containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz",
		"crictl":           "https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.34.0/crictl-v1.34.0-linux-amd64.tar.gz",
		"flannel-manifest": "https://github.com/flannel-io/flannel/releases/download/v0.28.10/kube-flannel.yml",
	}
	got := map[string]string{}
	for _, d := range dl {
		got[d.Name] = d.URL
	}
	for name, url := range want {
		if got[name] != url {
			t.Errorf("%s: got %q, want %q", name, got[name], url)
		}
	}
	if _, err := Default().Downloads("mips"); err == nil {
		t.Error("Downloads(mips) succeeded")
	}
}

func TestBookinfoImage(t *testing.T) {
	if got := Default().Bookinfo.Image("reviews-v2"); got != "docker.io/istio/examples-bookinfo-reviews-v2:1.20.3" {
		t.Errorf("Image(reviews-v2) = %q", got)
	}
}

// TestDownloadsArePinned: every default download carries its published digest, except those
// upstream publishes none for, which say why; a version bump without its digests fails here.
func TestDownloadsArePinned(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		dl, err := Default().Downloads(arch)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, d := range dl {
			switch {
			case d.SHA256 != "" && d.NoPublicDigest != "":
				t.Errorf("%s/%s: both a digest and a reason for having none", arch, d.Name)
			case d.SHA256 == "" && d.NoPublicDigest == "":
				t.Errorf("%s/%s (%s): no sha256 pinned; add it to releaseDigests", arch, d.Name, d.URL)
			case d.SHA256 != "" && (len(d.SHA256) != 64 || strings.Trim(d.SHA256, "0123456789abcdef") != ""):
				t.Errorf("%s/%s: %q is not a hex sha256", arch, d.Name, d.SHA256)
			}
			if seen[d.SHA256] && d.SHA256 != "" {
				t.Errorf("%s/%s: digest %s listed twice", arch, d.Name, d.SHA256)
			}
			seen[d.SHA256] = true
		}
	}
	if len(releaseDigests) != 10 {
		t.Errorf("releaseDigests has %d entries; every one should be reachable from Default()", len(releaseDigests))
	}
}

func TestLabImages(t *testing.T) {
	s := Default()
	got := s.LabImages()
	if len(got) != 7+2+4+6 {
		t.Errorf("%d images, want 19 (kubeadm 7, Flannel 2, addons 4, Bookinfo 6): %v", len(got), got)
	}
	seen := map[string]bool{}
	for _, ref := range got {
		if seen[ref] {
			t.Errorf("%s listed twice", ref)
		}
		seen[ref] = true
	}
	for _, want := range []string{s.Images.Pause, s.Flannel.CNIPlugin, s.Addons.Grafana, "docker.io/istio/examples-bookinfo-productpage-v1:1.20.3"} {
		if !seen[want] {
			t.Errorf("LabImages lacks %s", want)
		}
	}
}
