// Package kubeadm generates what kubeadm reads: the init configuration of the first control
// plane (InitConfiguration + ClusterConfiguration + KubeletConfiguration + KubeProxyConfiguration)
// and a worker's JoinConfiguration, plus the helpers a join needs (the CA public-key hash and
// bootstrap token checks). Everything here is pure: phases upload the results over a transport.
package kubeadm

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults used when InitOptions leave a field empty.
const (
	DefaultCRISocket       = "unix:///run/containerd/containerd.sock"
	DefaultImageRepository = "registry.k8s.io"
	DefaultAPIServerPort   = 6443
	DefaultDNSDomain       = "cluster.local"
	// APIVersion is the kubeadm config API that v1.31 and later read.
	APIVersion = "kubeadm.k8s.io/v1beta4"
)

// InitOptions are the inputs of `kubeadm init --config`.
type InitOptions struct {
	NodeName         string // the first control plane's host name
	AdvertiseAddress string // its address, as the other nodes reach it
	// NodeIP is the kubelet's --node-ip (default AdvertiseAddress). kubeadm does not derive it
	// from the advertise address: without it the kubelet takes the default route's address,
	// which on VirtualBox is the NAT address 10.0.2.15 that every VM shares.
	NodeIP            string
	KubernetesVersion string // v1.34.2
	PodCIDR           string
	ServiceCIDR       string
	// ControlPlaneEndpoint is host[:port] every node and kubeconfig uses; set up front because
	// a cluster created without it cannot be made highly available later (kubeadm docs).
	// Default: AdvertiseAddress:APIServerPort.
	ControlPlaneEndpoint string
	APIServerPort        int
	ImageRepository      string
	CRISocket            string
	// Offline: images were imported from the bundle; kubeadm must never pull.
	Offline bool
	// ExtraSANs are added to the API server certificate (e.g. a name the operator uses).
	ExtraSANs             []string
	IgnorePreflightErrors []string
	// ContainerNodes: the nodes are containers sharing their host's disk (the local lab), so
	// the kubelet's disk-based eviction and image garbage collection are turned off, as kind
	// does for its nodes: the kubelet would judge the whole host's filesystem, evict every pod
	// and delete every image when the host fills up.
	ContainerNodes bool
}

func (o *InitOptions) setDefaults() {
	if o.APIServerPort == 0 {
		o.APIServerPort = DefaultAPIServerPort
	}
	if o.ImageRepository == "" {
		o.ImageRepository = DefaultImageRepository
	}
	if o.CRISocket == "" {
		o.CRISocket = DefaultCRISocket
	}
	if o.NodeIP == "" {
		o.NodeIP = o.AdvertiseAddress
	}
	if o.ControlPlaneEndpoint == "" && o.AdvertiseAddress != "" {
		o.ControlPlaneEndpoint = net.JoinHostPort(o.AdvertiseAddress, strconv.Itoa(o.APIServerPort))
	}
}

// validate reports every missing or malformed input at once.
func (o InitOptions) validate() error {
	var errs []error
	if o.NodeName == "" {
		errs = append(errs, errors.New("node name is empty"))
	}
	if _, err := netip.ParseAddr(o.AdvertiseAddress); err != nil {
		errs = append(errs, fmt.Errorf("advertise address %q is not an IP address", o.AdvertiseAddress))
	}
	if _, err := netip.ParseAddr(o.NodeIP); err != nil && o.NodeIP != o.AdvertiseAddress {
		errs = append(errs, fmt.Errorf("node IP %q is not an IP address", o.NodeIP))
	}
	if o.KubernetesVersion == "" {
		errs = append(errs, errors.New("kubernetes version is empty"))
	}
	for name, c := range map[string]string{"pod CIDR": o.PodCIDR, "service CIDR": o.ServiceCIDR} {
		if _, err := netip.ParsePrefix(c); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not a CIDR", name, c))
		}
	}
	return errors.Join(errs...)
}

// nodeRegistration is kubeadm's NodeRegistrationOptions (the fields meshlab sets).
type nodeRegistration struct {
	Name                  string   `yaml:"name"`
	CRISocket             string   `yaml:"criSocket"`
	ImagePullPolicy       string   `yaml:"imagePullPolicy,omitempty"`
	KubeletExtraArgs      []arg    `yaml:"kubeletExtraArgs,omitempty"`
	IgnorePreflightErrors []string `yaml:"ignorePreflightErrors,omitempty"`
}

// arg is one of v1beta4's name/value command-line arguments.
type arg struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type typeMeta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
}

type initConfiguration struct {
	typeMeta `yaml:",inline"`
	// BootstrapTokens replaces the 24-hour token kubeadm init makes by default with a short-lived
	// one meshlab can find by its description: workers join with tokens of their own (Join), and
	// the Join phase deletes this one afterwards.
	BootstrapTokens  []bootstrapToken `yaml:"bootstrapTokens"`
	LocalAPIEndpoint struct {
		AdvertiseAddress string `yaml:"advertiseAddress"`
		BindPort         int    `yaml:"bindPort"`
	} `yaml:"localAPIEndpoint"`
	NodeRegistration nodeRegistration `yaml:"nodeRegistration"`
}

