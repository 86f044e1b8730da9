package standin

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/provision/versions"
)

// debPackage is one .deb to build: its control fields and files.
type debPackage struct {
	Name, Version string
	Depends       string // "" for none
	Recommends    string
	Section       string
	Description   string
	Files         []debFile
	Conffiles     []string
	Postinst      string // "" for none
}

type debFile struct {
	Path   string // absolute path on the host
	Source string // file to copy; "" means Data
	Data   string
	Mode   os.FileMode
}

// The kubelet's systemd unit and kubeadm's drop-in, as pkgs.k8s.io's packages ship them: the
// kubelet starts bare, and the drop-in (in the kubeadm package) adds the kubeconfigs, the
// config kubeadm writes and the flags file kubeadm generates.
const (
	kubeletUnit = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`
	kubeadmDropIn = `# Only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# kubeadm init and join write this file: KUBELET_KUBEADM_ARGS.
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# The user's last-resort overrides: KUBELET_EXTRA_ARGS.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`
	// kubeletPostinst enables the unit on install, as the packages' systemd macros do.
	kubeletPostinst = `#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null || true
  systemctl enable kubelet.service >/dev/null || true
fi
`
	unitDir = "/usr/lib/systemd/system"
)

// kubernetesPackages are pkgs.k8s.io's five packages for a minor, at the versions the pins give
// (Kubernetes at s.Kubernetes.Package, cri-tools and kubernetes-cni at their release with
// pkgs.k8s.io's -1.1 revision), with the binaries of a bundle built from source. Dependencies
// are upstream's for Kubernetes 1.32 and later: kubeadm depends on nothing, the kubelet on
// kubernetes-cni, mount and util-linux, recommending iptables.
func kubernetesPackages(bundleDir string, s versions.Set) ([]debPackage, error) {
	bin := func(n string) string { return filepath.Join(bundleDir, bundle.DirBin, n) }
	cniVersion := strings.TrimPrefix(s.CNIPlugins, "v") + "-1.1"
	var cni []debFile
	plugins, err := os.ReadDir(filepath.Join(bundleDir, bundle.DirCNI))
	if err != nil {
		return nil, err
	}
	for _, p := range plugins {
		if p.Name() == "flannel" { // not one of containernetworking's plugins: Flannel's image installs it
			continue
		}
		cni = append(cni, debFile{Path: "/opt/cni/bin/" + p.Name(), Source: filepath.Join(bundleDir, bundle.DirCNI, p.Name()), Mode: 0o755})
	}
	k := s.Kubernetes.Package
	return []debPackage{
		{Name: "kubernetes-cni", Version: cniVersion, Section: "misc",
			Description: "Binaries required to provision kubernetes container networking", Files: cni},
		{Name: "cri-tools", Version: strings.TrimPrefix(s.Crictl, "v") + "-1.1", Section: "misc",
			Description: "Command-line utility for interacting with a container runtime",
			Files:       []debFile{{Path: "/usr/bin/crictl", Source: bin("crictl"), Mode: 0o755}}},
		{Name: "kubectl", Version: k, Section: "misc", Description: "Command-line utility for interacting with a Kubernetes cluster",
			Files: []debFile{{Path: "/usr/bin/kubectl", Source: bin("kubectl"), Mode: 0o755}}},
		{Name: "kubelet", Version: k, Section: "net", Description: "Node agent for Kubernetes clusters",
			Depends: "kubernetes-cni (>= 1.2.0), mount, util-linux", Recommends: "iptables (>= 1.8.4)",
			Files: []debFile{
				{Path: "/usr/bin/kubelet", Source: bin("kubelet"), Mode: 0o755},
				{Path: unitDir + "/kubelet.service", Data: kubeletUnit, Mode: 0o644},
				{Path: "/etc/default/kubelet", Data: "KUBELET_EXTRA_ARGS=\n", Mode: 0o644},
				{Path: "/var/lib/kubelet/.kubelet-keep", Mode: 0o644},
				{Path: "/etc/kubernetes/manifests/.kubelet-keep", Mode: 0o644},
			},
			Conffiles: []string{"/etc/default/kubelet"}, Postinst: kubeletPostinst},
		{Name: "kubeadm", Version: k, Section: "admin", Description: "Command-line utility for administering a Kubernetes cluster",
			Files: []debFile{
				{Path: "/usr/bin/kubeadm", Source: bin("kubeadm"), Mode: 0o755},
				{Path: unitDir + "/kubelet.service.d/10-kubeadm.conf", Data: kubeadmDropIn, Mode: 0o644},
			}},
	}, nil
}

