package draft

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/versions"
)

// header opens every file the wizard writes, so a reader knows where it came from.
const header = `# meshlab hosts file, written by the meshlab wizard.
# meshlab up --hosts FILE builds the lab; meshlab wizard edits this file.
`

// The file's shape, in the order a person reads it. Only what the wizard sets is written;
// everything else keeps inventory's defaults.
type fileLab struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Name       string         `yaml:"name"`
	Versions   *fileVersions  `yaml:"versions,omitempty"`
	Components fileComponents `yaml:"components"`
	SSH        *fileSSH       `yaml:"ssh,omitempty"`
	Hosts      []fileHost     `yaml:"hosts"`
}

type fileVersions struct {
	Kubernetes struct {
		Version string `yaml:"version"`
	} `yaml:"kubernetes"`
}

type fileComponents struct {
	Mesh      bool      `yaml:"mesh"`
	Addons    []string  `yaml:"addons,flow"`
	Bookinfo  bool      `yaml:"bookinfo"`
	NodePorts yaml.Node `yaml:"nodePorts"`
}

type fileSSH struct {
	KnownHosts string `yaml:"knownHosts,omitempty"`
}

type fileSecret struct {
	Env  string `yaml:"env,omitempty"`
	File string `yaml:"file,omitempty"`
}

type fileHost struct {
	Name     string      `yaml:"name"`
	Address  string      `yaml:"address"`
	Port     int         `yaml:"port"`
	User     string      `yaml:"user"`
	Agent    bool        `yaml:"agent"`
	KeyPath  string      `yaml:"keyPath,omitempty"`
	Password *fileSecret `yaml:"password,omitempty"`
	Role     string      `yaml:"role"`
}

// YAML renders the draft in the hosts-file format.
func (d Draft) YAML() ([]byte, error) {
	f := fileLab{APIVersion: "meshlab.dev/v1alpha1", Kind: "Lab", Name: d.Name,
		Components: fileComponents{Mesh: d.Mesh, Addons: d.Addons, Bookinfo: d.Bookinfo}}
	if f.Components.Addons == nil {
		f.Components.Addons = []string{}
	}
	if d.Kubernetes != "" && d.Kubernetes != versions.Default().Kubernetes.Version {
		f.Versions = &fileVersions{}
		f.Versions.Kubernetes.Version = d.Kubernetes
	}
	if d.KnownHosts != "" {
		f.SSH = &fileSSH{KnownHosts: d.KnownHosts}
	}
	f.Components.NodePorts = nodePortsNode(d.NodePorts)
	for _, h := range d.Hosts {
		fh := fileHost{Name: h.Name, Address: h.Address, Port: h.Port, User: h.User, Role: string(h.Role)}
		switch h.Auth {
		case AuthAgent:
			fh.Agent = true
		case AuthKey:
			fh.KeyPath = h.KeyPath
		case AuthPassword:
			ref, err := ParseRef(h.PasswordRef)
			if err != nil {
				return nil, fmt.Errorf("host %s: %w", h.Name, err)
			}
			fh.Password = &fileSecret{Env: ref.Env, File: ref.File}
		}
		f.Hosts = append(f.Hosts, fh)
	}
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("render hosts file: %w", err)
	}
	return buf.Bytes(), enc.Close()
}

// nodePortsNode writes the NodePorts with sorted keys, so the file is stable from one save to
// the next.
func nodePortsNode(ports map[string]int) yaml.Node {
	n := yaml.Node{Kind: yaml.MappingNode}
	keys := make([]string, 0, len(ports))
	for k := range ports {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: k},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(ports[k])})
	}
	return n
}

// Validate renders the draft and parses it exactly as `meshlab up` will read the file at path.
// It returns the rendered file and the lab, or every problem inventory finds.
func (d Draft) Validate(path string) ([]byte, *inventory.Lab, error) {
	data, err := d.YAML()
	if err != nil {
		return nil, nil, err
	}
	lab, err := inventory.Parse(data, path)
	if err != nil {
		return data, nil, err
	}
	return data, lab, nil
}

// Save validates the draft and writes it to path (0600, through a temporary file renamed into
// place, so a crash never leaves half a hosts file). Nothing is written when validation fails.
func (d Draft) Save(path string) (*inventory.Lab, error) {
	data, lab, err := d.Validate(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("save hosts file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".hosts-*.yaml")
	if err != nil {
		return nil, fmt.Errorf("save hosts file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("save hosts file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("save hosts file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("save hosts file %s: %w", path, err)
	}
	return lab, nil
}
