// Package draft holds the wizard's answers as an editable hosts file: hosts, lab-wide SSH
// settings, versions and components. It renders them in the hosts-file format that
// provision/inventory reads, and never writes a file inventory.Parse would reject.
package draft

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/versions"
)

// Auth is how the wizard logs in to a host.
type Auth string

const (
	AuthKey      Auth = "key"      // a private key file (keyPath)
	AuthAgent    Auth = "agent"    // the ssh-agent at $SSH_AUTH_SOCK
	AuthPassword Auth = "password" // a password read from an env variable or a file (never stored)
)

// Auths lists the choices in the order the form cycles through them.
func Auths() []Auth { return []Auth{AuthKey, AuthAgent, AuthPassword} }

// Roles lists the host roles in the order the form cycles through them.
func Roles() []inventory.Role {
	return []inventory.Role{inventory.RoleControlPlane, inventory.RoleWorker}
}

// Addons lists the addons the wizard offers, in display order.
func Addons() []string { return []string{"zipkin", "prometheus", "grafana", "jaeger"} }

// Host is one machine as the form edits it. Strings stay strings until rendering, so a
// half-typed port is kept and reported instead of lost.
type Host struct {
	Name    string
	Address string
	Port    int
	User    string
	Auth    Auth
	KeyPath string // AuthKey
	// PasswordRef names where the password lives: "env:NAME" or "file:PATH" (AuthPassword).
	PasswordRef string
	Role        inventory.Role
}

// Draft is a hosts file being written by the wizard.
type Draft struct {
	Name       string
	KnownHosts string // "" means ~/.ssh/known_hosts
	Kubernetes string // Kubernetes version; "" or the pinned one writes no versions section
	Mesh       bool
	Bookinfo   bool
	Addons     []string
	NodePorts  map[string]int
	Hosts      []Host
}

// New is an empty lab with meshlab's defaults.
func New(name string) Draft {
	return Draft{
		Name: name, Kubernetes: versions.Default().Kubernetes.Version,
		Mesh: inventory.DefaultMesh, Bookinfo: inventory.DefaultBookinfo,
		Addons: inventory.DefaultAddons(), NodePorts: inventory.DefaultNodePorts(),
	}
}

// NewHost is a host with the form's starting values: the next free role and key auth.
func (d Draft) NewHost() Host {
	role := inventory.RoleWorker
	if !slices.ContainsFunc(d.Hosts, func(h Host) bool { return h.Role == inventory.RoleControlPlane }) {
		role = inventory.RoleControlPlane
	}
	return Host{Port: inventory.DefaultPort, User: inventory.DefaultUser, Auth: AuthKey, Role: role}
}

// FromLab turns a loaded hosts file back into a draft. Lab-wide SSH settings were already
// merged into each host by inventory, so every host carries its own.
func FromLab(l *inventory.Lab) Draft {
	d := Draft{
		Name: l.Name, KnownHosts: l.SSH.KnownHosts, Kubernetes: l.Versions.Kubernetes.Version,
		Mesh: l.Components.Mesh, Bookinfo: l.Components.Bookinfo,
		Addons: slices.Clone(l.Components.Addons), NodePorts: map[string]int{},
	}
	for k, v := range l.Components.NodePorts {
		d.NodePorts[k] = v
	}
	for _, h := range l.Hosts {
		dh := Host{Name: h.Name, Address: h.Address, Port: h.Port, User: h.User, KeyPath: h.KeyPath, Role: h.Role}
		switch {
		case h.Password.IsSet():
			dh.Auth, dh.PasswordRef = AuthPassword, refString(h.Password)
		case h.KeyPath != "":
			dh.Auth = AuthKey
		default:
			dh.Auth = AuthAgent
		}
		d.Hosts = append(d.Hosts, dh)
	}
	return d
}

// HasAddon reports whether the addon is chosen.
func (d Draft) HasAddon(name string) bool { return slices.Contains(d.Addons, name) }

// ToggleAddon adds or removes an addon, keeping the Addons() order.
func (d *Draft) ToggleAddon(name string) {
	on, old := !d.HasAddon(name), d.Addons
	d.Addons = nil
	for _, a := range Addons() {
		if (a == name && on) || (a != name && slices.Contains(old, a)) {
			d.Addons = append(d.Addons, a)
		}
	}
}

// refString is the form's text for a secret reference.
func refString(r inventory.SecretRef) string {
	if r.Env != "" {
		return "env:" + r.Env
	}
	return "file:" + r.File
}

// ParseRef reads "env:NAME" or "file:PATH" (a bare NAME means an environment variable).
func ParseRef(s string) (inventory.SecretRef, error) {
	s = strings.TrimSpace(s)
	kind, val, ok := strings.Cut(s, ":")
	switch {
	case s == "":
		return inventory.SecretRef{}, fmt.Errorf("password source is empty: write env:NAME or file:PATH")
	case !ok:
		return inventory.SecretRef{Env: s}, nil
	case kind == "env" && val != "":
		return inventory.SecretRef{Env: val}, nil
	case kind == "file" && val != "":
		return inventory.SecretRef{File: val}, nil
	}
	return inventory.SecretRef{}, fmt.Errorf("password source %q: write env:NAME or file:PATH", s)
}