// control is the package's DEBIAN/control.
func (p debPackage) control(installedKiB int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Package: %s\nVersion: %s\nArchitecture: amd64\n", p.Name, p.Version)
	b.WriteString("Maintainer: meshlab stand-in for pkgs.k8s.io <standin@meshlab.invalid>\n")
	fmt.Fprintf(&b, "Installed-Size: %d\n", installedKiB)
	if p.Depends != "" {
		fmt.Fprintf(&b, "Depends: %s\n", p.Depends)
	}
	if p.Recommends != "" {
		fmt.Fprintf(&b, "Recommends: %s\n", p.Recommends)
	}
	fmt.Fprintf(&b, "Section: %s\nPriority: optional\nHomepage: https://kubernetes.io\n", p.Section)
	fmt.Fprintf(&b, "Description: %s\n Built by meshlab from its own binaries, standing in for pkgs.k8s.io's package.\n", p.Description)
	return b.String()
}

// build writes the package tree under work and runs dpkg-deb --build into dir, returning the
// .deb's path.
func (p debPackage) build(ctx context.Context, work, dir string) (string, error) {
	root := filepath.Join(work, p.Name+"_"+p.Version)
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
	var size int64
	for _, f := range p.Files {
		dst := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := writeFileFrom(dst, f); err != nil {
			return "", fmt.Errorf("%s: %w", p.Name, err)
		}
		st, err := os.Stat(dst)
		if err != nil {
			return "", err
		}
		size += st.Size()
	}
	meta := filepath.Join(root, "DEBIAN")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return "", err
	}
	files := map[string]string{"control": p.control((size + 1023) / 1024)}
	if len(p.Conffiles) > 0 {
		files["conffiles"] = strings.Join(p.Conffiles, "\n") + "\n"
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(meta, n), []byte(c), 0o644); err != nil {
			return "", err
		}
	}
	if p.Postinst != "" {
		if err := os.WriteFile(filepath.Join(meta, "postinst"), []byte(p.Postinst), 0o755); err != nil {
			return "", err
		}
	}
	deb := filepath.Join(dir, p.Name+"_"+p.Version+"_amd64.deb")
	if out, err := runIn(ctx, work, "dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, deb); err != nil {
		return "", fmt.Errorf("dpkg-deb --build %s: %w: %s", p.Name, err, out)
	}
	return deb, nil
}

func writeFileFrom(dst string, f debFile) error {
	if f.Source == "" {
		return os.WriteFile(dst, []byte(f.Data), f.Mode)
	}
	in, err := os.Open(f.Source)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, f.Mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// KubernetesDebs builds pkgs.k8s.io's kubeadm, kubelet, kubectl, cri-tools and kubernetes-cni
// packages from a bundle built from source into dir (work holds the package trees) and returns
// their paths.
func KubernetesDebs(ctx context.Context, bundleDir string, s versions.Set, dir, work string) ([]string, error) {
	pkgs, err := kubernetesPackages(bundleDir, s)
	if err != nil {
		return nil, fmt.Errorf("standin: Kubernetes packages: %w", err)
	}
	for _, d := range []string{dir, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, p := range pkgs {
		deb, err := p.build(ctx, work, dir)
		if err != nil {
			return nil, fmt.Errorf("standin: %w", err)
		}
		out = append(out, deb)
	}
	return out, nil
}
