package connect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/transport"
)

func parseLab(t *testing.T, doc string) *inventory.Lab {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hosts.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	lab, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return lab
}

func TestConfigMapsHostAndSecrets(t *testing.T) {
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(key, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONNECT_TEST_PP", "pass-phrase")
	t.Setenv("CONNECT_TEST_SUDO", "sudo-pw")
	lab := parseLab(t, `name: demo
ssh:
  user: ops
  agent: false
  knownHosts: /tmp/known
  keyPassphrase: {env: CONNECT_TEST_PP}
  sudoPassword: {env: CONNECT_TEST_SUDO}
hosts:
  - {name: cp1, address: 127.0.0.1, port: 2222, keyPath: `+key+`, role: control-plane, bastion: jump@127.0.0.9:22}
`)
	sec, err := ResolveSecrets(lab)
	if err != nil {
		t.Fatal(err)
	}
	if sec.String() != "[secrets]" || len(sec.All()) != 2 {
		t.Errorf("secrets: %v %d", sec, len(sec.All()))
	}
	cfg := Config(lab, lab.Hosts[0], sec, Options{TrustNewHostKeys: true})
	if cfg.Name != "cp1" || cfg.Address != "127.0.0.1" || cfg.Port != 2222 || cfg.User != "ops" ||
		len(cfg.KeyPaths) != 1 || cfg.KeyPaths[0] != key || cfg.UseAgent || cfg.KnownHostsPath != "/tmp/known" ||
		!cfg.TrustOnFirstUse || cfg.SudoPassword != "sudo-pw" || cfg.Sudo != transport.SudoAuto {
		t.Errorf("config = %+v", cfg)
	}
	if pp, err := cfg.Passphrase(key); err != nil || string(pp) != "pass-phrase" {
		t.Errorf("passphrase = %q, %v", pp, err)
	}
	if cfg.Bastion == nil || cfg.Bastion.Address != "127.0.0.9" || cfg.Bastion.User != "jump" || cfg.Bastion.KnownHostsPath != "/tmp/known" {
		t.Errorf("bastion = %+v", cfg.Bastion)
	}
	if c := Config(lab, lab.Hosts[0], sec, Options{KnownHostsPath: "/other"}); c.KnownHostsPath != "/other" || c.TrustOnFirstUse {
		t.Errorf("--known-hosts not honoured: %+v", c)
	}
	hosts := Hosts(lab)
	if len(hosts) != 1 || hosts[0].Role != "control-plane" || hosts[0].Transport != nil {
		t.Errorf("hosts = %+v", hosts[0])
	}
}

func TestResolveSecretsNamesSourceNotValue(t *testing.T) {
	t.Setenv("CONNECT_TEST_SET", "visible-value")
	lab := parseLab(t, `name: demo
ssh: {agent: false}
hosts:
  - {name: a, address: 127.0.0.1, password: {env: CONNECT_TEST_UNSET_VAR}, sudoPassword: {env: CONNECT_TEST_SET}}
`)
	_, err := ResolveSecrets(lab)
	if err == nil || !strings.Contains(err.Error(), "CONNECT_TEST_UNSET_VAR") || !strings.Contains(err.Error(), "host a") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "visible-value") {
		t.Error("error shows a secret value")
	}
}
