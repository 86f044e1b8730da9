package bundle

import (
	"fmt"
	"strings"
)

// A component is one Go module under tools/k8sbuild (its own go.mod, so the product's go.mod
// never carries k8s.io/kubernetes) and the static binaries built from it.
type component struct {
	Dir    string // directory under tools/k8sbuild
	Module string // the upstream module whose version is the pin (as resolved by that go.mod)
	// Bins maps an output binary name to the package that builds it. The names are set here
	// because `go build` would call go.etcd.io/etcd/server/v3 "server".
	Bins []binary
	// VersionVars are -X settings; "{v}" is replaced by the resolved module version.
	VersionVars []string
	// Cgo marks a component that cannot build with CGO_ENABLED=0; it is linked statically
	// against glibc instead (needs gcc and libc6-dev), as upstream's own Makefile does.
	Cgo bool
}

type binary struct{ Name, Pkg string }

const k8sVersionPkg = "k8s.io/component-base/version"

// components lists everything built from source. Versions live in each component's go.mod
// (tool directives); ResolvePins reads them back and checks them against versions.Set.
func components() []component {
	k8s := func(n string) binary { return binary{n, "k8s.io/kubernetes/cmd/" + n} }
	cni := func(n, kind string) binary {
		return binary{n, "github.com/containernetworking/plugins/plugins/" + kind + "/" + n}
	}
	return []component{
		{
			Dir: "kubernetes", Module: "k8s.io/kubernetes",
			Bins: []binary{k8s("kubeadm"), k8s("kubelet"), k8s("kubectl"), k8s("kube-apiserver"),
				k8s("kube-controller-manager"), k8s("kube-scheduler"), k8s("kube-proxy")},
			// Without these kubelet reports v0.0.0-master and kubeadm preflight cannot parse it.
			VersionVars: []string{
				k8sVersionPkg + ".gitVersion={v}",
				k8sVersionPkg + ".gitMajor={major}",
				k8sVersionPkg + ".gitMinor={minor}",
				k8sVersionPkg + ".gitTreeState=clean",
				k8sVersionPkg + ".buildDate=1970-01-01T00:00:00Z",
			},
		},
		{
			Dir: "etcd", Module: "go.etcd.io/etcd/server/v3",
			Bins:        []binary{{"etcd", "go.etcd.io/etcd/server/v3"}, {"etcdctl", "go.etcd.io/etcd/etcdctl/v3"}},
			VersionVars: []string{"go.etcd.io/etcd/api/v3/version.GitSHA={v}"},
		},
		{
			Dir: "coredns", Module: "github.com/coredns/coredns",
			Bins:        []binary{{"coredns", "github.com/coredns/coredns"}},
			VersionVars: []string{"github.com/coredns/coredns/coremain.GitCommit={v}"},
		},
		{
			Dir: "flannel", Module: "github.com/flannel-io/flannel",
			Bins: []binary{{"flanneld", "github.com/flannel-io/flannel"},
				{"install-conf", "github.com/flannel-io/flannel/cmd/install_conf"}},
			VersionVars: []string{"github.com/flannel-io/flannel/pkg/version.Version={v}"},
			// The udp backend's packet proxy is C (pkg/backend/udp/proxy_amd64.c).
			Cgo: true,
		},
		{
			Dir: "critools", Module: "sigs.k8s.io/cri-tools",
			Bins:        []binary{{"crictl", "sigs.k8s.io/cri-tools/cmd/crictl"}},
			VersionVars: []string{"sigs.k8s.io/cri-tools/pkg/version.Version={v}"},
		},
		{
			Dir: "cni", Module: "github.com/containernetworking/plugins",
			Bins: []binary{cni("bridge", "main"), cni("loopback", "main"), cni("host-local", "ipam"),
				cni("portmap", "meta")},
			VersionVars: []string{"github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion={v}"},
		},
		{
			// The flannel CNI plugin left containernetworking/plugins after v0.9.1 and its new
			// home (flannel-io/cni-plugin) is not served by the module proxy CI can reach.
			Dir: "cniflannel", Module: "github.com/containernetworking/plugins",
			Bins:        []binary{cni("flannel", "meta")},
			VersionVars: []string{"github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion={v}"},
		},
		{
			Dir: "pause", Module: "", // meshlab's own; versioned by the pause image tag
			Bins:        []binary{{"pause", "github.com/meshlab/meshlab/tools/k8sbuild/pause"}},
			VersionVars: []string{"main.version={v}"},
		},
	}
}

// ldflags builds the linker flags of c for module version v: stripped, with the version
// variables set so every binary reports the pinned release.
func (c component) ldflags(v string) string {
	major, minor := "", ""
	if parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	r := strings.NewReplacer("{v}", v, "{major}", major, "{minor}", minor)
	flags := []string{"-s", "-w"}
	for _, x := range c.VersionVars {
		flags = append(flags, "-X", r.Replace(x))
	}
	if c.Cgo {
		flags = append(flags, "-linkmode", "external", "-extldflags", "-static")
	}
	return strings.Join(flags, " ")
}

// binDir is where a component's binaries land inside the build cache.
func (c component) binDir(cache string) string { return fmt.Sprintf("%s/build/%s", cache, c.Dir) }
