package phases

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/transport"
)

// HostFacts are what the facts phase learns about a host: the identities Kubernetes needs to
// be unique across nodes (kubeadm's install docs, "Verify the MAC address and product_uuid") and
// the host's networks, from which its node address is chosen (nodenet.go).
type HostFacts struct {
	Hostname     string
	MACs         map[string]string // interface → MAC
	ProductUUID  string            // "" when the host has no DMI (VMs without it, container-based lab machines)
	Addrs        []IfAddr          // global IPv4 addresses
	DefaultIface string            // the default route's interface ("" without one)
}

// factsScript prints one "key value..." line per fact. Read-only.
const factsScript = `echo "hostname $(hostname)"
for d in /sys/class/net/*; do
  i=${d##*/}
  [ "$i" = lo ] && continue
  [ -r "$d/address" ] && echo "mac $i $(cat "$d/address")"
done
if [ -r /sys/class/dmi/id/product_uuid ]; then echo "uuid $(cat /sys/class/dmi/id/product_uuid)"; fi
if command -v ip >/dev/null 2>&1; then
  ip -4 -o addr show scope global | awk '{print "addr", $2, $4}'
  ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print "default", $(i + 1); exit}}'
else
  echo "noip"
fi
`

// ParseFacts reads factsScript's output.
func ParseFacts(out string) HostFacts {
	f := HostFacts{MACs: map[string]string{}}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "hostname":
			f.Hostname = fields[1]
		case "mac":
			// Virtual interfaces may have all-zero MACs (tunnels); only real ones count.
			if len(fields) == 3 && fields[2] != "00:00:00:00:00:00" {
				f.MACs[fields[1]] = strings.ToLower(fields[2])
			}
		case "uuid":
			f.ProductUUID = strings.ToLower(fields[1])
		case "addr":
			if len(fields) != 3 {
				continue
			}
			if p, err := netip.ParsePrefix(fields[2]); err == nil && p.Addr().Is4() {
				// `ip -o addr` names a veth eth0@if5 in some versions: the name is before the @.
				iface, _, _ := strings.Cut(fields[1], "@")
				f.Addrs = append(f.Addrs, IfAddr{Iface: iface, Prefix: p})
			}
		case "default":
			f.DefaultIface = fields[1]
		}
	}
	return f
}

// Conflicts finds identities shared by several hosts and returns, per host, one message per
// clash naming the other hosts. Only the MAC of each node's cluster interface counts (nets):
// VirtualBox boxes built with a fixed base MAC give every VM the same NAT MAC, which Kubernetes
// never sees. Hosts in the result are only those with a problem.
func Conflicts(facts map[string]HostFacts, nets map[string]NodeNet) map[string][]string {
	owners := map[string][]string{} // "kind\x00value" → hosts
	add := func(kind, val, host string) {
		if val == "" {
			return
		}
		k := kind + "\x00" + val
		if !slices.Contains(owners[k], host) {
			owners[k] = append(owners[k], host)
		}
	}
	for host, f := range facts {
		add("hostname", f.Hostname, host)
		add("product_uuid", f.ProductUUID, host)
		if n, ok := nets[host]; ok && n.MAC != "" {
			add("MAC address", n.MAC, host)
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
			what := kind + " " + val
			if kind == "MAC address" {
				what += " (of " + nets[h].Iface + ", the interface of its node address " + nets[h].IP.String() + ")"
			}
			out[h] = append(out[h], fmt.Sprintf("%s is also used by %s: every node needs its own", what, strings.Join(others, ", ")))
		}
	}
	return out
}

// Facts gathers each host's identities and networks, chooses every node's address on the
// network the nodes share (nodenet.go), and checks identities across hosts. It changes nothing
// and never fails on a clash or an address it cannot choose: it hands those to the preflight
// script (var "conflicts"), so they are reported together with every other problem of every host.
type Facts struct{ plan *plan }

var _ engine.DryRunner = (*Facts)(nil)

func (*Facts) Title() string { return "Gather host facts" }
func (*Facts) Name() string  { return "facts" }

