package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const armoredKey = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ...\n-----END PGP PUBLIC KEY BLOCK-----\n"

// writeKeys puts an armored and a binary key beside a hosts file in a temp dir and returns it.
func writeKeys(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"keys/debian.asc":     []byte(armoredKey),
		"keys/kubernetes.gpg": {0x99, 0x01, 0x0d, 0x04}, // old-format public-key packet
		"keys/not-a-key.txt":  []byte("hello\n"),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestMirrorsParse(t *testing.T) {
	dir := writeKeys(t)
	src := `mirrors:
  registries:
    registry.k8s.io: http://10.88.0.1:5000/v2/registry.k8s.io
    docker.io: https://mirror.example:5000
  apt:
    debian: {url: http://10.88.0.1:8080/debian, key: keys/debian.asc, suites: [bookworm, bookworm-updates]}
    kubernetes:
      url: http://10.88.0.1:8080/core:/stable:/v1.34/deb/
      key: keys/kubernetes.gpg
hosts: [root@10.0.0.1]
`
	file := filepath.Join(dir, "lab.yaml")
	lab, err := Parse([]byte(src), file)
	if err != nil {
		t.Fatal(err)
	}
	m := lab.Mirrors
	if len(m.Registries) != 2 || m.Registries[0].Upstream != "docker.io" || m.Registries[1].URL != "http://10.88.0.1:5000/v2/registry.k8s.io" {
		t.Errorf("registries (sorted by upstream) = %+v", m.Registries)
	}
	if m.Debian == nil || m.Debian.Key != filepath.Join(dir, "keys/debian.asc") || strings.Join(m.Debian.Suites, ",") != "bookworm,bookworm-updates" {
		t.Errorf("debian = %+v (key relative to the hosts file)", m.Debian)
	}
	if m.Kubernetes == nil || m.Kubernetes.Key != filepath.Join(dir, "keys/kubernetes.gpg") || m.Docker != nil {
		t.Errorf("kubernetes = %+v, docker = %+v", m.Kubernetes, m.Docker)
	}
	if m.IsEmpty() {
		t.Error("IsEmpty with mirrors set")
	}
	plain, err := Parse([]byte("hosts: [root@10.0.0.1]\n"), "")
	if err != nil || !plain.Mirrors.IsEmpty() {
		t.Errorf("no mirrors section: %+v %v", plain.Mirrors, err)
	}
}

func TestMirrorsMistakes(t *testing.T) {
	dir := writeKeys(t)
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil { // the table's file is t.yaml in dir: keys resolve there
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(wd) })
	const hosts = "hosts: [root@10.0.0.1]\n"
	tests := []struct {
		name string
		src  string
		want []want
	}{
		{"unknown mirrors field", "mirrors:\n  registry: {}\n" + hosts, []want{{2, 3, "mirrors.registry", "known fields: apt, registries"}}},
		{"docker hub by its API host", "mirrors:\n  registries:\n    registry-1.docker.io: http://10.0.0.1:5000\n" + hosts,
			[]want{{3, 5, "mirrors.registries.registry-1.docker.io", "use docker.io"}}},
		{"not a registry host", "mirrors:\n  registries:\n    https://ghcr.io: http://10.0.0.1:5000\n" + hosts,
			[]want{{3, 5, "mirrors.registries.https://ghcr.io", "not a registry host"}}},
		{"registry URL without scheme", "mirrors:\n  registries:\n    ghcr.io: 10.0.0.1:5000\n" + hosts,
			[]want{{3, 14, "mirrors.registries.ghcr.io", "not an http:// or https:// URL"}}},
		{"registry path not an API root", "mirrors:\n  registries:\n    ghcr.io: http://10.0.0.1:5000/ghcr\n" + hosts,
			[]want{{3, 14, "mirrors.registries.ghcr.io", "not a registry API root"}}},
		{"credentials in URL", "mirrors:\n  registries:\n    ghcr.io: http://u:p@10.0.0.1:5000\n" + hosts,
			[]want{{3, 14, "mirrors.registries.ghcr.io", "carries credentials"}}},
		{"unknown apt repository", "mirrors:\n  apt:\n    ubuntu: {url: http://x, key: keys/debian.asc}\n" + hosts,
			[]want{{3, 5, "mirrors.apt.ubuntu", "unknown apt repository"}}},
		{"apt without url and key", "mirrors:\n  apt:\n    docker: {}\n" + hosts,
			[]want{{3, 13, "mirrors.apt.docker.url", "is missing"}, {3, 13, "mirrors.apt.docker.key", "is missing"}}},
		{"key that does not exist", "mirrors:\n  apt:\n    docker: {url: http://x/docker, key: keys/none.asc}\n" + hosts,
			[]want{{3, 41, "mirrors.apt.docker.key", "no such file"}}},
		{"key that is not a key", "mirrors:\n  apt:\n    docker: {url: http://x/docker, key: keys/not-a-key.txt}\n" + hosts,
			[]want{{3, 41, "mirrors.apt.docker.key", "not an OpenPGP public key"}}},
		{"suites only for debian", "mirrors:\n  apt:\n    docker: {url: http://x/d, key: keys/debian.asc, suites: [noble]}\n" + hosts,
			[]want{{3, 53, "mirrors.apt.docker.suites", "unknown field"}}},
		{"bad suite", "mirrors:\n  apt:\n    debian: {url: http://x/d, key: keys/debian.asc, suites: [Bookworm]}\n" + hosts,
			[]want{{3, 62, "mirrors.apt.debian.suites[0]", "not an apt suite name"}}},
		{"kubernetes repo of another minor", "mirrors:\n  apt:\n    kubernetes: {url: 'http://x/core:/stable:/v1.33/deb/', key: keys/debian.asc}\n" + hosts,
			[]want{{3, 23, "mirrors.apt.kubernetes.url", "serves Kubernetes v1.33, but the lab installs v1.34"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.src)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(got), len(tt.want), (&ValidationError{Problems: got}).Error())
			}
			for i, w := range tt.want {
				p := got[i]
				if p.Line != w.line || p.Column != w.col || p.Field != w.field || !strings.Contains(p.Error(), w.msg) {
					t.Errorf("problem %d = %s (line %d col %d field %q)\nwant line %d col %d field %q containing %q",
						i, p.Error(), p.Line, p.Column, p.Field, w.line, w.col, w.field, w.msg)
				}
			}
		})
	}
}

func TestIsOpenPGPKey(t *testing.T) {
	for _, tt := range []struct {
		data []byte
		want bool
	}{
		{[]byte(armoredKey), true},
		{[]byte("\n" + armoredKey), true},
		{[]byte{0x99, 0x01}, true},  // old format, tag 6, two-byte length
		{[]byte{0xc6, 0x01}, true},  // new format, tag 6
		{[]byte{0x85, 0x01}, false}, // old format, tag 1 (an encrypted session key)
		{[]byte{0xc2, 0x01}, false}, // new format, tag 2 (a signature)
		{[]byte("ssh-ed25519 AAA"), false},
		{nil, false},
	} {
		if got := IsOpenPGPKey(tt.data); got != tt.want {
			t.Errorf("IsOpenPGPKey(%q) = %v, want %v", tt.data, got, tt.want)
		}
	}
}
