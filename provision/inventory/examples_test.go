package inventory

import (
	"testing"
)

// The examples in the repository must load as they are on a fresh machine: no key files, no
// secrets, no environment. `meshlab plan --hosts examples/hosts.yaml` relies on it.
func TestExamplesLoad(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // nothing from the developer's ~/.ssh may be needed

	lab, err := Load("../../examples/hosts.yaml")
	if err != nil {
		t.Fatalf("examples/hosts.yaml:\n%v", err)
	}
	if lab.Name != "vagrant" || len(lab.ControlPlanes()) != 1 || len(lab.Workers()) != 2 {
		t.Errorf("hosts.yaml: name %q, %d control planes, %d workers; want vagrant, 1, 2",
			lab.Name, len(lab.ControlPlanes()), len(lab.Workers()))
	}
	for i, h := range lab.Hosts {
		if want := []string{"192.168.56.10", "192.168.56.11", "192.168.56.12"}[i]; h.Address != want || h.User != "vagrant" || !h.UseAgent || h.KeyPath != "" {
			t.Errorf("hosts.yaml host %d: %+v", i, h)
		}
	}

	minimal, err := Load("../../examples/hosts-minimal.yaml")
	if err != nil {
		t.Fatalf("examples/hosts-minimal.yaml:\n%v", err)
	}
	if minimal.Name != "hosts-minimal" || len(minimal.Hosts) != 3 || minimal.Hosts[0].Role != RoleControlPlane {
		t.Errorf("hosts-minimal.yaml: %+v", minimal)
	}
	// Both describe the same machines; only the names differ.
	for i := range lab.Hosts {
		a, b := lab.Hosts[i], minimal.Hosts[i]
		if a.Address != b.Address || a.Port != b.Port || a.User != b.User || a.Role != b.Role {
			t.Errorf("host %d differs: %+v vs %+v", i, a, b)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	for _, path := range []string{"testdata/does-not-exist.yaml", "testdata"} {
		if _, err := Load(path); err == nil {
			t.Errorf("Load(%s) succeeded", path)
		}
	}
}