func (f *Facts) Run(ctx context.Context, r *engine.Run) error {
	l, err := f.plan.learn(ctx, r)
	if err != nil {
		return err
	}
	c := Conflicts(l.facts, l.nets)
	for host, problems := range l.problems {
		c[host] = append(c[host], problems...)
	}
	setConflicts(r, c)
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

// learned is what the facts phase found out, shared by the phases after it.
type learned struct {
	facts    map[string]HostFacts
	nets     map[string]NodeNet  // every host whose node address could be chosen
	problems map[string][]string // per host: why its node address could not be chosen
}

// learn reads every host's facts and chooses the node addresses (once per run; the facts phase
// always reads them afresh).
func (p *plan) learn(ctx context.Context, r *engine.Run) (*learned, error) {
	var mu sync.Mutex
	l := &learned{facts: map[string]HostFacts{}, nets: map[string]NodeNet{}, problems: map[string][]string{}}
	err := r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *engine.Host) error {
		// Reading changes nothing, so it is reported as a log line, not as a task that "did"
		// something: a finished lab's re-run shows only tasks already done.
		t := newTask(r, h, "facts", "Read hostname, MACs, product_uuid and addresses")
		res, err := t.run(ctx, factsScript, time.Minute)
		if err != nil {
			return t.Fail(factsScript, "", err)
		}
		f := ParseFacts(res.Stdout)
		mu.Lock()
		l.facts[h.Name] = f
		mu.Unlock()
		r.Logf(h, "facts", "hostname %s, %d MAC(s), product_uuid %q, addresses %s", f.Hostname, len(f.MACs), f.ProductUUID, f.addrList())
		return nil
	})
	if err != nil {
		return nil, err
	}
	cluster := []netip.Prefix{p.Lab.Network.PodPrefix, p.Lab.Network.ServicePrefix}
	for _, c := range []string{p.Lab.Network.PodCIDR, p.Lab.Network.ServiceCIDR} {
		if pr, err := netip.ParsePrefix(c); err == nil {
			cluster = append(cluster, pr)
		}
	}
	init := p.initHost
	cp, err := InitNodeNet(init.Name, init.Address, init.InternalAddress, l.facts, cluster)
	if err != nil {
		l.problems[init.Name] = append(l.problems[init.Name], err.Error())
	} else {
		l.nets[init.Name] = cp
		r.Logf(findHost(r, init.Name), "facts", "node address %s on %s: %s", cp.IP, cp.Iface, cp.How)
		err = r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *engine.Host) error {
			if h.Name == init.Name {
				return nil
			}
			ih := p.inventoryHost(h.Name)
			route := ""
			if ih.InternalAddress == "" {
				cmd := "ip -4 route get " + cp.IP.String()
				res, err := newTask(r, h, "facts", "Find the node address").run(ctx, cmd, time.Minute)
				var ee *transport.ExitError
				if err != nil && !errors.As(err, &ee) {
					return newTask(r, h, "facts", "Find the node address").Fail(cmd, "", err)
				}
				route = res.Stdout
			}
			n, err := WorkerNodeNet(h.Name, ih.InternalAddress, l.facts, cp, route)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				l.problems[h.Name] = append(l.problems[h.Name], err.Error())
				return nil
			}
			l.nets[h.Name] = n
			r.Logf(h, "facts", "node address %s on %s: %s", n.IP, n.Iface, n.How)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	p.learned = l
	p.mu.Unlock()
	return l, nil
}

// inventoryHost is the hosts file's entry of a host.
func (p *plan) inventoryHost(name string) inventory.Host {
	for _, h := range p.Lab.Hosts {
		if h.Name == name {
			return h
		}
	}
	return inventory.Host{Name: name}
}

// nodeNets are the node addresses the facts phase chose, read now when it did not run (a run
// with --phase). An address that could not be chosen is an error naming why.
func (p *plan) nodeNets(ctx context.Context, r *engine.Run) (map[string]NodeNet, error) {
	p.mu.Lock()
	l := p.learned
	p.mu.Unlock()
	if l == nil {
		var err error
		if l, err = p.learn(ctx, r); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, h := range r.Hosts {
		if _, ok := l.nets[h.Name]; !ok {
			why := strings.Join(l.problems[h.Name], "; ")
			if why == "" {
				why = "the control plane's node address could not be chosen"
			}
			errs = append(errs, fmt.Errorf("%s: no node address: %s", h.Name, why))
		}
	}
	return l.nets, errors.Join(errs...)
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
