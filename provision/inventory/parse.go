package inventory

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The apiVersion and kind a hosts file may declare. Both are optional (a file of only
// `hosts:` is valid), but when present they must match, so a k0sctl or KubeKey file given by
// mistake is recognised at once.
const (
	APIVersion = "meshlab.dev/v1alpha1"
	Kind       = "Lab"
)

// yamlLineRE finds the line number in yaml.v3's syntax error text ("yaml: line 7: ...").
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument parses data into its single YAML document. Syntax errors become problems with
// the line yaml.v3 names.
func (d *decoder) parseDocument(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.problem(nil, "", "the file is empty", "start from examples/hosts.yaml or examples/hosts-minimal.yaml")
			return nil
		}
		d.syntaxProblem(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.problem(&extra, "", "the file holds more than one YAML document", "keep one lab per file and remove the --- separator")
	} else if !errors.Is(err, io.EOF) {
		d.syntaxProblem(err)
	}
	if len(doc.Content) == 0 {
		d.problem(nil, "", "the file is empty", "start from examples/hosts.yaml or examples/hosts-minimal.yaml")
		return nil
	}
	return doc.Content[0]
}

func (d *decoder) syntaxProblem(err error) {
	msg := err.Error()
	p := Problem{File: d.file, Message: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: "),
		Hint: "check the indentation, spaces only, and quote values that contain ': ' or start with '*', '&' or '@'"}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = "YAML syntax: " + m[2]
	}
	d.problems = append(d.problems, p)
}

// decodeLab fills lab from the document's top node. A top-level list is read as the hosts list
// (the shortest useful file).
func (d *decoder) decodeLab(top *yaml.Node, lab *Lab) {
	top = d.resolve(top)
	if top == nil {
		return
	}
	d.root = top
	if top.Kind == yaml.SequenceNode {
		lab.Hosts = d.decodeHosts(top, "hosts")
		d.pos["hosts"] = top
		return
	}
	pairs, ok := d.mapping(top, "", "lab settings: apiVersion, kind, name, hosts, ...")
	if !ok {
		return
	}
	for _, p := range pairs {
		switch p.key {
		case "apiVersion":
			d.expect(p.value, "apiVersion", APIVersion)
		case "kind":
			d.expect(p.value, "kind", Kind)
		case "name":
			lab.Name, _ = d.str(p.value, "name")
		case "versions":
			d.decodeVersions(p.value, lab)
		case "network":
			d.decodeNetwork(p.value, &lab.Network)
		case "components":
			d.decodeComponents(p.value, &lab.Components)
		case "mirrors":
			d.decodeMirrors(p.value, &lab.Mirrors)
		case "ssh":
			d.decodeSSHDefaults(p.value, &lab.SSH)
		case "hosts":
			d.pos["hosts"] = p.kNode
			lab.Hosts = d.decodeHosts(p.value, "hosts")
		default:
			// x-... keys are ignored so anchors for shared host settings have a place to
			// live (as in Compose files): x-common: &common {user: ubuntu}.
			if !strings.HasPrefix(p.key, "x-") {
				d.problem(p.kNode, p.key, "unknown field", unknownFieldHint(p.key, topFields))
			}
		}
	}
}

func (d *decoder) expect(n *yaml.Node, field, want string) {
	got, ok := d.str(n, field)
	if ok && got != want {
		hint := "use " + want
		if strings.Contains(got, "k0sctl") || strings.Contains(got, "kubekey") || strings.Contains(got, "sealos") {
			hint = "this looks like another installer's file; meshlab's format is in examples/hosts.yaml"
		}
		d.problem(d.pos[field], field, fmt.Sprintf("is %q, meshlab reads %q", got, want), hint)
	}
}

func (d *decoder) decodeNetwork(n *yaml.Node, net *Network) {
	pairs, _ := d.mapping(n, "network", "network settings")
	for _, p := range pairs {
		path := join("network", p.key)
		switch p.key {
		case "podCIDR":
			net.PodCIDR, _ = d.str(p.value, path)
		case "serviceCIDR":
			net.ServiceCIDR, _ = d.str(p.value, path)
		case "podMasquerade":
			net.PodMasquerade, _ = d.boolean(p.value, path)
		default:
			d.problem(p.kNode, path, "unknown field", unknownFieldHint(p.key, networkFields))
		}
	}
}

