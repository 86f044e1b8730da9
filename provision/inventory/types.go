package inventory

import (
	"net/netip"

	"github.com/meshlab/meshlab/provision/versions"
)

// Lab is a validated hosts file with every default applied.
type Lab struct {
	Name       string
	Versions   versions.Set
	Network    Network
	Components Components
	Mirrors    Mirrors // empty: the hosts install from the internet
	SSH        SSHDefaults
	Hosts      []Host
	Source     string // path of the hosts file ("" when parsed from memory without a name)
}

// Network is the cluster's address plan.
type Network struct {
	PodCIDR     string
	ServiceCIDR string
	// PodMasquerade NATs pod traffic that leaves the pod network behind the node's address
	// (Flannel's --ip-masq; default true), which pods need to reach anything beyond the nodes.
	// A local lab sets it false: it has nowhere to reach, and it NATs nothing.
	PodMasquerade bool
	// The parsed forms of the two CIDRs (valid after Load/Parse succeeded).
	PodPrefix     netip.Prefix
	ServicePrefix netip.Prefix
}

// Components says what meshlab installs on top of Kubernetes.
type Components struct {
	Mesh     bool
	Addons   []string // from zipkin, prometheus, grafana, jaeger
	Bookinfo bool
	// NodePorts maps a component (zipkin, grafana, prometheus, jaeger, gateway) to its NodePort.
	NodePorts map[string]int
	// AddonService is how the addons' UIs are exposed: "NodePort" (default, on every node, as
	// the walk-through opens them) or "ClusterIP" (inside the cluster only, reached with
	// `meshlab addons port-forward` through the API server).
	AddonService string
}

// SSHDefaults are the lab-wide connection settings every host inherits unless it sets its own.
type SSHDefaults struct {
	User       string
	Port       int
	KeyPath    string
	Agent      bool
	KnownHosts string // known_hosts file; "" means ~/.ssh/known_hosts
	Sudo       SudoMode
	// Secrets shared by all hosts (a Vagrant lab often has one password for every machine).
	Password      SecretRef
	KeyPassphrase SecretRef
	SudoPassword  SecretRef
	Bastion       *Bastion
}

// Host is one machine of the lab.
type Host struct {
	Name    string
	Address string // IP address or DNS name, as the operator's machine reaches it
	// InternalAddress is the host's address on the network the nodes share (KubeKey's
	// internalAddress, k0sctl's privateAddress): "" lets meshlab find it on the host.
	InternalAddress string
	Port            int
	User            string
	// KeyPath is an absolute private key path ("~" expanded, relative paths resolved against
	// the hosts file's folder); "" means the SSH client's usual default keys.
	KeyPath       string
	UseAgent      bool
	Password      SecretRef
	KeyPassphrase SecretRef
	Sudo          SudoMode
	SudoPassword  SecretRef
	Bastion       *Bastion
	Role          Role
	Labels        map[string]string
	Line          int // line of the hosts file that defines this host
}

// String is the host's name, for messages and events.
func (h Host) String() string { return h.Name }

// SecretRef names where a secret lives: an environment variable or a file. The hosts file never
// holds the secret itself, so it can be committed and shown.
type SecretRef struct {
	Env  string
	File string
}

// SudoMode is how a host runs commands as root.
type SudoMode string

const (
	// SudoAuto: no sudo when the user is root; otherwise passwordless `sudo -n`, or sudo with the
	// configured sudo password when one is given.
	SudoAuto SudoMode = "auto"
	// SudoNone: never use sudo (the user is root, or the tasks need no root).
	SudoNone SudoMode = "none"
	// SudoAlways: always go through sudo, even as root.
	SudoAlways SudoMode = "sudo"
)

// Role is what a host does in the cluster.
type Role string

const (
	RoleControlPlane Role = "control-plane"
	RoleWorker       Role = "worker"
)

// Bastion is a jump host the SSH connection goes through.
type Bastion struct {
	Address string
	Port    int
	User    string
	KeyPath string
}

// ControlPlanes returns the control-plane hosts in file order.
func (l *Lab) ControlPlanes() []Host { return l.withRole(RoleControlPlane) }

// Workers returns the worker hosts in file order.
func (l *Lab) Workers() []Host { return l.withRole(RoleWorker) }

func (l *Lab) withRole(r Role) []Host {
	var out []Host
	for _, h := range l.Hosts {
		if h.Role == r {
			out = append(out, h)
		}
	}
	return out
}
