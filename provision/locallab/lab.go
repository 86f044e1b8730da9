// Package locallab makes local labs of machine-like hosts: each machine is a Debian systemd +
// sshd root filesystem booted under runc, with its own network namespace and address on a
// private bridge, reachable from this host and from each other and from nothing else. A lab
// writes a hosts file (provision/inventory's format) with its own SSH key and known_hosts, so
// meshlab provisions it exactly like real machines.
//
// Host-level names derive from the lab name (see names.go), so Destroy finds and removes every
// piece of a lab even when a create died half-way; Create after a failed create starts clean.
package locallab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/state"
)

// Defaults.
const (
	DefaultNodes         = 3
	DefaultControlPlanes = 1
	DefaultBootTimeout   = 3 * time.Minute
	// The inventory's defaults (provision/inventory): the lab writes them into its hosts file.
	DefaultPodCIDR     = "10.244.0.0/16"
	DefaultServiceCIDR = "10.96.0.0/12"
	defaultCacheDir    = "/var/cache/meshlab"
	cacheEnv           = "MESHLAB_CACHE" // overrides the cache directory
)

// Options configure a Manager. The zero value works: labs under ~/.meshlab/labs, the image cache
// under $MESHLAB_CACHE or /var/cache/meshlab, the mirror from this host's apt sources.
type Options struct {
	BaseDir  string     // folder holding one folder per lab (default ~/.meshlab/labs)
	CacheDir string     // machine image cache (default $MESHLAB_CACHE, else /var/cache/meshlab)
	Mirror   string     // Debian mirror for debootstrap (default: from /etc/apt/sources.list*)
	Events   event.Sink // Waiting and Log events (default: discarded)
	Logger   *slog.Logger
	// Executable runs a lab's SSH forwarder (TopologyVirtualBox) as `Executable lab forward`:
	// the meshlab binary (default: this process's own).
	Executable string
}

// Manager creates, lists and destroys labs.
type Manager struct {
	opts Options
	r    runner
}

// New returns a Manager with the defaults filled in.
func New(opts Options) (*Manager, error) {
	if opts.BaseDir == "" {
		base, err := state.DefaultBase()
		if err != nil {
			return nil, fmt.Errorf("lab folder: %w", err)
		}
		opts.BaseDir = base
	}
	if opts.CacheDir == "" {
		opts.CacheDir = os.Getenv(cacheEnv)
	}
	if opts.CacheDir == "" {
		opts.CacheDir = defaultCacheDir
	}
	if opts.Events == nil {
		opts.Events = event.Discard
	}
	return &Manager{opts: opts, r: runner{log: opts.Logger}}, nil
}

// Spec is the shape of a lab to create.
type Spec struct {
	Name          string
	Nodes         int           // machines in all (default 3)
	ControlPlanes int           // the first ControlPlanes machines are control planes (default 1)
	BootTimeout   time.Duration // for all machines to boot (default 3 minutes)
	PodCIDR       string        // the cluster's pod network (default 10.244.0.0/16)
	ServiceCIDR   string        // the cluster's service network (default 10.96.0.0/12)

	// What makes the machines look like real ones (realism.go).
	Topology    string        // TopologyBridge (default) or TopologyVirtualBox
	DpkgLock    time.Duration // hold the dpkg locks this long after each boot (0: not)
	RejectInput []string      // machines whose firewall rejects all incoming but SSH
}

// Lab describes an existing lab.
type Lab struct {
	Name       string
	Dir        string // the lab's folder: hosts file, keys, state, machine layers
	HostsFile  string // hosts file for `meshlab up --hosts`
	KeyPath    string // private key authorized for root and the sudo user "meshlab" (0600)
	KnownHosts string // known_hosts with every machine's host key
	Subnet     string
	Bridge     string
	Machines   []Machine
	Existed    bool // Create found the lab already there (and started stopped machines)
}

// Machine is one machine of a lab and what runc says about it.
type Machine struct {
	Node
	ID     string // runc container id and network namespace name
	Status string // running, stopped, ... or "" when runc does not know it
}

