package draft

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/meshlab/meshlab/provision/inventory"
)

func sample(t *testing.T) Draft {
	t.Helper()
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(key, []byte("not checked beyond existing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := New("demo")
	d.KnownHosts = "/etc/meshlab/known_hosts"
	d.Kubernetes = "v1.33.5"
	d.ToggleAddon("jaeger")
	d.ToggleAddon("zipkin")
	d.NodePorts["grafana"] = 31002
	d.Hosts = []Host{
		{Name: "cp1", Address: "192.168.56.10", Port: 22, User: "vagrant", Auth: AuthKey, KeyPath: key, Role: inventory.RoleControlPlane},
		{Name: "worker1", Address: "192.168.56.11", Port: 22, User: "vagrant", Auth: AuthAgent, Role: inventory.RoleWorker},
		{Name: "worker2", Address: "fd00::12", Port: 2222, User: "ops", Auth: AuthPassword, PasswordRef: "env:LAB_PASSWORD", Role: inventory.RoleWorker},
	}
	return d
}

// TestSaveLoadRoundTrip saves a draft, loads it with inventory.Load as `meshlab up` does and
// turns it back into the same draft.
func TestSaveLoadRoundTrip(t *testing.T) {
	d := sample(t)
	path := filepath.Join(t.TempDir(), "lab", "hosts.yaml")
	lab, err := d.Save(path)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := inventory.Load(path)
	if err != nil {
		t.Fatalf("saved file does not load: %v", err)
	}
	if !reflect.DeepEqual(lab.Hosts, loaded.Hosts) {
		t.Errorf("Save's lab and Load's differ:\n%+v\n%+v", lab.Hosts, loaded.Hosts)
	}
	back := FromLab(loaded)
	if !reflect.DeepEqual(back, d) {
		t.Errorf("round trip changed the draft:\n got %+v\nwant %+v", back, d)
	}
	if loaded.Versions.Kubernetes.Package != "1.33.5-1.1" || loaded.Components.NodePorts["grafana"] != 31002 {
		t.Errorf("versions/nodePorts not carried: %+v %+v", loaded.Versions.Kubernetes, loaded.Components.NodePorts)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v", st.Mode(), err)
	}
}

// TestYAMLGolden pins the file the wizard writes. Refresh: go test ./cmd/meshlab/tui/draft -update
func TestYAMLGolden(t *testing.T) {
	d := sample(t)
	d.Hosts[0].KeyPath = "/home/me/.ssh/id_ed25519" // stable across runs; YAML does not check files
	out, err := d.YAML()
	if err != nil {
		t.Fatal(err)
	}
	golden.RequireEqual(t, out)
}

func TestSaveRefusesInvalid(t *testing.T) {
	d := New("demo")
	d.Hosts = []Host{{Name: "w", Address: "10.0.0.1", Port: 22, User: "root", Auth: AuthAgent, Role: inventory.RoleWorker}}
	path := filepath.Join(t.TempDir(), "hosts.yaml")
	_, err := d.Save(path)
	var ve *inventory.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("a lab without a control plane saved: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an invalid file was written: %v", err)
	}
	d.Hosts[0].Auth, d.Hosts[0].PasswordRef = AuthPassword, "vault:x"
	if _, err := d.YAML(); err == nil {
		t.Error("a bad password source rendered")
	}
}

func TestParseRef(t *testing.T) {
	for in, want := range map[string]inventory.SecretRef{
		"env:PW": {Env: "PW"}, "PW": {Env: "PW"}, "file:/x/y": {File: "/x/y"}, " env:A ": {Env: "A"},
	} {
		if got, err := ParseRef(in); err != nil || got != want {
			t.Errorf("ParseRef(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "env:", "file:", "vault:x"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) accepted", bad)
		}
	}
}

func TestNewHostRoles(t *testing.T) {
	d := New("x")
	if h := d.NewHost(); h.Role != inventory.RoleControlPlane || h.Port != 22 || h.User != "root" || h.Auth != AuthKey {
		t.Errorf("first host %+v", h)
	}
	d.Hosts = append(d.Hosts, d.NewHost())
	if h := d.NewHost(); h.Role != inventory.RoleWorker {
		t.Errorf("second host %+v", h)
	}
}

func TestToggleAddonKeepsOrder(t *testing.T) {
	d := New("x")
	d.ToggleAddon("zipkin")
	d.ToggleAddon("jaeger")
	d.ToggleAddon("zipkin")
	if want := []string{"zipkin", "prometheus", "grafana", "jaeger"}; !reflect.DeepEqual(d.Addons, want) {
		t.Errorf("addons %v, want %v", d.Addons, want)
	}
}
