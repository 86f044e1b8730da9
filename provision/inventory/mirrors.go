package inventory

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Mirrors are where hosts without the internet get what the online install fetches (the
// air-gapped setups Kubespray and KubeKey support): a registry mirror per upstream registry,
// written as containerd's hosts.toml on every node, and apt mirrors of Debian, Docker's
// repository and pkgs.k8s.io with the keys that sign them.
//
//	mirrors:
//	  registries:                 # upstream registry: mirror URL
//	    registry.k8s.io: http://10.0.0.1:5000/v2/registry.k8s.io
//	    docker.io: https://mirror.example:5000
//	  apt:
//	    debian:     {url: http://10.0.0.1:8080/debian, key: keys/debian.asc, suites: [bookworm]}
//	    docker:     {url: http://10.0.0.1:8080/docker/linux/ubuntu, key: keys/docker.asc}
//	    kubernetes: {url: http://10.0.0.1:8080/core:/stable:/v1.34/deb/, key: keys/kubernetes.gpg}
type Mirrors struct {
	Registries []RegistryMirror // sorted by Upstream
	Debian     *AptMirror       // replaces a Debian host's own sources
	Docker     *AptMirror       // stands for https://download.docker.com/linux/ubuntu
	Kubernetes *AptMirror       // stands for https://pkgs.k8s.io/core:/stable:/<repo>/deb/
}

// RegistryMirror serves one upstream registry's images under their upstream names.
type RegistryMirror struct {
	Upstream string // registry host the images are named after: registry.k8s.io, docker.io, ghcr.io
	// URL is the mirror. With no path it is a registry of its own (requests go to /v2/...); a
	// path is the registry API root (containerd's override_path), as registries that proxy
	// several upstreams under one host need: http://mirror:5000/v2/registry.k8s.io.
	URL string
}

// AptMirror is one apt repository on a mirror.
type AptMirror struct {
	URL string
	// Key is the absolute path of the repository's signing key on this machine (armored or
	// binary OpenPGP); meshlab copies it to every host as the source's Signed-By.
	Key string
	// Suites are the Debian mirror's suites; empty means the host's codename (bookworm).
	Suites []string
}

// IsEmpty says whether no mirror is configured (the hosts use the internet).
func (m Mirrors) IsEmpty() bool {
	return len(m.Registries) == 0 && m.Debian == nil && m.Docker == nil && m.Kubernetes == nil
}

var (
	mirrorFields    = []string{"registries", "apt"}
	aptMirrorNames  = []string{"debian", "docker", "kubernetes"}
	aptMirrorFields = []string{"url", "key", "suites"}
	// registryHostRE is a registry as image names start with it: a lower-case host, optionally
	// with a port.
	registryHostRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$`)
	suiteRE        = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*$`)
	// k8sRepoInURLRE finds the minor a pkgs.k8s.io-style URL serves.
	k8sRepoInURLRE = regexp.MustCompile(`/core:/stable:/(v[0-9]+\.[0-9]+)/`)
)

func (d *decoder) decodeMirrors(n *yaml.Node, m *Mirrors) {
	d.pos["mirrors"] = n
	pairs, _ := d.mapping(n, "mirrors", "registries and apt")
	for _, p := range pairs {
		path := join("mirrors", p.key)
		switch p.key {
		case "registries":
			d.pos[path] = p.value
			regs, _ := d.mapping(p.value, path, "upstream registry: mirror URL")
			for _, r := range regs {
				rp := join(path, r.key)
				d.pos[rp+".key"] = r.kNode
				if u, ok := d.str(r.value, rp); ok {
					m.Registries = append(m.Registries, RegistryMirror{Upstream: r.key, URL: u})
				}
			}
			sort.Slice(m.Registries, func(i, j int) bool { return m.Registries[i].Upstream < m.Registries[j].Upstream })
		case "apt":
			d.pos[path] = p.value
			repos, _ := d.mapping(p.value, path, "debian, docker or kubernetes: {url, key}")
			for _, r := range repos {
				rp := join(path, r.key)
				am := d.decodeAptMirror(r.value, rp, r.key == "debian")
				switch r.key {
				case "debian":
					m.Debian = am
				case "docker":
					m.Docker = am
				case "kubernetes":
					m.Kubernetes = am
				default:
					d.problem(r.kNode, rp, "unknown apt repository", unknownFieldHint(r.key, aptMirrorNames))
				}
			}
		default:
			d.problem(p.kNode, path, "unknown field", unknownFieldHint(p.key, mirrorFields))
		}
	}
}

func (d *decoder) decodeAptMirror(n *yaml.Node, path string, suites bool) *AptMirror {
	d.pos[path] = n
	pairs, ok := d.mapping(n, path, "url and key")
	if !ok {
		return nil
	}
	known := aptMirrorFields[:2]
	if suites {
		known = aptMirrorFields
	}
	am := &AptMirror{}
	for _, p := range pairs {
		fp := join(path, p.key)
		switch {
		case p.key == "url":
			am.URL, _ = d.str(p.value, fp)
		case p.key == "key":
			am.Key, _ = d.str(p.value, fp)
		case p.key == "suites" && suites:
			d.pos[fp] = p.value
			items, _ := d.sequence(p.value, fp, "suite names")
			for i, it := range items {
				if s, ok := d.str(it, fmt.Sprintf("%s[%d]", fp, i)); ok {
					am.Suites = append(am.Suites, s)
				}
			}
		default:
			d.problem(p.kNode, fp, "unknown field", unknownFieldHint(p.key, known))
		}
	}
	return am
}

