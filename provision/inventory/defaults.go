package inventory

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Every default of the hosts file, in one place.
const (
	DefaultPort        = 22
	DefaultUser        = "root"
	DefaultSudo        = SudoAuto
	DefaultAgent       = true // like OpenSSH: the agent is tried when SSH_AUTH_SOCK is set
	DefaultPodCIDR     = "10.244.0.0/16"
	DefaultServiceCIDR = "10.96.0.0/12"
	DefaultLabName     = "lab"
	DefaultMesh        = true
	DefaultBookinfo    = true
	// DefaultAddonService exposes the addons on NodePorts, as the walk-through does.
	DefaultAddonService = "NodePort"

	// NodePorts of the components (meshlab's convention; the Bookinfo walk-throughs used 30001
	// and 30002 for Zipkin and Grafana).
	DefaultZipkinNodePort     = 30001
	DefaultGrafanaNodePort    = 30002
	DefaultPrometheusNodePort = 30003
	DefaultJaegerNodePort     = 30004
	DefaultGatewayNodePort    = 30080
)

// DefaultAddons are installed when components.addons is not given. Jaeger is the alternative to
// Zipkin (both serve the Zipkin API on 9411), so it is not installed alongside it by default.
func DefaultAddons() []string { return []string{"zipkin", "prometheus", "grafana"} }

// DefaultNodePorts maps each component that gets a NodePort to its default port.
func DefaultNodePorts() map[string]int {
	return map[string]int{
		"zipkin":     DefaultZipkinNodePort,
		"grafana":    DefaultGrafanaNodePort,
		"prometheus": DefaultPrometheusNodePort,
		"jaeger":     DefaultJaegerNodePort,
		"gateway":    DefaultGatewayNodePort,
	}
}

// applyDefaults fills every field the file left unset. A host inherits the lab's ssh: section
// first and the built-in defaults second. Roles: when no host names a role, the first host is
// the control plane and the rest are workers (the shortest file that works); as soon as any
// host names a role, hosts without one are workers, so a file never gets a surprise control
// plane.
func (d *decoder) applyDefaults(lab *Lab) {
	if !d.isSet("name") {
		lab.Name = labNameFromFile(lab.Source)
	}
	if !d.isSet("network.podCIDR") {
		lab.Network.PodCIDR = DefaultPodCIDR
	}
	if !d.isSet("network.serviceCIDR") {
		lab.Network.ServiceCIDR = DefaultServiceCIDR
	}
	if !d.isSet("network.podMasquerade") {
		lab.Network.PodMasquerade = true
	}
	c := &lab.Components
	if !d.isSet("components.mesh") {
		c.Mesh = DefaultMesh
	}
	if !d.isSet("components.bookinfo") {
		c.Bookinfo = DefaultBookinfo
	}
	if !d.isSet("components.addons") {
		c.Addons = DefaultAddons()
	}
	if !d.isSet("components.addonService") {
		c.AddonService = DefaultAddonService
	}
	ports := DefaultNodePorts()
	for k, v := range c.NodePorts {
		ports[k] = v
	}
	c.NodePorts = ports

	d.defaultMirrors(&lab.Mirrors)

	s := &lab.SSH
	if !d.isSet("ssh.user") {
		s.User = DefaultUser
	}
	if !d.isSet("ssh.port") {
		s.Port = DefaultPort
	}
	if !d.isSet("ssh.agent") {
		s.Agent = DefaultAgent
	}
	if !d.isSet("ssh.sudo") {
		s.Sudo = DefaultSudo
	}
	s.KeyPath = d.expandPath(s.KeyPath, "ssh.keyPath")
	s.KnownHosts = d.expandPath(s.KnownHosts, "ssh.knownHosts")
	s.Password.File = d.expandPath(s.Password.File, "ssh.password.file")
	s.KeyPassphrase.File = d.expandPath(s.KeyPassphrase.File, "ssh.keyPassphrase.file")
	s.SudoPassword.File = d.expandPath(s.SudoPassword.File, "ssh.sudoPassword.file")
	d.defaultBastion(s.Bastion, "ssh.bastion", s)

	anyRole := false
	for i := range lab.Hosts {
		if d.isSet(hostPath(i, "role")) {
			anyRole = true
		}
	}
	for i := range lab.Hosts {
		d.defaultHost(&lab.Hosts[i], i, s, anyRole)
	}
}

func (d *decoder) defaultHost(h *Host, i int, s *SSHDefaults, anyRole bool) {
	set := func(field string) bool { return d.isSet(hostPath(i, field)) }
	if !set("user") {
		h.User = s.User
	}
	if !set("port") {
		h.Port = s.Port
	}
	if !set("agent") {
		h.UseAgent = s.Agent
	}
	if !set("sudo") {
		h.Sudo = s.Sudo
	}
	if set("keyPath") {
		h.KeyPath = d.expandPath(h.KeyPath, hostPath(i, "keyPath"))
	} else {
		h.KeyPath = s.KeyPath
	}
	h.Password = d.secretDefault(h.Password, s.Password, hostPath(i, "password"))
	h.KeyPassphrase = d.secretDefault(h.KeyPassphrase, s.KeyPassphrase, hostPath(i, "keyPassphrase"))
	h.SudoPassword = d.secretDefault(h.SudoPassword, s.SudoPassword, hostPath(i, "sudoPassword"))
	if h.Bastion == nil && s.Bastion != nil {
		b := *s.Bastion
		h.Bastion = &b
	} else {
		d.defaultBastion(h.Bastion, hostPath(i, "bastion"), s)
	}
	if !set("role") {
		h.Role = RoleWorker
		if !anyRole && i == 0 {
			h.Role = RoleControlPlane
		}
	}
	if !set("name") {
		h.Name = defaultHostName(h.Address, h.Port)
	}
}

// secretDefault returns the host's own secret reference (its file path expanded) or else the
// lab-wide one, which applyDefaults expanded already.
func (d *decoder) secretDefault(own, lab SecretRef, path string) SecretRef {
	if !own.IsSet() {
		return lab
	}
	own.File = d.expandPath(own.File, path+".file")
	return own
}

// defaultBastion fills a jump host's port and user from the lab's SSH defaults.
func (d *decoder) defaultBastion(b *Bastion, path string, s *SSHDefaults) {
	if b == nil {
		return
	}
	if b.Port == 0 && !d.isSet(path+".port") {
		b.Port = DefaultPort
	}
	if b.User == "" {
		b.User = s.User
	}
	if b.KeyPath == "" {
		b.KeyPath = s.KeyPath
	} else {
		b.KeyPath = d.expandPath(b.KeyPath, path+".keyPath")
	}
}

// defaultHostName names a host after its address, adding the port when it is not 22 so that
// several hosts behind one address (port forwards, a loopback test lab) get distinct names.
func defaultHostName(addr string, port int) string {
	if port == DefaultPort {
		return addr
	}
	return addr + "-" + strconv.Itoa(port)
}

var nonNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

// labNameFromFile derives a lab name from the hosts file's name (vagrant.yaml → vagrant).
func labNameFromFile(file string) string {
	base := strings.ToLower(strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)))
	name := strings.Trim(nonNameChars.ReplaceAllString(base, "-"), "-")
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	if name == "" {
		return DefaultLabName
	}
	return name
}

func (d *decoder) isSet(path string) bool {
	_, ok := d.pos[path]
	return ok
}

func hostPath(i int, field string) string {
	return "hosts[" + strconv.Itoa(i) + "]." + field
}