type bootstrapToken struct {
	Description string `yaml:"description"`
	TTL         string `yaml:"ttl"`
}

// InitTokenDescription marks the token kubeadm init creates; TokenDescriptionPrefix starts
// every description meshlab gives a token, so the tokens it made can be found and deleted.
const (
	TokenDescriptionPrefix = "meshlab"
	InitTokenDescription   = TokenDescriptionPrefix + " kubeadm init token (unused: workers join with their own)"
	// InitTokenTTL bounds the init token's life should the Join phase never run to delete it.
	InitTokenTTL = 15 * time.Minute
)

type clusterConfiguration struct {
	typeMeta             `yaml:",inline"`
	KubernetesVersion    string `yaml:"kubernetesVersion"`
	ControlPlaneEndpoint string `yaml:"controlPlaneEndpoint"`
	ImageRepository      string `yaml:"imageRepository"`
	Networking           struct {
		PodSubnet     string `yaml:"podSubnet"`
		ServiceSubnet string `yaml:"serviceSubnet"`
		DNSDomain     string `yaml:"dnsDomain"`
	} `yaml:"networking"`
	APIServer struct {
		CertSANs []string `yaml:"certSANs,omitempty"`
	} `yaml:"apiServer"`
}

type kubeletConfiguration struct {
	typeMeta     `yaml:",inline"`
	CgroupDriver string `yaml:"cgroupDriver"`
	// FailSwapOn false: os-prep turns swap off, but a host whose swap cannot be turned off
	// (a container-based lab machine sees the host's swap) must still run a kubelet.
	FailSwapOn bool `yaml:"failSwapOn"`
	// EvictionHard replaces the kubelet's defaults when set (all of them: unlisted signals get
	// no threshold), so it lists memory.available too.
	EvictionHard map[string]string `yaml:"evictionHard,omitempty"`
	// ImageGCHighThresholdPercent 100 keeps image garbage collection from deleting images
	// when the shared disk fills: offline, a side-loaded image (even pause) cannot come back.
	ImageGCHighThresholdPercent int `yaml:"imageGCHighThresholdPercent,omitempty"`
}

// containerEviction keeps the kubelet's default memory threshold and drops the disk ones.
func containerEviction() map[string]string {
	return map[string]string{"memory.available": "100Mi", "nodefs.available": "0%",
		"nodefs.inodesFree": "0%", "imagefs.available": "0%"}
}

type kubeProxyConfiguration struct {
	typeMeta  `yaml:",inline"`
	Conntrack struct {
		// 0 leaves nf_conntrack_max alone: kube-proxy cannot write it from a network namespace
		// other than the host's, and meshlab has no reason to change the host's limit.
		MaxPerCore int `yaml:"maxPerCore"`
	} `yaml:"conntrack"`
}

// InitConfig renders the multi-document YAML for `kubeadm init --config`.
func InitConfig(o InitOptions) ([]byte, error) {
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("kubeadm init config: %w", err)
	}
	ic := initConfiguration{typeMeta: typeMeta{APIVersion, "InitConfiguration"},
		BootstrapTokens: []bootstrapToken{{Description: InitTokenDescription, TTL: InitTokenTTL.String()}}}
	ic.LocalAPIEndpoint.AdvertiseAddress = o.AdvertiseAddress
	ic.LocalAPIEndpoint.BindPort = o.APIServerPort
	ic.NodeRegistration = registration(o.NodeName, o.NodeIP, o.CRISocket, o.Offline, o.IgnorePreflightErrors)

	cc := clusterConfiguration{typeMeta: typeMeta{APIVersion, "ClusterConfiguration"},
		KubernetesVersion: o.KubernetesVersion, ControlPlaneEndpoint: o.ControlPlaneEndpoint,
		ImageRepository: o.ImageRepository}
	cc.Networking.PodSubnet = o.PodCIDR
	cc.Networking.ServiceSubnet = o.ServiceCIDR
	cc.Networking.DNSDomain = DefaultDNSDomain
	cc.APIServer.CertSANs = certSANs(o)

	kc := kubeletConfiguration{typeMeta: typeMeta{"kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"},
		CgroupDriver: "systemd"}
	if o.ContainerNodes {
		kc.EvictionHard = containerEviction()
		kc.ImageGCHighThresholdPercent = 100
	}
	kp := kubeProxyConfiguration{typeMeta: typeMeta{"kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration"}}
	return documents(ic, cc, kc, kp)
}

// certSANs are the advertise address, the node name and the extra names, each once.
func certSANs(o InitOptions) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range append([]string{o.AdvertiseAddress, o.NodeName}, o.ExtraSANs...) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func registration(name, nodeIP, cri string, offline bool, ignore []string) nodeRegistration {
	nr := nodeRegistration{Name: name, CRISocket: cri, IgnorePreflightErrors: ignore}
	if nodeIP != "" {
		nr.KubeletExtraArgs = []arg{{Name: "node-ip", Value: nodeIP}}
	}
	if offline {
		nr.ImagePullPolicy = "Never"
	}
	return nr
}

// documents marshals each value as one YAML document, separated by ---.
func documents(docs ...any) ([]byte, error) {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("kubeadm config: encode %T: %w", d, err)
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}
