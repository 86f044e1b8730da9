package phases

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/transport"
)

// Ownership is the rule that meshlab touches only what it can prove it made. Every host meshlab
// works on carries a marker, RemoteOwnerMarker:
//
//	lab=<the hosts file's lab name>      written when `up` first claims the host
//	ca=<sha256 of /etc/kubernetes/pki/ca.crt>   added once the host is a node of the lab's cluster
//
// Before `up` changes anything, and before `down` resets anything, every host is checked: a host
// whose marker names this lab (and, once recorded, this cluster's CA) is the lab's; a host with no
// marker and no trace of Kubernetes or a container runtime is free, and `up` claims it; any other
// host is refused, naming the host and what was found, unless --force. `down` leaves a free host
// alone. The playbook's reset tasks check the marker again themselves, so even `down --phase
// reset` cannot reach a host that is not the lab's.

// RemoteOwnerMarker is the ownership marker on each host.
const RemoteOwnerMarker = "/var/lib/meshlab/owner"

// RemoteBackupDir holds the host's own copies of the files meshlab replaced; `down` puts them back.
const RemoteBackupDir = "/var/lib/meshlab/backup"

// remoteCA is the cluster CA whose hash the marker records.
const remoteCA = "/etc/kubernetes/pki/ca.crt"

// ownershipScript prints what decides whom a host belongs to, one "key value" line each. Read-only.
const ownershipScript = `m=` + RemoteOwnerMarker + `
if [ -f "$m" ]; then sed -n 's/^\(lab\|ca\)=/marker-\1 /p' "$m"; fi
if [ -f ` + remoteCA + ` ]; then echo "ca $(sha256sum < ` + remoteCA + ` | cut -d' ' -f1)"; fi
for f in /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf /etc/kubernetes/bootstrap-kubelet.conf ` + remoteCA + ` \
  /etc/kubernetes/manifests/*.yaml /etc/cni/net.d/*; do
  if [ -e "$f" ]; then echo "state $f"; fi
done
for b in kubeadm kubelet containerd dockerd; do
  if p=$(command -v "$b"); then echo "software $p"; fi
done
`

// HostEvidence is what ownershipScript found on one host.
type HostEvidence struct {
	MarkerLab, MarkerCA string   // the marker's lines ("" when absent)
	HasMarker           bool     // the marker file exists
	CA                  string   // sha256 of the cluster CA, "" without one
	State               []string // Kubernetes files: kubeconfigs, manifests, the CA, CNI configs
	Software            []string // kubeadm, kubelet, containerd, dockerd binaries
}

// ParseEvidence reads ownershipScript's output.
func ParseEvidence(out string) HostEvidence {
	var e HostEvidence
	for _, line := range strings.Split(out, "\n") {
		key, val, _ := strings.Cut(strings.TrimSpace(line), " ")
		val = strings.TrimSpace(val)
		switch key {
		case "marker-lab":
			e.MarkerLab, e.HasMarker = val, true
		case "marker-ca":
			e.MarkerCA, e.HasMarker = val, true
		case "ca":
			e.CA = val
		case "state":
			e.State = append(e.State, val)
		case "software":
			e.Software = append(e.Software, val)
		}
	}
	return e
}

// Owner is a host's standing towards a lab.
type Owner int

const (
	OwnerLab     Owner = iota // the lab's own host
	OwnerNone                 // nothing of Kubernetes and no marker: free to claim
	OwnerForeign              // someone else's: refused without --force
)

// Decide says whom the host belongs to, and why when it is not the lab's.
func Decide(lab string, e HostEvidence) (Owner, string) {
	switch {
	case e.HasMarker && e.MarkerLab != lab:
		return OwnerForeign, fmt.Sprintf("it belongs to meshlab lab %q (%s), not to %q: is this the right hosts file?",
			e.MarkerLab, RemoteOwnerMarker, lab)
	case e.HasMarker && e.MarkerCA != "" && e.CA != "" && e.MarkerCA != e.CA:
		return OwnerForeign, fmt.Sprintf("its cluster CA (%s) is not the one meshlab recorded for lab %q: "+
			"something other than meshlab rebuilt its Kubernetes", remoteCA, lab)
	case e.HasMarker:
		return OwnerLab, ""
	case len(e.State)+len(e.Software) == 0:
		return OwnerNone, ""
	}
	found := append(append([]string{}, e.State...), e.Software...)
	if len(found) > 4 {
		found = append(found[:4], fmt.Sprintf("and %d more", len(found)-4))
	}
	return OwnerForeign, fmt.Sprintf("it has Kubernetes or a container runtime that meshlab did not set up "+
		"(no %s): %s", RemoteOwnerMarker, strings.Join(found, ", "))
}

// Ownership checks every host before anything changes (the second phase of up and of down).
// For up it claims the free hosts; for down it only lets the lab's hosts through.
type Ownership struct {
	plan  *plan
	claim bool // up: free hosts are claimed
}

var _ engine.DryRunner = (*Ownership)(nil)

func (*Ownership) Title() string { return "Check that meshlab owns the hosts" }
func (*Ownership) Name() string  { return OwnershipPhase }

// OwnershipPhase is the ownership phase's name: `--skip-phases` and `--phase` cannot drop it.
const OwnershipPhase = "ownership"

const ownershipTask = "Check the ownership marker"

