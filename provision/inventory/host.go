package inventory

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

func (d *decoder) decodeHosts(n *yaml.Node, path string) []Host {
	items, _ := d.sequence(n, path, "hosts")
	hosts := make([]Host, 0, len(items))
	for i, it := range items {
		hp := fmt.Sprintf("%s[%d]", path, i)
		it = d.resolve(it)
		if it == nil {
			d.brokenHosts[i] = true
			hosts = append(hosts, Host{})
			continue
		}
		d.pos[hp] = it
		h := Host{Line: it.Line}
		before := len(d.problems)
		switch {
		case it.Kind == yaml.ScalarNode && !isNull(it):
			d.decodeHostString(it, hp, &h)
		case it.Kind == yaml.MappingNode:
			d.decodeHostMapping(it, hp, &h)
		default:
			d.problem(it, hp, "must be a mapping or a user@address[:port] [role] line, not "+describe(it),
				"e.g. - root@192.168.56.10 control-plane")
		}
		// Every entry is kept so hosts[i] in the file stays Hosts[i] here; an entry too broken to
		// have an address was reported already and is skipped by the later checks.
		if len(d.problems) > before && h.Address == "" {
			d.brokenHosts[i] = true
		}
		hosts = append(hosts, h)
	}
	return hosts
}

// decodeHostString reads the minimal form `user@address[:port] [role]`.
func (d *decoder) decodeHostString(n *yaml.Node, path string, h *Host) {
	fields := strings.Fields(n.Value)
	if len(fields) == 0 || len(fields) > 2 {
		d.problem(n, path, fmt.Sprintf("%q is not user@address[:port] [role]", truncate(n.Value, 60)),
			"e.g. root@192.168.56.10 control-plane; use the mapping form for more settings")
		return
	}
	user, addr, port, ok := d.target(n, path, fields[0])
	if !ok {
		return
	}
	if user != "" {
		h.User = user
		d.pos[path+".user"] = n
	}
	h.Address = addr
	d.pos[path+".address"] = n
	if port != 0 {
		h.Port = port
		d.pos[path+".port"] = n
	}
	if len(fields) == 2 {
		h.Role = Role(fields[1])
		d.pos[path+".role"] = n
	}
}

// target splits user@address[:port]; an IPv6 address with a port is written [addr]:port.
func (d *decoder) target(n *yaml.Node, path, s string) (user, addr string, port int, ok bool) {
	bad := func(msg string) (string, string, int, bool) {
		d.problem(n, path, fmt.Sprintf("%q: %s", truncate(s, 60), msg), "write user@address[:port], e.g. ubuntu@10.0.0.5:2222 or root@[fd00::5]:22")
		return "", "", 0, false
	}
	user, rest, hasUser := strings.Cut(s, "@")
	if !hasUser {
		user, rest = "", s
	} else if user == "" {
		return bad("the user before @ is empty")
	}
	portText := ""
	switch {
	case strings.HasPrefix(rest, "["):
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return bad("[ without ]")
		}
		addr = rest[1:end]
		after := rest[end+1:]
		if after != "" {
			if !strings.HasPrefix(after, ":") {
				return bad("unexpected text after ]")
			}
			portText = after[1:]
		}
	case strings.Count(rest, ":") == 1:
		addr, portText, _ = strings.Cut(rest, ":")
	default: // a name, an IPv4 address or a bare IPv6 address (no port possible)
		addr = rest
	}
	if addr == "" {
		return bad("the address is empty")
	}
	if portText != "" || strings.HasSuffix(rest, ":") {
		p, ok := parsePort(portText)
		if !ok {
			d.problem(n, path+".port", fmt.Sprintf("%q is not a port number", portText), "use a number from 1 to 65535")
			return "", "", 0, false
		}
		port = p
	}
	return user, addr, port, true
}

