package phases

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/provision/engine"
)

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		name string
		e    HostEvidence
		want Owner
		why  string
	}{
		{"bare host", HostEvidence{}, OwnerNone, ""},
		{"claimed, before init", HostEvidence{HasMarker: true, MarkerLab: "demo"}, OwnerLab, ""},
		{"claimed, half-done init", HostEvidence{HasMarker: true, MarkerLab: "demo", CA: "aa", State: []string{remoteCA}}, OwnerLab, ""},
		{"the lab's node", HostEvidence{HasMarker: true, MarkerLab: "demo", MarkerCA: "aa", CA: "aa"}, OwnerLab, ""},
		{"another lab", HostEvidence{HasMarker: true, MarkerLab: "prod"}, OwnerForeign, `meshlab lab "prod"`},
		{"rebuilt by hand", HostEvidence{HasMarker: true, MarkerLab: "demo", MarkerCA: "aa", CA: "bb"}, OwnerForeign, "cluster CA"},
		{"someone's kubelet", HostEvidence{State: []string{"/etc/kubernetes/kubelet.conf", "/etc/cni/net.d/10-flannel.conflist"}},
			OwnerForeign, "/etc/kubernetes/kubelet.conf, /etc/cni/net.d/10-flannel.conflist"},
		{"someone's runtime", HostEvidence{Software: []string{"/usr/bin/dockerd"}}, OwnerForeign, "/usr/bin/dockerd"},
	} {
		got, why := Decide("demo", c.e)
		if got != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s: Decide = %v, %q; want %v naming %q", c.name, got, why, c.want, c.why)
		}
	}
}

