package phases

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/meshlab/meshlab/provision/engine"
)

// HostFacts are what the facts phase learns about a host: the identities Kubernetes needs to
// be unique across nodes (kubeadm's install docs, "Verify the MAC address and product_uuid").
type HostFacts struct {
	Hostname    string
	MACs        []string
	ProductUUID string // "" when the host has no DMI (VMs without it, container-based lab machines)
}

// factsScript prints one "key value" line per fact. Read-only.
const factsScript = `echo "hostname $(hostname)"
for f in /sys/class/net/*/address; do
  case "$f" in */lo/address) continue ;; esac
  [ -r "$f" ] && echo "mac $(cat "$f")"
done
if [ -r /sys/class/dmi/id/product_uuid ]; then echo "uuid $(cat /sys/class/dmi/id/product_uuid)"; fi
`

// ParseFacts reads factsScript's output.
func ParseFacts(out string) HostFacts {
	var f HostFacts
	for _, line := range strings.Split(out, "\n") {
		key, val, _ := strings.Cut(strings.TrimSpace(line), " ")
		val = strings.TrimSpace(val)
		switch key {
		case "hostname":
			f.Hostname = val
		case "mac":
			// Virtual interfaces of a host may share all-zero or duplicate MACs; only real ones count.
			if val != "" && val != "00:00:00:00:00:00" {
				f.MACs = append(f.MACs, strings.ToLower(val))
			}
		case "uuid":
			f.ProductUUID = strings.ToLower(val)
		}
	}
	return f
}

// Conflicts finds identities shared by several hosts and returns, per host, one message per
// clash naming the other hosts. Hosts in the result are only those with a problem.
func Conflicts(facts map[string]HostFacts) map[string][]string {
	owners := map[string][]string{} // "kind\x00value" → hosts
	add := func(kind, val, host string) {
		if val == "" {
			return
		}
		k := kind + "\x00" + val
		for _, h := range owners[k] {
			if h == host {
				return
			}
		}
		owners[k] = append(owners[k], host)
	}
	for host, f := range facts {
		add("hostname", f.Hostname, host)
		add("product_uuid", f.ProductUUID, host)
		for _, m := range f.MACs {
			add("MAC address", m, host)
		}
	}
	out := map[string][]string{}
	keys := make([]string, 0, len(owners))
	for k := range owners {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		hosts := owners[k]
		if len(hosts) < 2 {
			continue
		}
		sort.Strings(hosts)
		kind, val, _ := strings.Cut(k, "\x00")
		for _, h := range hosts {
			var others []string
			for _, o := range hosts {
				if o != h {
					others = append(others, o)
				}
			}
			out[h] = append(out[h], fmt.Sprintf("%s %s is also used by %s: every node needs its own", kind, val, strings.Join(others, ", ")))
		}
	}
	return out
}

// Facts gathers each host's identities and checks them across hosts. It changes nothing and
// never fails on a clash: it hands the clashes to the preflight script (var "conflicts"), so
// they are reported together with every other problem of every host.
type Facts struct{}

var _ engine.DryRunner = (*Facts)(nil)

func (*Facts) Title() string { return "Gather host facts" }
func (*Facts) Name() string  { return "facts" }

func (*Facts) Run(ctx context.Context, r *engine.Run) error {
	var mu sync.Mutex
	all := map[string]HostFacts{}
	err := r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *engine.Host) error {
		// Reading changes nothing, so it is reported as a log line, not as a task that "did"
		// something: a finished lab's re-run shows only tasks already done.
		t := newTask(r, h, "facts", "Read hostname, MACs and product_uuid")
		res, err := t.run(ctx, factsScript, time.Minute)
		if err != nil {
			return t.Fail(factsScript, "", err)
		}
		f := ParseFacts(res.Stdout)
		mu.Lock()
		all[h.Name] = f
		mu.Unlock()
		r.Logf(h, "facts", "hostname %s, %d MAC(s), product_uuid %q", f.Hostname, len(f.MACs), f.ProductUUID)
		return nil
	})
	if err != nil {
		return err
	}
	setConflicts(r, Conflicts(all))
	return nil
}

// DryRun: without connecting there are no facts; with --probe they are read like in Run.
func (f *Facts) DryRun(ctx context.Context, r *engine.Run) error {
	if !r.Probe {
		setConflicts(r, nil)
		return nil
	}
	return f.Run(ctx, r)
}

func setConflicts(r *engine.Run, c map[string][]string) {
	if c == nil {
		c = map[string][]string{}
	}
	if r.Vars == nil {
		r.Vars = map[string]any{}
	}
	r.Vars["conflicts"] = c
}
