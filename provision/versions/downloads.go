package versions

import "fmt"

// Download is one file meshlab fetches over the network (online installs, and the offline bundle
// built on the operator's machine). SHA256 is the expected hex digest; "" means not yet pinned,
// and a fetcher must then compute and record the digest instead of trusting the file blindly.
type Download struct {
	Name   string // short, stable name: kubeadm, cni-plugins, crictl, flannel-manifest
	URL    string
	SHA256 string
}

// Downloads lists the files the set pins for one architecture (amd64 or arm64). The digests are
// left empty on purpose: they were not verified when this table was written, and an invented
// digest is worse than none. Upstream publishes them next to each file (<URL>.sha256 for
// dl.k8s.io, cri-tools and CNI plugins), so filling them in is a one-edit change per version.
func (s Set) Downloads(arch string) ([]Download, error) {
	if arch != "amd64" && arch != "arm64" {
		return nil, fmt.Errorf("versions: downloads for architecture %q: only amd64 and arm64 are pinned", arch)
	}
	k := s.Kubernetes.Version
	var out []Download
	for _, bin := range []string{"kubeadm", "kubelet", "kubectl"} {
		out = append(out, Download{
			Name: bin,
			URL:  fmt.Sprintf("https://dl.k8s.io/release/%s/bin/linux/%s/%s", k, arch, bin),
		})
	}
	out = append(out,
		Download{
			Name: "cni-plugins",
			URL: fmt.Sprintf("https://github.com/containernetworking/plugins/releases/download/%s/cni-plugins-linux-%s-%s.tgz",
				s.CNIPlugins, arch, s.CNIPlugins),
		},
		Download{
			Name: "crictl",
			URL: fmt.Sprintf("https://github.com/kubernetes-sigs/cri-tools/releases/download/%s/crictl-%s-linux-%s.tar.gz",
				s.Crictl, s.Crictl, arch),
		},
		Download{Name: "flannel-manifest", URL: s.FlannelManifestURL()},
	)
	return out, nil
}

// FlannelManifestURL is the kube-flannel.yml of the pinned Flannel release. Its images are
// replaced by Flannel.Image and Flannel.CNIPlugin when applied, so the two stay the pin.
func (s Set) FlannelManifestURL() string {
	return "https://github.com/flannel-io/flannel/releases/download/" + s.Flannel.Version + "/kube-flannel.yml"
}

// KubernetesImages are the control-plane images kubeadm pulls for the pinned version, in the
// order `kubeadm config images list` prints them.
func (s Set) KubernetesImages() []string {
	k := s.Kubernetes.Version
	return []string{
		"registry.k8s.io/kube-apiserver:" + k,
		"registry.k8s.io/kube-controller-manager:" + k,
		"registry.k8s.io/kube-scheduler:" + k,
		"registry.k8s.io/kube-proxy:" + k,
		s.Images.CoreDNS,
		s.Images.Pause,
		s.Images.Etcd,
	}
}
