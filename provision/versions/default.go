package versions

import "strings"

// Default is the pinned set meshlab installs. Sources, and which values still need checking
// against the live repositories before a release, are noted per value.
func Default() Set {
	return Set{
		Kubernetes: Kubernetes{
			// kubeadm v1.34.2 was built from source and ran `kubeadm init` in this project's local lab.
			// pkgs.k8s.io names its debs <version>-1.1 (kubeadm's install docs).
			Version: "v1.34.2",
			Package: "1.34.2-1.1",
			Repo:    "v1.34",
		},
		Docker: Docker{
			// Docker Engine 28.5.2 as Docker's apt repository names it for Ubuntu 24.04 (22.04 via
			// ForUbuntu); public install scripts pin exactly these strings. containerd.io 1.7.29
			// rather than 1.7.28: 1.7.28 bundles a runc older than the fixes for CVE-2025-31133,
			// CVE-2025-52565 and CVE-2025-52881 that Engine 28.5.2 was released for, and 1.7.29
			// carries runc 1.3.3. containerd 1.7 is supported by every Kubernetes 1.34 node.
			Engine:     "5:28.5.2-1~ubuntu.24.04~noble",
			CLI:        "5:28.5.2-1~ubuntu.24.04~noble",
			Containerd: "1.7.29-1~ubuntu.24.04~noble",
		},
		DebianRuntime: DebianRuntime{
			// From `apt-cache policy` on Debian 12 (bookworm + bookworm-security), 2026-11.
			DockerIO:   "20.10.24+dfsg1-1+deb12u1+b6",
			Containerd: "1.6.20~ds1-1+deb12u3",
			Runc:       "1.1.5+ds1-1+deb12u1",
			CNIPlugins: "1.1.1+ds1-3+b5",
		},
		// The releases the offline bundle builds from pinned source (cluster/bundle/pins.go); online
		// downloads use the same tags.
		CNIPlugins: "v1.9.1",
		Crictl:     "v1.34.0", // cri-tools follows the Kubernetes minor
		Flannel: Flannel{
			Version: "v0.28.10",
			Image:   "ghcr.io/flannel-io/flannel:v0.28.10",
			// What v0.28.10's own Documentation/kube-flannel.yml runs; a test
			// (cluster/bundle TestFlannelCNIPluginPinMatchesManifest) keeps the two equal.
			CNIPlugin: "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3",
		},
		Images: ClusterImages{
			// What `kubeadm config images list --kubernetes-version v1.34.2` asks for.
			Pause:   "registry.k8s.io/pause:3.10.1",
			Etcd:    "registry.k8s.io/etcd:3.6.5-0",
			CoreDNS: "registry.k8s.io/coredns/coredns:v1.12.1",
		},
		Addons: Addons{
			// The images of Istio's samples/addons manifests (prometheus.yaml, grafana.yaml,
			// extras/zipkin.yaml), except Jaeger.
			// The offline bundle builds Prometheus and Jaeger from these releases
			// (tools/k8sbuild/prometheus, tools/k8sbuild/jaeger) and tags the images with these
			// exact references, so a change here needs the go.mod there to follow.
			Zipkin:     "docker.io/openzipkin/zipkin-slim:3.4.0",
			Prometheus: "docker.io/prom/prometheus:v3.10.0",
			Grafana:    "docker.io/grafana/grafana:12.0.1",
			// Jaeger v1's all-in-one at the release tools/testpeers also pins: the bundle builds
			// it from github.com/jaegertracing/jaeger v1.76.0, and the chart runs a 1.x tag with
			// v1's flags (addons.Settings.Values).
			Jaeger: "docker.io/jaegertracing/all-in-one:1.76.0",
		},
		Bookinfo: Bookinfo{
			// Istio moved these to registry.istio.io/release in 2026-03; the same 1.20.3 tags
			// are on Docker Hub, which more lab machines can reach. Override registry to switch.
			Registry: "docker.io/istio",
			Tag:      "1.20.3",
		},
	}
}

// ForUbuntu returns d with its apt version strings rewritten for another Ubuntu release, e.g.
// ForUbuntu("22.04", "jammy"). Strings without a ~ubuntu.X~codename suffix are left as they are.
func (d Docker) ForUbuntu(versionID, codename string) Docker {
	rewrite := func(v string) string {
		i := strings.Index(v, "~ubuntu.")
		if i < 0 {
			return v
		}
		return v[:i] + "~ubuntu." + versionID + "~" + codename
	}
	return Docker{Engine: rewrite(d.Engine), CLI: rewrite(d.CLI), Containerd: rewrite(d.Containerd)}
}

// DeriveKubernetes returns the apt package version and per-minor repository for a Kubernetes
// version such as v1.33.5, so a hosts file that overrides only kubernetes.version stays
// consistent. It assumes pkgs.k8s.io's usual -1.1 package revision.
func DeriveKubernetes(version string) (pkg, repo string, ok bool) {
	m := kubeVersionRE.FindStringSubmatch(version)
	if m == nil {
		return "", "", false
	}
	return strings.TrimPrefix(version, "v") + "-1.1", "v" + m[1] + "." + m[2], true
}
