// Package versions is meshlab's one table of pinned versions: Kubernetes, the container runtime
// (Docker Engine on Ubuntu, Debian's own packages on Debian), CNI, cluster images, addon images
// and Bookinfo images. Changing a version is one edit in Default; a hosts file may override single
// fields through the yaml tags below (`versions: {kubernetes: {version: v1.34.2}}`).
package versions

// Set is every pinned version a lab uses. Field names double as yaml keys so a hosts file can
// override exactly one of them; Validate reports malformed values with those same key paths.
type Set struct {
	Kubernetes    Kubernetes    `yaml:"kubernetes"`
	Docker        Docker        `yaml:"docker"`
	DebianRuntime DebianRuntime `yaml:"debian"`
	// CNIPlugins is the containernetworking/plugins release (bridge, host-local, portmap, ...).
	CNIPlugins string `yaml:"cniPlugins"`
	// Crictl is the kubernetes-sigs/cri-tools release; it follows the Kubernetes minor.
	Crictl   string        `yaml:"crictl"`
	Flannel  Flannel       `yaml:"flannel"`
	Images   ClusterImages `yaml:"images"`
	Addons   Addons        `yaml:"addons"`
	Bookinfo Bookinfo      `yaml:"bookinfo"`
}

// Kubernetes pins kubeadm, kubelet and kubectl. The three must agree: Package is the apt version
// on pkgs.k8s.io for Version, and Repo names the per-minor repository that carries it.
type Kubernetes struct {
	Version string `yaml:"version"` // v1.34.2: kubeadm's --kubernetes-version and image tags
	Package string `yaml:"package"` // 1.34.2-1.1: apt-get install kubeadm=<Package>
	Repo    string `yaml:"repo"`    // v1.34: https://pkgs.k8s.io/core:/stable:/<Repo>/deb/
}

// Docker pins Docker Engine from download.docker.com for Ubuntu hosts. The apt version strings
// carry the Ubuntu release they were built for (~ubuntu.24.04~noble); ForUbuntu rewrites them for
// another release so one pin serves 22.04 and 24.04 alike.
type Docker struct {
	Engine     string `yaml:"engine"`     // docker-ce
	CLI        string `yaml:"cli"`        // docker-ce-cli
	Containerd string `yaml:"containerd"` // containerd.io
}

// DebianRuntime pins Debian 12's own runtime packages, used on Debian hosts (and on the
// machine-like lab hosts built from Debian) where download.docker.com is not used.
type DebianRuntime struct {
	DockerIO   string `yaml:"dockerIO"`   // docker.io
	Containerd string `yaml:"containerd"` // containerd
	Runc       string `yaml:"runc"`       // runc
	CNIPlugins string `yaml:"cniPlugins"` // containernetworking-plugins
}

// Flannel pins the CNI that kubeadm's pod network uses.
type Flannel struct {
	Version   string `yaml:"version"`   // release tag; the manifest URL is derived from it
	Image     string `yaml:"image"`     // the flanneld daemon image
	CNIPlugin string `yaml:"cniPlugin"` // the init-container image that installs the flannel CNI binary
}

// ClusterImages are the images kubeadm asks for besides the Kubernetes components (which carry
// Kubernetes.Version as their tag). They must match `kubeadm config images list` for that version.
type ClusterImages struct {
	Pause   string `yaml:"pause"`
	Etcd    string `yaml:"etcd"`
	CoreDNS string `yaml:"coredns"`
}

// Addons are the full image references of the observability addons.
type Addons struct {
	Zipkin     string `yaml:"zipkin"`
	Prometheus string `yaml:"prometheus"`
	Grafana    string `yaml:"grafana"`
	Jaeger     string `yaml:"jaeger"`
}

// Bookinfo pins Istio's upstream Bookinfo images: <Registry>/examples-bookinfo-<service>:<Tag>.
type Bookinfo struct {
	Registry string `yaml:"registry"`
	Tag      string `yaml:"tag"`
}

// BookinfoServices lists the upstream image names (without registry and tag) of the Bookinfo
// sample. It returns a fresh slice so no caller can change another's view.
func BookinfoServices() []string {
	return []string{"details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1"}
}

// Image is the full reference of one Bookinfo service image, e.g. Image("reviews-v2").
func (b Bookinfo) Image(service string) string {
	return b.Registry + "/examples-bookinfo-" + service + ":" + b.Tag
}
