package phases

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/meshlab/meshlab/provision/inventory"
)

// RegistryHosts is one registry mirror as the playbook writes it: <certsDir>/<Dir>/hosts.toml,
// where certsDir is the playbook's var that containerd's config_path names.
type RegistryHosts struct {
	Upstream  string // registry.k8s.io
	Dir       string // the folder under CertsDir containerd reads for that registry
	HostsTOML string
}

// AptSource is one apt mirror as the playbook writes it: its key into /etc/apt/keyrings and
// a source that names it as Signed-By.
type AptSource struct {
	URL     string
	Suites  string // space-separated; "" means the host's codename (Debian mirror only)
	Key     string // the signing key file, base64 (it may be binary)
	KeyFile string // where the key goes on the host; .asc when armored, else .gpg (apt reads both by extension)
}

// HostsTOML is containerd's hosts.toml for an upstream registry served by its mirror. The
// mirror is also the server, so containerd never falls back to the upstream registry: hosts
// given mirrors have no internet, and a pull that fails names the mirror. A URL with a path is
// the registry API root (override_path), as one registry serving several upstreams needs.
func HostsTOML(m inventory.RegistryMirror) string {
	override := ""
	if u, err := url.Parse(m.URL); err == nil && strings.Trim(u.Path, "/") != "" {
		override = "override_path = true\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by meshlab: images named %s/... come from this mirror only.\n", m.Upstream)
	fmt.Fprintf(&b, "server = %q\n%s\n", m.URL, override)
	fmt.Fprintf(&b, "[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", m.URL)
	if override != "" {
		b.WriteString("  " + override)
	}
	return b.String()
}

// mirrorVars turns the hosts file's mirrors into the playbook's registryMirrors and aptMirrors,
// reading each signing key (the hosts file's check found them readable; a key changed since is
// reported here, naming the field).
func mirrorVars(m inventory.Mirrors) ([]RegistryHosts, map[string]*AptSource, error) {
	regs := []RegistryHosts{}
	for _, r := range m.Registries {
		regs = append(regs, RegistryHosts{Upstream: r.Upstream, Dir: r.Upstream, HostsTOML: HostsTOML(r)})
	}
	apt := map[string]*AptSource{"debian": nil, "docker": nil, "kubernetes": nil}
	for name, am := range map[string]*inventory.AptMirror{"debian": m.Debian, "docker": m.Docker, "kubernetes": m.Kubernetes} {
		if am == nil {
			continue
		}
		key, err := os.ReadFile(am.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("mirrors.apt.%s.key: %w", name, err)
		}
		if !inventory.IsOpenPGPKey(key) {
			return nil, nil, fmt.Errorf("mirrors.apt.%s.key: %s is not an OpenPGP public key", name, am.Key)
		}
		ext := ".gpg"
		if bytes.HasPrefix(bytes.TrimSpace(key), []byte("-----BEGIN")) {
			ext = ".asc"
		}
		apt[name] = &AptSource{URL: am.URL, Suites: strings.Join(am.Suites, " "),
			Key: base64.StdEncoding.EncodeToString(key), KeyFile: "/etc/apt/keyrings/meshlab-" + name + ext}
	}
	return regs, apt, nil
}
