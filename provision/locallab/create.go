package locallab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/meshlab/meshlab/internal/hostnet"
	"github.com/meshlab/meshlab/provision/event"
)

// networkLock serialises subnet choice and bridge creation across concurrent creates.
const networkLock = "/run/meshlab/network.lock"

// Create makes the lab, or, when it exists, starts whichever of its machines are not running.
// A lab left half-made by an earlier failed create is destroyed first, so no manual reset is ever
// needed. On failure the partial lab stays for inspection; Destroy or another Create clears it.
func (m *Manager) Create(ctx context.Context, spec Spec) (*Lab, error) {
	if err := ValidateName(spec.Name); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("creating a lab needs root (network namespaces, mounts, runc)")
	}
	if spec.Nodes == 0 {
		spec.Nodes = DefaultNodes
	}
	if spec.ControlPlanes == 0 {
		spec.ControlPlanes = DefaultControlPlanes
	}
	if spec.BootTimeout == 0 {
		spec.BootTimeout = DefaultBootTimeout
	}
	if spec.PodCIDR == "" {
		spec.PodCIDR = DefaultPodCIDR
	}
	if spec.ServiceCIDR == "" {
		spec.ServiceCIDR = DefaultServiceCIDR
	}
	if spec.Topology == "" {
		spec.Topology = TopologyBridge
	}
	if err := ValidateTopology(spec.Topology); err != nil {
		return nil, fmt.Errorf("lab %s: %w", spec.Name, err)
	}
	if spec.DpkgLock < 0 {
		return nil, fmt.Errorf("lab %s: the dpkg lock time %s is negative", spec.Name, spec.DpkgLock)
	}
	nodes, err := planNodes(spec.Nodes, spec.ControlPlanes)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", spec.Name, err)
	}
	if err := markRejectInput(nodes, spec.RejectInput); err != nil {
		return nil, fmt.Errorf("lab %s: %w", spec.Name, err)
	}
	p := m.paths(spec.Name)
	st, err := readState(p.state())
	switch {
	case err == nil && st.Complete:
		if !sameShape(st.Nodes, nodes) {
			return nil, fmt.Errorf("lab %s exists with %d machines (%d control planes): destroy it first to change its shape",
				spec.Name, len(st.Nodes), countRole(st.Nodes, RoleControlPlane))
		}
		if topo := st.Topology; topo != spec.Topology && (topo != "" || spec.Topology != TopologyBridge) {
			return nil, fmt.Errorf("lab %s exists with topology %q: destroy it first to change it", spec.Name, topo)
		}
		return m.restart(ctx, st, p, spec.BootTimeout)
	case err == nil || !errors.Is(err, os.ErrNotExist) || dirExists(p.dir):
		m.emit(event.Log, spec.Name, "", "clearing what an earlier, unfinished create left behind")
		if err := m.Destroy(ctx, spec.Name); err != nil {
			return nil, fmt.Errorf("lab %s: clear unfinished lab: %w", spec.Name, err)
		}
	}
	// Names are host-wide: machines under this name with no lab folder here belong to a lab made
	// with another base folder, which this create must not adopt.
	if ids, err := labContainers(spec.Name); err != nil || len(ids) > 0 {
		return nil, fmt.Errorf("lab %s: machines %v exist but %s does not (made with another --log-dir?): destroy the lab first (%v)",
			spec.Name, ids, p.dir, err)
	}
	return m.create(ctx, spec, nodes, p)
}