// TestOwnershipScriptReadsAHost runs the read-only script under a private root (a mount
// namespace would need root; the paths are rewritten instead) and parses what it found.
func TestOwnershipScriptReadsAHost(t *testing.T) {
	root := t.TempDir()
	for p, data := range map[string]string{
		"/var/lib/meshlab/owner":             "# comment\nlab=demo\nca=abc\n",
		"/etc/kubernetes/kubelet.conf":       "x",
		"/etc/kubernetes/pki/ca.crt":         "ca bytes",
		"/etc/cni/net.d/10-flannel.conflist": "{}",
	} {
		if err := os.MkdirAll(filepath.Dir(root+p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(root+p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := strings.NewReplacer("/var/lib/", root+"/var/lib/", "/etc/", root+"/etc/").Replace(ownershipScript)
	// A PATH with only the tools the script uses: this machine's own containerd stays out of it.
	bin := t.TempDir()
	for _, tool := range []string{"sed", "sha256sum", "cut"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skip(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/bin/true", filepath.Join(bin, "kubelet")); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", "PATH="+bin+"\n"+script).Output()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	e := ParseEvidence(string(out))
	if e.MarkerLab != "demo" || e.MarkerCA != "abc" || len(e.CA) != 64 || len(e.State) != 3 || len(e.Software) != 1 {
		t.Fatalf("evidence %+v from\n%s", e, out)
	}
	if o, why := Decide("demo", e); o != OwnerForeign || !strings.Contains(why, "cluster CA") {
		t.Errorf("marker ca=abc but the CA hashes to %s: %v %q", e.CA, o, why)
	}
}

func ownershipRun(t *testing.T, force bool, hosts ...*fakeHost) (*engine.Run, *eventLog, *plan) {
	t.Helper()
	p := testPlan(false)
	p.Force = force
	log := &eventLog{}
	r := &engine.Run{Action: "up", Lab: "demo", Sink: log}
	for _, h := range hosts {
		r.Hosts = append(r.Hosts, &engine.Host{Name: h.name, Transport: h})
	}
	return r, log, p
}

func evidence(out string) answer { return answer{prefix: "m=" + RemoteOwnerMarker, stdout: out} }

// TestOwnershipRefusesBeforeClaiming: one foreign host stops up before any host is claimed, and
// the error names the host and what was found; --force claims it; the lab's host is left as is.
func TestOwnershipRefusesBeforeClaiming(t *testing.T) {
	free := newFake("cp1", evidence(""))
	foreign := newFake("worker1", evidence("state /etc/kubernetes/kubelet.conf\nsoftware /usr/bin/kubelet\n"))
	mine := newFake("worker2", evidence("marker-lab demo\nmarker-ca aa\nca aa\n"))
	r, _, p := ownershipRun(t, false, free, foreign, mine)
	err := (&Ownership{plan: p, claim: true}).Run(context.Background(), r)
	var te *engine.TaskError
	if !errors.As(err, &te) || te.Host != "worker1" || !strings.Contains(err.Error(), "will not change worker1") ||
		!strings.Contains(err.Error(), "/etc/kubernetes/kubelet.conf") || !strings.Contains(te.Hint, "--force") {
		t.Fatalf("err = %v", err)
	}
	for _, h := range []*fakeHost{free, foreign, mine} {
		if len(h.puts) != 0 {
			t.Errorf("%s was written to although the run was refused: %v", h.name, h.puts)
		}
	}

	r, _, p = ownershipRun(t, true, free, foreign, mine)
	if err := (&Ownership{plan: p, claim: true}).Run(context.Background(), r); err != nil {
		t.Fatalf("--force: %v", err)
	}
	for _, h := range []*fakeHost{free, foreign} {
		if put := h.puts[RemoteOwnerMarker]; !strings.Contains(put.data, "\nlab=demo\n") {
			t.Errorf("%s not claimed: %+v", h.name, put)
		}
	}
	if len(mine.puts) != 0 {
		t.Errorf("the lab's own host was claimed again: %v", mine.puts)
	}
}

// TestOwnershipForDown: down refuses a host that is someone else's and writes nothing anywhere;
// a bare host is let through (its reset tasks find nothing of the lab's).
func TestOwnershipForDown(t *testing.T) {
	bare := newFake("cp1", evidence(""))
	other := newFake("worker1", evidence("marker-lab prod\n"))
	r, log, p := ownershipRun(t, false, bare, other)
	err := (&Ownership{plan: p}).Run(context.Background(), r)
	if err == nil || !strings.Contains(err.Error(), `will not reset worker1: it belongs to meshlab lab "prod"`) {
		t.Fatalf("err = %v", err)
	}
	if len(bare.puts)+len(other.puts) != 0 {
		t.Error("down's check wrote to a host")
	}
	said := false
	for _, e := range log.ev {
		said = said || (e.Host == "cp1" && strings.Contains(e.Line, "nothing to undo"))
	}
	if !said {
		t.Error("down did not say why it leaves the bare host alone")
	}
}

func TestRecordOwnershipAddsTheCA(t *testing.T) {
	node := newFake("cp1", evidence("marker-lab demo\nca 0123456789abcdef\n"))
	done := newFake("worker1", evidence("marker-lab demo\nmarker-ca 0123456789abcdef\nca 0123456789abcdef\n"))
	r, _, p := ownershipRun(t, false, node, done)
	if err := (&RecordOwnership{plan: p}).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if put := node.puts[RemoteOwnerMarker]; !strings.Contains(put.data, "lab=demo\nca=0123456789abcdef\n") {
		t.Errorf("marker written %q", put.data)
	}
	if len(done.puts) != 0 {
		t.Errorf("a recorded marker was written again")
	}
}

// TestOwnershipInAProbe: `meshlab plan --probe` reads the markers but writes none, and a host that
// is not a node yet is planned, not failed.
func TestOwnershipInAProbe(t *testing.T) {
	free := newFake("cp1", evidence(""))
	r, log, p := ownershipRun(t, false, free)
	r.DryRun, r.Probe = true, true
	if err := (&Ownership{plan: p, claim: true}).DryRun(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := (&RecordOwnership{plan: p}).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if len(free.puts) != 0 {
		t.Errorf("a probe wrote %v", free.puts)
	}
	plans := 0
	for _, e := range log.ev {
		if e.Kind == "task.plan" {
			plans++
		}
	}
	if plans != 2 {
		t.Errorf("%d planned steps, want the claim and the record", plans)
	}
}
