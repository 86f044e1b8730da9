package inventory

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

var (
	labNameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostNameRE = regexp.MustCompile(`^[A-Za-z0-9:]([A-Za-z0-9_.:%-]{0,251}[A-Za-z0-9])?$`)
	userRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$`)
)

// Kubernetes' default NodePort range (kube-apiserver --service-node-port-range).
const (
	minNodePort = 30000
	maxNodePort = 32767
)

// validate checks the whole lab after defaults were applied, adding every problem it finds.
func (d *decoder) validate(lab *Lab) {
	if !labNameRE.MatchString(lab.Name) {
		d.problem(d.at("name"), "name", fmt.Sprintf("%q is not a valid lab name", truncate(lab.Name, 60)),
			"use lower-case letters, digits and '-', at most 63; it names the folder ~/.meshlab/labs/<name>")
	}
	d.checkVersions(lab.Versions)
	d.checkNetwork(&lab.Network)
	d.checkComponents(&lab.Components)
	d.checkMirrors(lab)
	d.checkSSHDefaults(&lab.SSH)
	d.checkHosts(lab)
}

func (d *decoder) checkComponents(c *Components) {
	known := []string{"zipkin", "prometheus", "grafana", "jaeger"}
	seen := map[string]bool{}
	for i, a := range c.Addons {
		p := fmt.Sprintf("components.addons[%d]", i)
		switch {
		case !contains(known, a):
			d.problem(d.at(p), p, fmt.Sprintf("unknown addon %q", truncate(a, 40)), unknownFieldHint(a, known))
		case seen[a]:
			d.problem(d.at(p), p, fmt.Sprintf("%s is listed twice", a), "list each addon once")
		}
		seen[a] = true
	}
	if seen["zipkin"] && seen["jaeger"] {
		d.problem(d.at("components.addons"), "components.addons", "zipkin and jaeger both serve the Zipkin API on 9411",
			"choose one of them as the trace store")
	}
	if c.AddonService != "NodePort" && c.AddonService != "ClusterIP" {
		d.problem(d.at("components.addonService"), "components.addonService", fmt.Sprintf("%q is not a Service type meshlab offers", truncate(c.AddonService, 40)),
			"NodePort (every node, the default) or ClusterIP (inside the cluster; meshlab addons port-forward reaches it)")
	}
	nodePortNames := []string{"zipkin", "grafana", "prometheus", "jaeger", "gateway"}
	byPort := map[int]string{}
	for _, name := range nodePortNames {
		port, p := c.NodePorts[name], "components.nodePorts."+name
		if port < minNodePort || port > maxNodePort {
			d.problem(d.at(p), p, fmt.Sprintf("%d is outside the NodePort range %d-%d", port, minNodePort, maxNodePort),
				"pick a port in that range")
		} else if other, dup := byPort[port]; dup {
			d.problem(d.at(p), p, fmt.Sprintf("%d is already the NodePort of %s", port, other), "give each component its own port")
		}
		byPort[port] = name
	}
	for name := range c.NodePorts {
		if !contains(nodePortNames, name) {
			p := "components.nodePorts." + name
			d.problem(d.at(p+".key"), p, "unknown component", unknownFieldHint(name, nodePortNames))
		}
	}
}

func (d *decoder) checkSSHDefaults(s *SSHDefaults) {
	d.checkUser(s.User, "ssh.user")
	d.checkPort(s.Port, "ssh.port")
	d.checkSudo(s.Sudo, "ssh.sudo")
	d.checkKeyFile(s.KeyPath, "ssh.keyPath")
	d.checkSecret(s.Password, "ssh.password")
	d.checkSecret(s.KeyPassphrase, "ssh.keyPassphrase")
	d.checkSecret(s.SudoPassword, "ssh.sudoPassword")
	d.checkBastion(s.Bastion, "ssh.bastion")
}

func (d *decoder) checkHosts(lab *Lab) {
	if len(lab.Hosts) == 0 {
		d.problem(d.at("hosts"), "hosts", "no hosts are listed", "add at least one: - root@192.168.56.10 control-plane")
		return
	}
	names := map[string]int{}     // name → index of first host
	targets := map[string]int{}   // address:port → index of first host
	internals := map[string]int{} // internal address → index of first host
	controlPlanes, badRoles := 0, 0
	for i := range lab.Hosts {
		if d.brokenHosts[i] {
			continue
		}
		h := &lab.Hosts[i]
		hp := fmt.Sprintf("hosts[%d]", i)
		ip, addrOK := d.checkAddress(h.Address, hp+".address")
		// Values inherited from ssh: were checked there; only the host's own are checked here.
		if d.isSet(hp + ".port") {
			d.checkPort(h.Port, hp+".port")
		}
		if d.isSet(hp + ".user") {
			d.checkUser(h.User, hp+".user")
		}
		if d.isSet(hp + ".sudo") {
			d.checkSudo(h.Sudo, hp+".sudo")
		}
		if h.Sudo == SudoNone && h.SudoPassword.IsSet() && d.isSet(hp+".sudoPassword") {
			d.problem(d.at(hp+".sudoPassword"), hp+".sudoPassword", "is set but sudo: none never uses it", "remove it or set sudo: auto")
		}
		switch h.Role {
		case RoleControlPlane:
			controlPlanes++
		case RoleWorker:
		default:
			badRoles++
			d.problem(d.at(hp+".role"), hp+".role", fmt.Sprintf("%q is not a role", truncate(string(h.Role), 40)), roleHint(string(h.Role)))
		}
		if d.isSet(hp + ".keyPath") {
			d.checkKeyFile(h.KeyPath, hp+".keyPath")
		}
		for _, s := range []struct {
			field string
			ref   SecretRef
		}{{"password", h.Password}, {"keyPassphrase", h.KeyPassphrase}, {"sudoPassword", h.SudoPassword}} {
			if d.isSet(hp + "." + s.field) {
				d.checkSecret(s.ref, hp+"."+s.field)
			}
		}
		if d.isSet(hp + ".bastion") {
			d.checkBastion(h.Bastion, hp+".bastion")
		}
		d.checkLabels(h.Labels, hp+".labels")
		d.checkIdentity(lab, i, ip, addrOK, names, targets)
		if d.isSet(hp + ".internalAddress") {
			d.checkInternalAddress(lab, i, internals)
		}
	}
	if controlPlanes == 0 && badRoles == 0 && len(d.brokenHosts) == 0 {
		d.problem(d.at("hosts"), "hosts", "no host has the role control-plane",
			"give one host role: control-plane, or in the short form: - root@192.168.56.10 control-plane")
	}
}

// checkIdentity reports a host that repeats another's address and port, or its name. A name
// derived from a repeated or broken address is not reported again.
func (d *decoder) checkIdentity(lab *Lab, i int, ip netip.Addr, addrOK bool, names, targets map[string]int) {
	h, hp := lab.Hosts[i], fmt.Sprintf("hosts[%d]", i)
	nameSet, repeated := d.isSet(hp+".name"), false
	if addrOK && h.Port >= 1 && h.Port <= 65535 {
		key := targetKey(h.Address, ip, h.Port)
		if first, dup := targets[key]; dup {
			repeated = true
			d.problem(d.at(hp+".address"), hp+".address",
				fmt.Sprintf("%s port %d is already the host on line %d", h.Address, h.Port, lab.Hosts[first].Line),
				"list every machine once; hosts behind one address need different ports")
		} else {
			targets[key] = i
			d.checkNotInCluster(ip, lab.Network, hp+".address")
		}
	}
	if !nameSet && (!addrOK || repeated) {
		return
	}
	if !hostNameRE.MatchString(h.Name) || h.Name == "." || h.Name == ".." {
		d.problem(d.at(hp+".name"), hp+".name", fmt.Sprintf("%q is not a valid host name", truncate(h.Name, 60)),
			"use letters, digits, '.', '-', '_' and ':'; it names the host's log file")
	} else if first, dup := names[h.Name]; dup {
		d.problem(d.at(hp+".name"), hp+".name", fmt.Sprintf("%q is already the name of the host on line %d", h.Name, lab.Hosts[first].Line),
			"give every host its own name")
	} else {
		names[h.Name] = i
	}
}

// checkInternalAddress: an internal address is an IP address of the host itself (the nodes use it
// to reach each other, and meshlab checks on the host that it is one of its own), once per lab.
func (d *decoder) checkInternalAddress(lab *Lab, i int, seen map[string]int) {
	h, field := lab.Hosts[i], fmt.Sprintf("hosts[%d].internalAddress", i)
	ip, err := netip.ParseAddr(h.InternalAddress)
	switch {
	case err != nil:
		d.problem(d.at(field), field, fmt.Sprintf("%q is not an IP address", truncate(h.InternalAddress, 60)),
			"give the host's own address on the network the nodes share, e.g. 192.168.56.10 (not a name)")
		return
	case ip.IsUnspecified() || ip.IsLoopback() || ip.IsMulticast() || ip.IsLinkLocalUnicast():
		d.problem(d.at(field), field, fmt.Sprintf("%s cannot be a node's address", ip),
			"give the host's own address on the network the nodes share")
		return
	}
	key := ip.Unmap().String()
	if first, dup := seen[key]; dup {
		d.problem(d.at(field), field, fmt.Sprintf("%s is already the internal address of the host on line %d", ip, lab.Hosts[first].Line),
			"every node needs its own address")
		return
	}
	seen[key] = i
	d.checkNotInCluster(ip, lab.Network, field)
}

// targetKey identifies where a host is reached, treating 127.0.0.1 and 127.000.000.001 or
// differently written IPv6 addresses alike and names case-insensitively.
func targetKey(addr string, ip netip.Addr, port int) string {
	if ip.IsValid() {
		addr = ip.Unmap().String()
	}
	return strings.ToLower(strings.TrimSuffix(addr, ".")) + "|" + strconv.Itoa(port)
}

// checkNotInCluster reports a host address inside the pod or service range: routes for those
// ranges would capture the traffic to the host itself.
func (d *decoder) checkNotInCluster(ip netip.Addr, n Network, field string) {
	if !ip.IsValid() {
		return
	}
	for _, r := range []struct {
		name   string
		prefix netip.Prefix
	}{{"network.podCIDR", n.PodPrefix}, {"network.serviceCIDR", n.ServicePrefix}} {
		if r.prefix.IsValid() && r.prefix.Contains(ip.Unmap()) {
			d.problem(d.at(field), field, fmt.Sprintf("%s lies inside %s %s", ip, r.name, r.prefix),
				"choose a "+r.name+" that does not contain the machines' addresses")
		}
	}
}

func (d *decoder) checkBastion(b *Bastion, path string) {
	if b == nil {
		return
	}
	d.checkAddress(b.Address, path+".address")
	d.checkPort(b.Port, path+".port")
	d.checkUser(b.User, path+".user")
	if d.isSet(path + ".keyPath") {
		d.checkKeyFile(b.KeyPath, path+".keyPath")
	}
}

func (d *decoder) checkPort(port int, field string) {
	if port < 1 || port > 65535 {
		d.problem(d.at(field), field, fmt.Sprintf("%d is not a TCP port", port), "use a number from 1 to 65535; SSH listens on 22")
	}
}

func (d *decoder) checkUser(user, field string) {
	if !userRE.MatchString(user) {
		d.problem(d.at(field), field, fmt.Sprintf("%q is not a user name", truncate(user, 40)), "e.g. root, ubuntu or vagrant")
	}
}

func (d *decoder) checkSudo(m SudoMode, field string) {
	switch m {
	case SudoAuto, SudoNone, SudoAlways:
		return
	}
	d.problem(d.at(field), field, fmt.Sprintf("%q is not a sudo mode", truncate(string(m), 40)),
		"use auto, none or sudo; auto needs no sudo as root, else tries sudo -n, or sudo with sudoPassword")
}

func roleHint(role string) string {
	switch strings.ToLower(role) {
	case "master", "controller", "controlplane", "control_plane", "server", "cp", "etcd":
		return "meshlab calls it control-plane"
	case "node", "agent", "minion", "compute":
		return "meshlab calls it worker"
	}
	return "use control-plane or worker"
}
