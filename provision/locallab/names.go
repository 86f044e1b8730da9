package locallab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
)

// Roles written to the hosts file; they are the inventory's role names.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
)

// labNamePattern keeps lab names short and free of '.', '/' and spaces: they become parts of
// netns names, runc ids, cgroup paths and directory names.
var labNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// nodeNamePattern matches the names this package gives machines. Node names never contain '-', so
// "meshlab-<lab>-<node>" splits unambiguously even when lab names contain dashes.
var nodeNamePattern = regexp.MustCompile(`^(cp|worker)[0-9]+$`)

// ValidateName reports whether name can be a lab name.
func ValidateName(name string) error {
	if !labNamePattern.MatchString(name) {
		return fmt.Errorf("lab name %q: use 1-32 lower-case letters, digits and inner dashes", name)
	}
	return nil
}

// Node is one machine of a lab as planned before it exists.
type Node struct {
	Name    string // cp1, worker1, ...: also the hostname
	Role    string // RoleControlPlane or RoleWorker
	Index   int    // 0-based position; the address is .10+Index
	Address string // IPv4 address on the lab bridge
	// SSHPort is the port of 127.0.0.1 forwarded to the machine's sshd (TopologyVirtualBox);
	// 0: SSH is on Address, port 22.
	SSHPort int `json:",omitempty"`
	// RejectInput: the machine's firewall rejects all incoming connections but SSH.
	RejectInput bool `json:",omitempty"`
}

// planNodes names the machines of a lab: control planes first, then workers.
func planNodes(nodes, controlPlanes int) ([]Node, error) {
	if controlPlanes < 1 || nodes < controlPlanes {
		return nil, fmt.Errorf("a lab needs at least 1 control plane and nodes >= control planes (got nodes=%d, control-planes=%d)", nodes, controlPlanes)
	}
	if nodes > maxNodes {
		return nil, fmt.Errorf("a lab has at most %d machines (got %d)", maxNodes, nodes)
	}
	out := make([]Node, 0, nodes)
	for i := 0; i < nodes; i++ {
		n := Node{Index: i, Role: RoleControlPlane, Name: "cp" + strconv.Itoa(i+1)}
		if i >= controlPlanes {
			n.Role, n.Name = RoleWorker, "worker"+strconv.Itoa(i-controlPlanes+1)
		}
		out = append(out, n)
	}
	return out, nil
}

// maxNodes keeps addresses .10 ... inside the /24 and the host's 2 cores sane.
const maxNodes = 50

// names derives every host-level object name of a lab from its name, so that destroy can find
// them all even when a create died before recording anything.
type names struct {
	lab  string
	hash string // 6 hex digits of the lab name: fits interface names into 15 bytes
}

func namesFor(lab string) names {
	sum := sha256.Sum256([]byte(lab))
	return names{lab: lab, hash: hex.EncodeToString(sum[:3])}
}

// bridge is the host bridge every machine's veth is attached to.
func (n names) bridge() string { return "mlab-" + n.hash }

// hostVeth is the host end of a machine's veth pair.
func (n names) hostVeth(index int) string { return "ml" + n.hash + "n" + strconv.Itoa(index) }

// hostVethPrefix matches every host veth of the lab.
func (n names) hostVethPrefix() string { return "ml" + n.hash + "n" }

// machineID is the runc container id and the network namespace name of a machine.
func (n names) machineID(node string) string { return n.netnsPrefix() + node }

// netnsPrefix is what every network namespace of the lab starts with.
func (n names) netnsPrefix() string { return "meshlab-" + n.lab + "-" }

// cgroupsPath is a machine's cgroup, apart from everything else on the host.
func (n names) cgroupsPath(node string) string { return "/meshlab/" + n.lab + "/" + node }

// comment tags the lab's iptables rules so destroy removes exactly those.
func (n names) comment() string { return "meshlab lab " + n.lab }

// nodeFromID returns the node name of a machine id of this lab, or false if the id is not one.
func (n names) nodeFromID(id string) (string, bool) {
	p := n.netnsPrefix()
	if len(id) <= len(p) || id[:len(p)] != p {
		return "", false
	}
	node := id[len(p):]
	return node, nodeNamePattern.MatchString(node)
}