// SudoUser is the non-root user every machine has, with passwordless sudo and the lab key.
const SudoUser = labUser

// dir is the lab's state folder, shared with meshlab up's state, logs and kubeconfig.
func (m *Manager) dir(name string) state.LabDir {
	return state.LabDir(filepath.Join(m.opts.BaseDir, name))
}

// labDir is the machines' own folder inside it, so destroy removes only what the lab made.
func (m *Manager) labDir(name string) string { return m.dir(name).LocalLab() }

func (m *Manager) paths(name string) labPaths { return labPaths{dir: m.labDir(name)} }

func (m *Manager) emit(kind event.Kind, lab, host, line string) {
	m.opts.Events.Emit(event.Event{Time: time.Now(), Kind: kind, Lab: lab, Host: host, Line: line})
}

// Get describes an existing lab, with each machine's current status.
func (m *Manager) Get(ctx context.Context, name string) (*Lab, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	p := m.paths(name)
	st, err := readState(p.state())
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab %s: %w", name, ErrNoLab)
	}
	if err != nil {
		return nil, err
	}
	return m.describe(ctx, st, p)
}

// ErrNoLab is returned for a lab that does not exist.
var ErrNoLab = errors.New("no such lab")

func (m *Manager) describe(ctx context.Context, st *State, p labPaths) (*Lab, error) {
	n := namesFor(st.Name)
	lab := &Lab{Name: st.Name, Dir: p.dir, HostsFile: p.hostsFile(), KeyPath: p.userKey(),
		KnownHosts: p.knownHosts(), Subnet: st.Subnet, Bridge: st.Bridge}
	for _, node := range st.Nodes {
		id := n.machineID(node.Name)
		status, err := containerStatus(ctx, m.r, st.Name, id)
		if err != nil {
			return nil, err
		}
		lab.Machines = append(lab.Machines, Machine{Node: node, ID: id, Status: status})
	}
	return lab, nil
}

// List describes every lab under the base folder.
func (m *Manager) List(ctx context.Context) ([]*Lab, error) {
	states, err := filepath.Glob(filepath.Join(m.opts.BaseDir, "*", "locallab", "lab.json"))
	if err != nil {
		return nil, err
	}
	var out []*Lab
	for _, s := range states {
		name := filepath.Base(filepath.Dir(filepath.Dir(s)))
		lab, err := m.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, lab)
	}
	return out, nil
}

// StopSSH stops sshd on one machine (systemctl stop ssh), as a test of a host that stops
// answering mid-run. StartSSH brings it back.
func (m *Manager) StopSSH(ctx context.Context, lab, node string) error {
	return m.systemctl(ctx, lab, node, "stop")
}

// StartSSH starts sshd again on a machine after StopSSH.
func (m *Manager) StartSSH(ctx context.Context, lab, node string) error {
	return m.systemctl(ctx, lab, node, "start")
}

func (m *Manager) systemctl(ctx context.Context, lab, node, verb string) error {
	if err := ValidateName(lab); err != nil {
		return err
	}
	if !nodeNamePattern.MatchString(node) {
		return fmt.Errorf("lab %s: %q is not a machine name (cp1, worker1, ...)", lab, node)
	}
	// ssh.socket is stopped too: were it active, systemd would start sshd again on the next connect.
	units := []string{"ssh.service", "ssh.socket"}
	if verb == "start" {
		units = []string{"ssh.service"}
	}
	if _, err := m.Exec(ctx, lab, node, append([]string{"systemctl", verb}, units...)...); err != nil {
		return fmt.Errorf("lab %s: %s sshd on %s: %w", lab, verb, node, err)
	}
	return nil
}

// Exec runs a command inside a machine as root (runc exec) and returns its stdout.
func (m *Manager) Exec(ctx context.Context, lab, node string, argv ...string) ([]byte, error) {
	return execIn(ctx, m.r, lab, namesFor(lab).machineID(node), argv...)
}