// defaultMirrors makes the key paths absolute (relative to the hosts file, like keyPath).
func (d *decoder) defaultMirrors(m *Mirrors) {
	for name, am := range m.apt() {
		am.Key = d.expandPath(am.Key, "mirrors.apt."+name+".key")
	}
}

// apt returns the configured apt mirrors by name.
func (m Mirrors) apt() map[string]*AptMirror {
	out := map[string]*AptMirror{}
	for name, am := range map[string]*AptMirror{"debian": m.Debian, "docker": m.Docker, "kubernetes": m.Kubernetes} {
		if am != nil {
			out[name] = am
		}
	}
	return out
}

func (d *decoder) checkMirrors(lab *Lab) {
	m := lab.Mirrors
	for _, r := range m.Registries {
		path := "mirrors.registries." + r.Upstream
		switch {
		case r.Upstream == "registry-1.docker.io" || r.Upstream == "index.docker.io":
			d.problem(d.at(path+".key"), path, "is not how images name Docker Hub", "use docker.io: containerd looks up Docker Hub's mirror under that name")
		case !registryHostRE.MatchString(r.Upstream):
			d.problem(d.at(path+".key"), path, fmt.Sprintf("%q is not a registry host", truncate(r.Upstream, 60)),
				"write the registry as image names start with it: registry.k8s.io, docker.io, ghcr.io")
		}
		d.checkRegistryURL(r.URL, path)
	}
	names := make([]string, 0, 3)
	for name := range m.apt() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		am, path := m.apt()[name], "mirrors.apt."+name
		if am.URL == "" {
			d.problem(d.at(path), path+".url", "is missing", "give the repository's URL, e.g. http://10.0.0.1:8080/debian")
		} else {
			d.checkMirrorURL(am.URL, path+".url", "http://10.0.0.1:8080/debian")
		}
		d.checkAptKey(am.Key, path+".key")
		for i, s := range am.Suites {
			if !suiteRE.MatchString(s) {
				sp := fmt.Sprintf("%s.suites[%d]", path, i)
				d.problem(d.at(sp), sp, fmt.Sprintf("%q is not an apt suite name", truncate(s, 40)), "like bookworm or bookworm-updates")
			}
		}
	}
	if k := m.Kubernetes; k != nil {
		if got := k8sRepoInURLRE.FindStringSubmatch(k.URL); got != nil && got[1] != lab.Versions.Kubernetes.Repo {
			path := "mirrors.apt.kubernetes.url"
			d.problem(d.at(path), path, fmt.Sprintf("serves Kubernetes %s, but the lab installs %s (versions.kubernetes.repo)", got[1], lab.Versions.Kubernetes.Repo),
				"point it at the mirror of /core:/stable:/"+lab.Versions.Kubernetes.Repo+"/deb/")
		}
	}
}

// checkMirrorURL reports a URL that apt or containerd cannot use, returning it parsed when fine.
func (d *decoder) checkMirrorURL(raw, path, example string) *url.URL {
	u, err := url.Parse(raw)
	at := d.at(path)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		d.problem(at, path, fmt.Sprintf("%q is not an http:// or https:// URL", truncate(raw, 60)), "like "+example)
	case u.User != nil:
		d.problem(at, path, "carries credentials", "mirrors are read anonymously; leave user:password@ out of the URL")
	case u.RawQuery != "" || u.Fragment != "":
		d.problem(at, path, "has a query or fragment", "give the plain URL, like "+example)
	default:
		return u
	}
	return nil
}

func (d *decoder) checkRegistryURL(raw, path string) {
	u := d.checkMirrorURL(raw, path, "http://10.0.0.1:5000")
	if u == nil {
		return
	}
	if p := strings.TrimSuffix(u.Path, "/"); p != "" && p != "/v2" && !strings.HasPrefix(p, "/v2/") {
		d.problem(d.at(path), path, fmt.Sprintf("path %q is not a registry API root", u.Path),
			"leave the path out, or give the API root starting with /v2, e.g. http://10.0.0.1:5000/v2/registry.k8s.io")
	}
}

// checkAptKey reports a signing key that is missing, unreadable or not an OpenPGP public key.
func (d *decoder) checkAptKey(path, field string) {
	at := d.at(field)
	if path == "" {
		d.problem(at, field, "is missing", "give the path of the key that signs the repository (armored .asc or binary .gpg)")
		return
	}
	info, err := os.Stat(path)
	switch {
	case err != nil:
		d.problem(at, field, "signing key: "+err.Error(), "point key: at the repository's public key file")
		return
	case !info.Mode().IsRegular():
		d.problem(at, field, path+" is not a regular file", "point key: at the repository's public key file")
		return
	}
	head, err := readHead(path, 64)
	if err != nil {
		d.problem(at, field, "signing key cannot be read: "+err.Error(), "check its owner and mode")
		return
	}
	if !IsOpenPGPKey(head) {
		d.problem(at, field, path+" is not an OpenPGP public key", "export it with gpg --export (binary) or gpg --armor --export")
	}
}

// IsOpenPGPKey says whether data starts like an OpenPGP public key: armored, or a binary
// public-key packet (tag 6, old or new format).
func IsOpenPGPKey(data []byte) bool {
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		return true
	}
	if len(data) == 0 || data[0]&0x80 == 0 {
		return false
	}
	if data[0]&0x40 != 0 { // new format: tag in the low six bits
		return data[0]&0x3f == 6
	}
	return (data[0]>>2)&0x0f == 6
}