func (d *decoder) decodeHostMapping(n *yaml.Node, path string, h *Host) {
	pairs, _ := d.mapping(n, path, "host settings")
	for _, p := range pairs {
		fp := join(path, p.key)
		switch p.key {
		case "name":
			h.Name, _ = d.str(p.value, fp)
		case "address":
			h.Address, _ = d.str(p.value, fp)
		case "internalAddress":
			h.InternalAddress, _ = d.str(p.value, fp)
		case "port":
			h.Port, _ = d.integer(p.value, fp, "use a number from 1 to 65535")
		case "user":
			h.User, _ = d.str(p.value, fp)
		case "keyPath":
			h.KeyPath, _ = d.str(p.value, fp)
		case "agent":
			h.UseAgent, _ = d.boolean(p.value, fp)
		case "password":
			h.Password = d.secret(p.value, fp)
		case "keyPassphrase":
			h.KeyPassphrase = d.secret(p.value, fp)
		case "sudo":
			mode, _ := d.str(p.value, fp)
			h.Sudo = SudoMode(mode)
		case "sudoPassword":
			h.SudoPassword = d.secret(p.value, fp)
		case "bastion":
			h.Bastion = d.decodeBastion(p.value, fp)
		case "role":
			if v := d.resolve(p.value); v != nil && v.Kind == yaml.SequenceNode {
				d.problem(v, fp, "takes one role, not a list", "write role: control-plane or role: worker")
				continue
			}
			role, _ := d.str(p.value, fp)
			h.Role = Role(role)
		case "labels":
			h.Labels = d.decodeLabels(p.value, fp)
		case "ssh", "connector", "openSSH":
			// k0sctl and KubeKey nest the connection settings; meshlab keeps them flat.
			d.problem(p.kNode, fp, "unknown field", "put address, port, user and keyPath directly on the host")
		default:
			d.problem(p.kNode, fp, "unknown field", unknownFieldHint(p.key, hostFields))
		}
	}
}

func (d *decoder) decodeLabels(n *yaml.Node, path string) map[string]string {
	pairs, _ := d.mapping(n, path, "label: value")
	if len(pairs) == 0 {
		return nil
	}
	labels := make(map[string]string, len(pairs))
	for _, p := range pairs {
		lp := join(path, p.key)
		d.pos[lp+".key"] = p.kNode
		v := d.resolve(p.value)
		if v == nil {
			continue
		}
		if v.Kind != yaml.ScalarNode {
			d.problem(v, lp, "a label value must be text, not "+describe(v), "")
			continue
		}
		d.pos[lp] = v
		if isNull(v) {
			labels[p.key] = ""
		} else {
			labels[p.key] = v.Value
		}
	}
	return labels
}

// decodeBastion reads a jump host, as a mapping or as user@address[:port].
func (d *decoder) decodeBastion(n *yaml.Node, path string) *Bastion {
	n = d.resolve(n)
	if n == nil || isNull(n) {
		return nil
	}
	d.pos[path] = n
	b := &Bastion{}
	if n.Kind == yaml.ScalarNode {
		user, addr, port, ok := d.target(n, path, strings.TrimSpace(n.Value))
		if !ok {
			return nil
		}
		b.User, b.Address, b.Port = user, addr, port
		d.pos[path+".address"] = n
		return b
	}
	pairs, ok := d.mapping(n, path, "bastion settings")
	if !ok {
		return nil
	}
	for _, p := range pairs {
		fp := join(path, p.key)
		switch p.key {
		case "address":
			b.Address, _ = d.str(p.value, fp)
		case "port":
			b.Port, _ = d.integer(p.value, fp, "use a number from 1 to 65535")
		case "user":
			b.User, _ = d.str(p.value, fp)
		case "keyPath":
			b.KeyPath, _ = d.str(p.value, fp)
		default:
			d.problem(p.kNode, fp, "unknown field", unknownFieldHint(p.key, bastionFields))
		}
	}
	return b
}

// parsePort reads a TCP port number from text; ok is false for anything but 1..65535.
func parsePort(s string) (int, bool) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, false
	}
	return p, true
}
