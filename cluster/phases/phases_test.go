package phases

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/cluster/bundle"
	"github.com/meshlab/meshlab/cluster/cni"
	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
)

func TestUpAndDownPhaseOrder(t *testing.T) {
	pb, err := playbook.Load(playbooks.FS, Playbook)
	if err != nil {
		t.Fatal(err)
	}
	ps, vars, err := Up(pb, Options{Lab: testLab(), LabDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"connect", "facts", "preflight", "os-prep", "container-runtime", "kubernetes",
		"kubeadm-config", "control-plane", "kubeconfig", "join", "cni", "wait"}
	if got := ps.Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("online up phases = %v\nwant %v", got, want)
	}
	if vars["bundle"] != "" || vars["initHost"] != "cp1" {
		t.Errorf("vars = %v", vars)
	}

	// Offline: the bundle upload comes right before the runtime is installed.
	dir := t.TempDir()
	m := &bundle.Manifest{Schema: bundle.Schema, Images: map[string]string{"registry.k8s.io/pause:3.10.1": "images/p.tar"}}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	ps, vars, err = Up(pb, Options{Lab: testLab(), LabDir: t.TempDir(), BundleDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if i, j := ps.Index("bundle"), ps.Index("container-runtime"); i < 0 || j != i+1 {
		t.Errorf("offline phases = %v", ps.Names())
	}
	if vars["bundle"] != RemoteBundleDir || len(vars["bundleImages"].([]BundleImage)) != 1 {
		t.Errorf("offline vars = %v", vars)
	}

	ps, _, err = Down(pb, Options{Lab: testLab(), LabDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := ps.Names(); !reflect.DeepEqual(got, []string{"connect", "reset", "forget-state", "remove-kubeconfig"}) {
		t.Errorf("down phases = %v", got)
	}
}

func TestUpRefusesWhatItCannotBuild(t *testing.T) {
	pb, _ := playbook.Load(playbooks.FS, Playbook)
	two := testLab()
	two.Hosts[1].Role = inventory.RoleControlPlane
	none := testLab()
	none.Hosts[0].Role = inventory.RoleWorker
	for name, o := range map[string]Options{
		"two control planes": {Lab: two},
		"no control plane":   {Lab: none},
		"missing bundle":     {Lab: testLab(), BundleDir: filepath.Join(t.TempDir(), "nope")},
	} {
		if _, _, err := Up(pb, o); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestFactsAndConflicts(t *testing.T) {
	f := ParseFacts("hostname cp1\nmac 02:AA:00:00:00:01\nmac 00:00:00:00:00:00\nuuid ABC\n")
	if f.Hostname != "cp1" || !reflect.DeepEqual(f.MACs, []string{"02:aa:00:00:00:01"}) || f.ProductUUID != "abc" {
		t.Errorf("facts = %+v", f)
	}
	c := Conflicts(map[string]HostFacts{
		"cp1":     {Hostname: "node", MACs: []string{"02:aa"}},
		"worker1": {Hostname: "node", MACs: []string{"02:bb"}},
		"worker2": {Hostname: "worker2", MACs: []string{"02:bb"}},
		"worker3": {Hostname: "worker3"}, // no product_uuid anywhere: not a clash
	})
	want := map[string][]string{
		"cp1":     {"hostname node is also used by worker1: every node needs its own"},
		"worker1": {"MAC address 02:bb is also used by worker2: every node needs its own", "hostname node is also used by cp1: every node needs its own"},
		"worker2": {"MAC address 02:bb is also used by worker1: every node needs its own"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("conflicts = %q\nwant %q", c, want)
	}
}

func TestStripForward(t *testing.T) {
	in := `.:53 {
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    reload
}
`
	out, changed := StripForward(in)
	if !changed || strings.Contains(out, "forward") || strings.Contains(out, "max_concurrent") ||
		!strings.Contains(out, "cache 30") || !strings.Contains(out, "fallthrough") {
		t.Errorf("changed=%v out=\n%s", changed, out)
	}
	if again, changed := StripForward(out); changed || again != out {
		t.Error("a second strip must change nothing")
	}
}

func TestCNIObjectsOffline(t *testing.T) {
	p := testPlan(true)
	p.manifest.Versions = map[string]string{"image-flannel": "ghcr.io/flannel-io/flannel:v0.28.10"}
	p.Lab.Network.PodCIDR = "10.60.0.0/16"
	objs, err := (&CNI{plan: p}).Objects()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(objs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ghcr.io/flannel-io/flannel:v0.28.10", `"imagePullPolicy":"Never"`, "10.60.0.0/16",
		"/opt/bin/install-conf", cni.ConfigHashAnnotation, `\"cniVersion\": \"0.3.1\"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("offline flannel objects lack %s", want)
		}
	}
	if strings.Contains(string(b), "--ip-masq") || strings.Contains(string(b), "install-cni-plugin") {
		t.Error("offline flannel must not masquerade or pull the CNI plugin image")
	}
}
