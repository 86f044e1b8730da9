package locallab

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"
)

// State is what a lab records about itself in <lab dir>/lab.json. Destroy does not need it (it
// finds everything by the names derived from the lab name); create and list use it.
type State struct {
	Name   string `json:"name"`
	Subnet string `json:"subnet"` // the lab's /24
	Bridge string `json:"bridge"` // host bridge; its address is .1 of Subnet
	Rootfs string `json:"rootfs"` // the cached machine image the overlays sit on
	// The cluster's pod and service CIDRs: written to the hosts file, and the only destinations
	// outside the lab subnet a machine may route to (un-translated, they still stop at the host).
	PodCIDR     string `json:"podCIDR"`
	ServiceCIDR string `json:"serviceCIDR"`
	Complete    bool   `json:"complete"` // every machine booted once; false while create runs
	Nodes       []Node `json:"nodes"`
	// Topology is TopologyBridge ("" in labs made before it existed) or TopologyVirtualBox.
	Topology string        `json:"topology,omitempty"`
	DpkgLock time.Duration `json:"dpkgLock,omitempty"`
}

func (s *State) virtualBox() bool { return s.Topology == TopologyVirtualBox }

// clusterPrefixes parses the pod and service CIDRs.
func (s *State) clusterPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range []string{s.PodCIDR, s.ServiceCIDR} {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("lab %s: cluster CIDR %q: %w", s.Name, c, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func readState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read lab state %s: %w", path, err)
	}
	return &s, nil
}

func writeState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'), 0o644)
}

// hostsFile is the inventory's YAML shape (provision/inventory), written for the lab.
type hostsFile struct {
	APIVersion string           `yaml:"apiVersion"`
	Kind       string           `yaml:"kind"`
	Name       string           `yaml:"name"`
	Network    hostsFileNetwork `yaml:"network"`
	SSH        hostsFileSSH     `yaml:"ssh"`
	Hosts      []hostsFileHost  `yaml:"hosts"`
}

type hostsFileNetwork struct {
	PodCIDR     string `yaml:"podCIDR"`
	ServiceCIDR string `yaml:"serviceCIDR"`
	// Always false: a local lab has nowhere off the machine to reach, and NATs nothing.
	PodMasquerade bool `yaml:"podMasquerade"`
}

type hostsFileSSH struct {
	User       string `yaml:"user"`
	KeyPath    string `yaml:"keyPath"`
	KnownHosts string `yaml:"knownHosts"`
}

type hostsFileHost struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	Port    int    `yaml:"port,omitempty"`
	Role    string `yaml:"role"`
}

// renderHostsFile returns the hosts file of a lab. Paths are absolute so the file works from any
// working directory and when copied elsewhere.
func renderHostsFile(s *State, keyPath, knownHosts string) ([]byte, error) {
	hf := hostsFile{
		APIVersion: "meshlab.dev/v1alpha1",
		Kind:       "Lab",
		Name:       s.Name,
		Network:    hostsFileNetwork{PodCIDR: s.PodCIDR, ServiceCIDR: s.ServiceCIDR},
		SSH:        hostsFileSSH{User: "root", KeyPath: keyPath, KnownHosts: knownHosts},
	}
	for _, n := range s.Nodes {
		h := hostsFileHost{Name: n.Name, Address: n.Address, Role: n.Role}
		if n.SSHPort != 0 { // as Vagrant's ssh-config says it: a forwarded port on 127.0.0.1
			h.Address, h.Port = "127.0.0.1", n.SSHPort
		}
		hf.Hosts = append(hf.Hosts, h)
	}
	b, err := yaml.Marshal(hf)
	if err != nil {
		return nil, fmt.Errorf("encode hosts file: %w", err)
	}
	header := "# Written by `meshlab lab create` for the local lab " + s.Name + ".\n" +
		"# The machines are removed with `meshlab lab destroy --name " + s.Name + "`.\n"
	return append([]byte(header), b...), nil
}

// labPaths are the files of one lab under its directory.
type labPaths struct{ dir string }

func (p labPaths) state() string      { return filepath.Join(p.dir, "lab.json") }
func (p labPaths) hostsFile() string  { return filepath.Join(p.dir, "hosts.yaml") }
func (p labPaths) userKey() string    { return filepath.Join(p.dir, "ssh", "id_ed25519") }
func (p labPaths) knownHosts() string { return filepath.Join(p.dir, "ssh", "known_hosts") }
func (p labPaths) machine(node string) string {
	return filepath.Join(p.dir, "machines", node)
}
func (p labPaths) bundle(node string) string  { return p.machine(node) }
func (p labPaths) merged(node string) string  { return filepath.Join(p.machine(node), "rootfs") }
func (p labPaths) upper(node string) string   { return filepath.Join(p.machine(node), "upper") }
func (p labPaths) work(node string) string    { return filepath.Join(p.machine(node), "work") }
func (p labPaths) pidFile(node string) string { return filepath.Join(p.machine(node), "pid") }
func (p labPaths) consoleLog(node string) string {
	return filepath.Join(p.machine(node), "console.log")
}
func (p labPaths) forwardLog() string { return filepath.Join(p.dir, "ssh-forward.log") }
func (p labPaths) forwardPID() string { return filepath.Join(p.dir, "ssh-forward.pid") }
func (p labPaths) containerd(node string) string {
	return filepath.Join(p.machine(node), "containerd")
}