func (m *Manager) create(ctx context.Context, spec Spec, nodes []Node, p labPaths) (*Lab, error) {
	n := namesFor(spec.Name)
	rootfs, err := cachedRootfs(ctx, m.r, m.opts.CacheDir, m.opts.Mirror, func(s string) {
		m.emit(event.Waiting, spec.Name, "", s)
	})
	if err != nil {
		return nil, fmt.Errorf("lab %s: machine image: %w", spec.Name, err)
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab %s: %w", spec.Name, err)
	}
	st := &State{Name: spec.Name, Bridge: n.bridge(), Rootfs: rootfs, Nodes: nodes,
		PodCIDR: spec.PodCIDR, ServiceCIDR: spec.ServiceCIDR, Topology: spec.Topology, DpkgLock: spec.DpkgLock}
	if st.virtualBox() {
		ports, err := freeLoopbackPorts(len(nodes))
		if err != nil {
			return nil, fmt.Errorf("lab %s: %w", spec.Name, err)
		}
		for i := range st.Nodes {
			st.Nodes[i].SSHPort = ports[i]
		}
	}
	allowed, err := st.clusterPrefixes()
	if err != nil {
		return nil, err
	}
	if err := m.allocateNetwork(ctx, n, st, p); err != nil {
		return nil, fmt.Errorf("lab %s: network: %w", spec.Name, err)
	}
	subnet := netip.MustParsePrefix(st.Subnet)

	user, err := newKeyPair("meshlab-lab-" + spec.Name)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(p.userKey(), user.PrivatePEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(p.userKey()+".pub", user.AuthorizedLine(), 0o644); err != nil {
		return nil, err
	}
	var known strings.Builder
	for _, node := range st.Nodes {
		host, err := newKeyPair("root@" + node.Name)
		if err != nil {
			return nil, err
		}
		if err := m.prepareMachine(ctx, n, p, st, node, subnet, allowed, host, user); err != nil {
			return nil, fmt.Errorf("lab %s: %w", spec.Name, err)
		}
		names := []string{node.Address, node.Name}
		if node.SSHPort != 0 { // how known_hosts names a host on another port
			names = append(names, "[127.0.0.1]:"+strconv.Itoa(node.SSHPort))
		}
		known.WriteString(knownHostsLine(names, host.Public))
	}
	if err := writeFileAtomic(p.knownHosts(), []byte(known.String()), 0o600); err != nil {
		return nil, err
	}
	if err := m.bootAll(ctx, n, p, st.Nodes, spec.BootTimeout); err != nil {
		return nil, fmt.Errorf("lab %s: %w", spec.Name, err)
	}
	if st.virtualBox() {
		if err := m.startForwarder(ctx, st, p, spec.BootTimeout); err != nil {
			return nil, fmt.Errorf("lab %s: %w", spec.Name, err)
		}
	}
	hf, err := renderHostsFile(st, p.userKey(), p.knownHosts())
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(p.hostsFile(), hf, 0o644); err != nil {
		return nil, err
	}
	st.Complete = true
	if err := writeState(p.state(), st); err != nil {
		return nil, err
	}
	return m.describe(ctx, st, p)
}

// allocateNetwork picks a free /24 and builds the bridge under a host-wide lock, so two creates
// running at once cannot take the same subnet. The state is written before the bridge exists.
func (m *Manager) allocateNetwork(ctx context.Context, n names, st *State, p labPaths) error {
	if err := os.MkdirAll(filepath.Dir(networkLock), 0o755); err != nil {
		return err
	}
	unlock, err := lockFile(ctx, networkLock)
	if err != nil {
		return err
	}
	defer unlock()
	used, err := hostnet.UsedPrefixes(ctx, m.r.output)
	if err != nil {
		return err
	}
	cluster, err := st.clusterPrefixes()
	if err != nil {
		return err
	}
	subnet, err := pickSubnet(append(used, cluster...)) // the lab must not shadow the cluster's networks
	if err != nil {
		return err
	}
	st.Subnet = subnet.String()
	for i := range st.Nodes {
		st.Nodes[i].Address = hostAddress(subnet, 10+st.Nodes[i].Index).String()
	}
	if err := writeState(p.state(), st); err != nil {
		return err
	}
	return ensureLabNetwork(ctx, m.r, n, subnet)
}

// prepareMachine lays out one machine: its root overlay with its identity, its runc bundle and
// its network namespace. Nothing runs yet.
func (m *Manager) prepareMachine(ctx context.Context, n names, p labPaths, st *State, node Node,
	subnet netip.Prefix, allowed []netip.Prefix, host, user keyPair) error {
	if err := mountOverlay(p, node.Name, st.Rootfs); err != nil {
		return err
	}
	machineID, err := newMachineID()
	if err != nil {
		return err
	}
	id := identity{
		Hostname:      node.Name,
		MachineID:     machineID,
		HostKeyPEM:    host.PrivatePEM,
		HostKeyPublic: host.AuthorizedLine(),
		Authorized:    user.AuthorizedLine(),
		Hosts:         etcHosts(st.Nodes),
	}
	if err := writeIdentity(p.merged(node.Name), id); err != nil {
		return fmt.Errorf("machine %s: identity: %w", node.Name, err)
	}
	if err := writeRealism(p.merged(node.Name), st.DpkgLock, node.RejectInput); err != nil {
		return fmt.Errorf("machine %s: %w", node.Name, err)
	}
	if err := m.writeBundle(n, p, node); err != nil {
		return err
	}
	return ensureMachineNetwork(ctx, m.r, n, node, subnet, allowed, st.Topology)
}

func (m *Manager) writeBundle(n names, p labPaths, node Node) error {
	caps, err := hostCapBounding()
	if err != nil {
		return err
	}
	spec := buildSpec(machineSpec{
		Hostname:      node.Name,
		NetnsPath:     netnsPath(n.machineID(node.Name)),
		CgroupsPath:   n.cgroupsPath(node.Name),
		ContainerdDir: p.containerd(node.Name),
		CapBounding:   caps,
	})
	b, err := marshalSpec(spec)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(p.bundle(node.Name), "config.json"), b, 0o644)
}

