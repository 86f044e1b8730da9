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
	// Tags are extra build tags (Prometheus drops its cloud service discoveries with them).
	Tags []string
	// Release maps the module version to the release it is (nil: the same). Prometheus 3.x
	// publishes its Go module as v0.3XX.Y for release v3.XX.Y.
	Release func(moduleVersion string) string
	// UI, when set, is a web UI built with npm from the module's source and embedded in the
	// binaries: they are then built from a copy of the module that holds the built assets.
	UI *webUI
}

type binary struct{ Name, Pkg string }

const (
	k8sVersionPkg  = "k8s.io/component-base/version"
	promVersionPkg = "github.com/prometheus/common/version"
)

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
			// Only Kubernetes service discovery (plus file/static, always built in): the chart
			// scrapes pods found by kubernetes_sd_configs, and the cloud SDKs behind the other
			// discoveries are a sixth of the packages to compile. The React UI (mantine-ui)
			// is built with npm from the module's web/ui and embedded (builtinassets), as
			// upstream's `make assets-compress build` does; the old UI (react-app, behind
			// --enable-feature=old-ui) is not built.
			Dir: "prometheus", Module: "github.com/prometheus/prometheus",
			Bins: []binary{{"prometheus", "github.com/prometheus/prometheus/cmd/prometheus"},
				{"promtool", "github.com/prometheus/prometheus/cmd/promtool"}},
			Tags: []string{"remove_all_sd", "enable_kubernetes_sd"},
			VersionVars: []string{
				promVersionPkg + ".Version={bare}", // Prometheus reports "3.10.0", no "v"
				promVersionPkg + ".BuildUser=meshlab",
			},
			Release: prometheusRelease,
			UI: &webUI{
				Dir:      "web/ui",
				Modules:  []string{"@prometheus-io/lezer-promql", "@prometheus-io/codemirror-promql"},
				App:      "@prometheus-io/mantine-ui",
				Dist:     "mantine-ui/dist",
				Static:   "static/mantine-ui", // web/web.go serves /static/mantine-ui/index.html
				Compress: []string{"bash", "scripts/compress_assets.sh"},
				Tag:      "builtinassets",
			},
		},
		{
			// Jaeger v1's all-in-one (collector with a Zipkin port, in-memory storage, query API)
			// from the module tools/testpeers also pins, so both build from the same sources.
			Dir: "jaeger", Module: "github.com/jaegertracing/jaeger",
			Bins:        []binary{{"jaeger-all-in-one", "github.com/jaegertracing/jaeger/cmd/all-in-one"}},
			VersionVars: []string{"github.com/jaegertracing/jaeger/internal/version.latestVersion={v}"},
		},
		{
			Dir: "pause", Module: "", // meshlab's own; versioned by the pause image tag
			Bins:        []binary{{"pause", "github.com/meshlab/meshlab/tools/k8sbuild/pause"}},
			VersionVars: []string{"main.version={v}"},
		},
	}
}

// prometheusRelease turns Prometheus's module version into its release: v0.310.0 is v3.10.0,
// v0.55.1 is v2.55.1. Anything else (a pseudo-version, say) is returned unchanged, and the pin
// check then names it.
func prometheusRelease(mod string) string {
	parts := strings.SplitN(strings.TrimPrefix(mod, "v"), ".", 3)
	if len(parts) != 3 || parts[0] != "0" || strings.Contains(parts[2], "-") {
		return mod
	}
	switch m := parts[1]; {
	case len(m) == 3 && m[0] >= '3' && m[0] <= '9':
		return "v" + m[:1] + "." + strings.TrimPrefix(m[1:], "0") + "." + parts[2]
	case len(m) == 2 && m[0] != '0':
		return "v2." + m + "." + parts[2]
	}
	return mod
}

// release is the release version of c built from module version mod.
func (c component) release(mod string) string {
	if c.Release == nil {
		return mod
	}
	return c.Release(mod)
}

// ldflags builds the linker flags of c for release v: stripped, with the version variables set
// so every binary reports the pinned release ({bare} is v without its leading "v").
func (c component) ldflags(v string) string {
	major, minor := "", ""
	if parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	r := strings.NewReplacer("{v}", v, "{bare}", strings.TrimPrefix(v, "v"), "{major}", major, "{minor}", minor)
	flags := []string{"-s", "-w"}
	for _, x := range c.VersionVars {
		flags = append(flags, "-X", r.Replace(x))
	}
	if c.Cgo {
		flags = append(flags, "-linkmode", "external", "-extldflags", "-static")
	}
	return strings.Join(flags, " ")
}

// tags are the build tags of c: its own, plus the pure-Go resolver and user lookup for a cgo
// build, which keep a static glibc link free of NSS, plus the one that embeds its web UI.
func (c component) tags() []string {
	var t []string
	if c.Cgo {
		t = append(t, "netgo", "osusergo")
	}
	t = append(t, c.Tags...)
	if c.UI != nil {
		t = append(t, c.UI.Tag)
	}
	return t
}

// binDir is where a component's binaries land inside the build cache.
func (c component) binDir(cache string) string { return fmt.Sprintf("%s/build/%s", cache, c.Dir) }