func (d *decoder) decodeComponents(n *yaml.Node, c *Components) {
	pairs, _ := d.mapping(n, "components", "components")
	for _, p := range pairs {
		path := join("components", p.key)
		switch p.key {
		case "mesh":
			c.Mesh, _ = d.boolean(p.value, path)
		case "bookinfo":
			c.Bookinfo, _ = d.boolean(p.value, path)
		case "addons":
			items, ok := d.sequence(p.value, path, "addon names")
			if ok {
				d.pos[path] = p.value
				c.Addons = []string{}
			}
			for i, it := range items {
				if s, ok := d.str(it, fmt.Sprintf("%s[%d]", path, i)); ok {
					c.Addons = append(c.Addons, s)
				}
			}
		case "addonService":
			c.AddonService, _ = d.str(p.value, path)
		case "nodePorts":
			ports, _ := d.mapping(p.value, path, "component: port")
			if len(ports) > 0 {
				c.NodePorts = map[string]int{}
			}
			for _, np := range ports {
				if v, ok := d.integer(np.value, join(path, np.key), "a NodePort such as 30002"); ok {
					c.NodePorts[np.key] = v
				}
				d.pos[join(path, np.key)+".key"] = np.kNode
			}
		default:
			d.problem(p.kNode, path, "unknown field", unknownFieldHint(p.key, componentFields))
		}
	}
}

func (d *decoder) decodeSSHDefaults(n *yaml.Node, s *SSHDefaults) {
	pairs, _ := d.mapping(n, "ssh", "lab-wide SSH settings")
	for _, p := range pairs {
		path := join("ssh", p.key)
		switch p.key {
		case "user":
			s.User, _ = d.str(p.value, path)
		case "port":
			s.Port, _ = d.integer(p.value, path, "an SSH port such as 22")
		case "keyPath":
			s.KeyPath, _ = d.str(p.value, path)
		case "agent":
			s.Agent, _ = d.boolean(p.value, path)
		case "knownHosts":
			s.KnownHosts, _ = d.str(p.value, path)
		case "sudo":
			mode, _ := d.str(p.value, path)
			s.Sudo = SudoMode(mode)
		case "password":
			s.Password = d.secret(p.value, path)
		case "keyPassphrase":
			s.KeyPassphrase = d.secret(p.value, path)
		case "sudoPassword":
			s.SudoPassword = d.secret(p.value, path)
		case "bastion":
			s.Bastion = d.decodeBastion(p.value, path)
		default:
			d.problem(p.kNode, path, "unknown field", unknownFieldHint(p.key, sshDefaultFields))
		}
	}
}

// secret decodes a {env: NAME} or {file: PATH} reference. An inline string is refused: a hosts
// file is meant to be committed and shown, and a password in it leaks with it.
func (d *decoder) secret(n *yaml.Node, path string) SecretRef {
	n = d.resolve(n)
	if n == nil || isNull(n) {
		return SecretRef{}
	}
	d.pos[path] = n
	field := path[strings.LastIndexByte(path, '.')+1:]
	if n.Kind == yaml.ScalarNode {
		d.problem(n, path, "must not hold the secret itself",
			fmt.Sprintf("write %s: {env: VARIABLE} or %s: {file: /path/to/file} and keep the value out of this file", field, field))
		return SecretRef{}
	}
	before := len(d.problems)
	pairs, ok := d.mapping(n, path, "env or file")
	if !ok {
		return SecretRef{}
	}
	var ref SecretRef
	for _, p := range pairs {
		switch p.key {
		case "env":
			ref.Env, _ = d.str(p.value, join(path, "env"))
		case "file":
			ref.File, _ = d.str(p.value, join(path, "file"))
		case "value", "inline", "text":
			d.problem(p.kNode, join(path, p.key), "must not hold the secret itself", "use env: VARIABLE or file: PATH")
		default:
			d.problem(p.kNode, join(path, p.key), "unknown field", unknownFieldHint(p.key, secretFields))
		}
	}
	switch {
	case ref.Env != "" && ref.File != "":
		d.problem(n, path, "sets both env and file", "keep one source")
		return SecretRef{}
	case ref.Env == "" && ref.File == "" && len(d.problems) == before:
		d.problem(n, path, "names no source", "write env: VARIABLE or file: PATH")
	}
	return ref
}
