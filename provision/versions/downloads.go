package versions

import "fmt"

// Download is one file meshlab fetches over the network (online installs, and the offline bundle
// built on the operator's machine). SHA256 is the expected hex digest; "" means not pinned, and a
// fetcher must then compute and record the digest instead of trusting the file blindly.
type Download struct {
	Name   string // short, stable name: kubeadm, cni-plugins, crictl, flannel-manifest
	URL    string
	SHA256 string
	// NoPublicDigest says why SHA256 is empty when upstream publishes no digest for the file, so
	// there is nothing to pin it against; "" for every file that has one.
	NoPublicDigest string
}

// releaseDigests are the sha256 digests upstream publishes for the pinned release files, keyed by
// name/version/arch. Sources: the <URL>.sha256 files dl.k8s.io publishes beside each Kubernetes
// binary, and the .sha256 assets of the cri-tools and containernetworking/plugins releases; the same
// values are listed in Kubespray's roles/kubespray_defaults/vars/main/checksums.yml. A version
// missing here is downloaded only with --allow-unpinned, so changing a version means adding its
// digests here in the same edit.
var releaseDigests = map[string]string{
	"kubeadm/v1.34.2/amd64":    "6a2346006132f6e1ed0b5248e518098cf5abbce25bf11b8926fb1073091b83f4",
	"kubeadm/v1.34.2/arm64":    "065f7de266c59831676cc48b50f404fd18d1f6464502d53980957158e4cab3a7",
	"kubelet/v1.34.2/amd64":    "9c5e717b774ee9b9285ce47e7d2150c29e84837eb19a7eaa24b60b1543c9d58f",
	"kubelet/v1.34.2/arm64":    "3e31b1bee9ab32264a67af8a19679777cd372b1c3a04b5d7621289cf137b357c",
	"kubectl/v1.34.2/amd64":    "9591f3d75e1581f3f7392e6ad119aab2f28ae7d6c6e083dc5d22469667f27253",
	"kubectl/v1.34.2/arm64":    "95df604e914941f3172a93fa8feeb1a1a50f4011dfbe0c01e01b660afc8f9b85",
	"crictl/v1.34.0/amd64":     "a8ff2a3edb37a98daf3aba7c3b284fe0aa5bff24166d896ab9ef64c8913c9f51",
	"crictl/v1.34.0/arm64":     "c31d252e203df5f4cf37f314bd3092eb79087e791631c1e607087c74b6d0423f",
	"cni-plugins/v1.9.1/amd64": "b98f74a0f8522f0a83867178729c1aa70f2158f90c45a2ca8fa791db1c76b303",
	"cni-plugins/v1.9.1/arm64": "56171987d3947707c3563db2f4001bccaf50fd63468611b9f3cbecb1375ee7ec",
}

// noFlannelDigest: Flannel's releases attach kube-flannel.yml without a checksum file, and the
// manifest is not a program: meshlab replaces its images with the pinned ones before applying it.
const noFlannelDigest = "Flannel publishes no digest for its release manifest (its images are replaced by the pinned ones)"

// Downloads lists the files the set pins for one architecture (amd64 or arm64), each with its
// published digest where releaseDigests has one for that version.
func (s Set) Downloads(arch string) ([]Download, error) {
	if arch != "amd64" && arch != "arm64" {
		return nil, fmt.Errorf("versions: downloads for architecture %q: only amd64 and arm64 are pinned", arch)
	}
	pinned := func(name, version, url string) Download {
		return Download{Name: name, URL: url, SHA256: releaseDigests[name+"/"+version+"/"+arch]}
	}
	k := s.Kubernetes.Version
	var out []Download
	for _, bin := range []string{"kubeadm", "kubelet", "kubectl"} {
		out = append(out, pinned(bin, k, fmt.Sprintf("https://dl.k8s.io/release/%s/bin/linux/%s/%s", k, arch, bin)))
	}
	out = append(out,
		pinned("cni-plugins", s.CNIPlugins, fmt.Sprintf("https://github.com/containernetworking/plugins/releases/download/%s/cni-plugins-linux-%s-%s.tgz",
			s.CNIPlugins, arch, s.CNIPlugins)),
		pinned("crictl", s.Crictl, fmt.Sprintf("https://github.com/kubernetes-sigs/cri-tools/releases/download/%s/crictl-%s-linux-%s.tar.gz",
			s.Crictl, s.Crictl, arch)),
		Download{Name: "flannel-manifest", URL: s.FlannelManifestURL(), NoPublicDigest: noFlannelDigest},
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

// LabImages are the upstream references of every image a lab runs: kubeadm's, Flannel's (the
// daemon and the CNI plugin installer), the observability addons' and Bookinfo's. An online
// bundle pulls exactly these.
func (s Set) LabImages() []string {
	out := append(s.KubernetesImages(), s.Flannel.Image, s.Flannel.CNIPlugin,
		s.Addons.Zipkin, s.Addons.Prometheus, s.Addons.Grafana, s.Addons.Jaeger)
	for _, svc := range BookinfoServices() {
		out = append(out, s.Bookinfo.Image(svc))
	}
	return out
}