func (o *Ownership) Run(ctx context.Context, r *engine.Run) error {
	lab := o.plan.Lab.Name
	var mu sync.Mutex
	owners := map[string]Owner{}
	err := r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *engine.Host) error {
		t := newTask(r, h, OwnershipPhase, ownershipTask)
		res, err := t.run(ctx, ownershipScript, time.Minute)
		if err != nil {
			return t.Fail(ownershipScript, "", err)
		}
		owner, why := Decide(lab, ParseEvidence(res.Stdout))
		mu.Lock()
		owners[h.Name] = owner
		mu.Unlock()
		switch {
		case owner == OwnerForeign && o.plan.Force:
			r.Logf(h, OwnershipPhase, "--force: going ahead on %s although %s", h.Name, why)
		case owner == OwnerForeign:
			verb := "change"
			if !o.claim {
				verb = "reset"
			}
			return t.Fail("", "check that the hosts file names the machines you meant; if meshlab may take this host over, re-run with --force",
				fmt.Errorf("meshlab will not %s %s: %s", verb, h.Name, why))
		case owner == OwnerNone && !o.claim:
			r.Logf(h, OwnershipPhase, "%s has no meshlab marker and nothing of Kubernetes: nothing to undo there", h.Name)
		}
		return nil
	})
	if err != nil || !o.claim {
		return err // every host was checked before anything changed
	}
	return r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *engine.Host) error {
		if owners[h.Name] == OwnerLab {
			newTask(r, h, OwnershipPhase, claimTask).Skip("")
			return nil
		}
		return o.claimHost(ctx, r, h)
	})
}

const claimTask = "Claim the host for this lab"

// claimHost writes the marker naming the lab: from now on the host is the lab's.
func (o *Ownership) claimHost(ctx context.Context, r *engine.Run, h *engine.Host) error {
	t := newTask(r, h, OwnershipPhase, claimTask)
	return r.Wet(h, OwnershipPhase, claimTask, "would write "+RemoteOwnerMarker+" naming lab "+o.plan.Lab.Name, func() error {
		t.Begin("")
		if err := writeMarker(ctx, t, h, o.plan.Lab.Name, ""); err != nil {
			return err
		}
		t.Done(RemoteOwnerMarker)
		return nil
	})
}

func writeMarker(ctx context.Context, t *task, h *engine.Host, lab, ca string) error {
	mk := "install -d -m 0755 /var/lib/meshlab"
	if _, err := t.run(ctx, mk, time.Minute); err != nil {
		return t.Fail(mk, "", err)
	}
	text := "# meshlab: this host belongs to a meshlab lab; meshlab up and down check it before changing anything.\nlab=" + lab + "\n"
	if ca != "" {
		text += "ca=" + ca + "\n"
	}
	if err := h.Transport.Put(ctx, strings.NewReader(text), transport.Upload{Path: RemoteOwnerMarker, Mode: 0o644, Become: true}); err != nil {
		return t.Fail("sftp put "+RemoteOwnerMarker, "", err)
	}
	return nil
}

// DryRun: without connecting, say what would be checked; with --probe, check (read-only).
func (o *Ownership) DryRun(ctx context.Context, r *engine.Run) error {
	if !r.Probe {
		r.Logf(nil, OwnershipPhase, "would check every host's %s before changing anything (and claim hosts without Kubernetes)", RemoteOwnerMarker)
		return nil
	}
	return o.Run(ctx, r)
}

// RecordOwnership adds the cluster CA's hash to every node's marker once it is a node, so a
// later run can tell this cluster from one something else built on the same machine.
type RecordOwnership struct{ plan *plan }

func (*RecordOwnership) Title() string { return "Record the cluster in the ownership markers" }
func (*RecordOwnership) Name() string  { return "record-ownership" }

const recordTask = "Record the cluster CA in " + RemoteOwnerMarker

func (o *RecordOwnership) Run(ctx context.Context, r *engine.Run) error {
	return r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *engine.Host) error {
		t := newTask(r, h, "record-ownership", recordTask)
		if h.Transport == nil {
			return r.Wet(h, "record-ownership", recordTask, "would add the cluster CA's hash to "+RemoteOwnerMarker, nil)
		}
		res, err := t.run(ctx, ownershipScript, time.Minute)
		if err != nil {
			return t.Fail(ownershipScript, "", err)
		}
		e := ParseEvidence(res.Stdout)
		if e.CA == "" && r.DryRun { // probing before kubeadm made the CA
			return r.Wet(h, "record-ownership", recordTask, "would add the cluster CA's hash to "+RemoteOwnerMarker+" once the host is a node", nil)
		}
		if e.CA == "" {
			return t.Fail("", "kubeadm init or join did not finish on this host: re-run `meshlab up`",
				fmt.Errorf("%s has no %s", h.Name, remoteCA))
		}
		if e.MarkerLab == o.plan.Lab.Name && e.MarkerCA == e.CA {
			t.Skip("")
			return nil
		}
		return r.Wet(h, "record-ownership", recordTask, "would record the cluster CA in "+RemoteOwnerMarker, func() error {
			t.Begin("")
			if err := writeMarker(ctx, t, h, o.plan.Lab.Name, e.CA); err != nil {
				return err
			}
			t.Done("ca=" + e.CA[:12] + "…")
			return nil
		})
	})
}