// bootAll starts every machine that is not running, then waits for each until systemd and sshd
// are up: the machines boot side by side.
func (m *Manager) bootAll(ctx context.Context, n names, p labPaths, nodes []Node, timeout time.Duration) error {
	for _, node := range nodes {
		id := n.machineID(node.Name)
		status, err := containerStatus(ctx, m.r, n.lab, id)
		if err != nil {
			return err
		}
		if status == "running" {
			continue
		}
		if err := removeContainer(ctx, m.r, n.lab, id); err != nil {
			return err
		}
		m.emit(event.Log, n.lab, node.Name, "booting "+id+" at "+node.Address)
		if err := startContainer(ctx, m.r, p, n.lab, node.Name, id); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, node := range nodes {
		id := n.machineID(node.Name)
		err := waitBooted(wctx, m.r, n.lab, id, node.Address, func(s string) {
			m.emit(event.Waiting, n.lab, node.Name, s)
		})
		if err != nil {
			return fmt.Errorf("%w (console: %s)", err, p.consoleLog(node.Name))
		}
	}
	return nil
}

// restart brings an existing lab back: network, mounts and any machine that is not running.
func (m *Manager) restart(ctx context.Context, st *State, p labPaths, timeout time.Duration) (*Lab, error) {
	n := namesFor(st.Name)
	subnet, err := netip.ParsePrefix(st.Subnet)
	if err != nil {
		return nil, fmt.Errorf("lab %s: state %s: subnet: %w", st.Name, p.state(), err)
	}
	allowed, err := st.clusterPrefixes()
	if err != nil {
		return nil, err
	}
	if err := ensureLabNetwork(ctx, m.r, n, subnet); err != nil {
		return nil, fmt.Errorf("lab %s: network: %w", st.Name, err)
	}
	for _, node := range st.Nodes {
		if err := mountOverlay(p, node.Name, st.Rootfs); err != nil {
			return nil, fmt.Errorf("lab %s: %w", st.Name, err)
		}
		if err := ensureMachineNetwork(ctx, m.r, n, node, subnet, allowed, st.Topology); err != nil {
			return nil, fmt.Errorf("lab %s: %w", st.Name, err)
		}
	}
	if err := m.bootAll(ctx, n, p, st.Nodes, timeout); err != nil {
		return nil, fmt.Errorf("lab %s: %w", st.Name, err)
	}
	if st.virtualBox() {
		if err := m.startForwarder(ctx, st, p, timeout); err != nil {
			return nil, fmt.Errorf("lab %s: %w", st.Name, err)
		}
	}
	lab, err := m.describe(ctx, st, p)
	if err != nil {
		return nil, err
	}
	lab.Existed = true
	return lab, nil
}

// markRejectInput sets RejectInput on the named machines; a name that is not one is an error.
func markRejectInput(nodes []Node, names []string) error {
	for _, name := range names {
		found := false
		for i := range nodes {
			if nodes[i].Name == name {
				nodes[i].RejectInput, found = true, true
			}
		}
		if !found {
			return fmt.Errorf("--reject-input %s: the lab has no machine of that name (it has cp1..., worker1...)", name)
		}
	}
	return nil
}

func sameShape(a, b []Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Role != b[i].Role {
			return false
		}
	}
	return true
}

func countRole(nodes []Node, role string) int {
	c := 0
	for _, n := range nodes {
		if n.Role == role {
			c++
		}
	}
	return c
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
