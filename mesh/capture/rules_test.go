package capture

import (
	"strings"
	"testing"

	"github.com/meshlab/meshlab/internal/golden"
)

// istioInitDefault is the nat rule list istio-init installs with the injection template's
// defaults (-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -b '*' -d 15090,15021,15020), written
// out by following the emission order of istio's tools/istio-iptables/pkg/capture/run.go and
// checked against its golden files inbound-ports-wildcard.golden and kube-virt-interfaces.golden.
const istioInitDefault = `-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN
-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN
-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
`

// The default rule set is istio-init's, rule for rule, but for the chain prefix.
func TestDefaultMatchesIstioInit(t *testing.T) {
	var b strings.Builder
	for _, r := range Build(Default())[0].Rules {
		b.WriteString("-A " + r.Chain + " " + strings.Join(r.Args, " ") + "\n")
	}
	got := strings.ReplaceAll(b.String(), "MESHLAB_", "ISTIO_")
	if got != istioInitDefault {
		t.Fatalf("default rules differ from istio-init's:\n%s", golden.LineDiff(istioInitDefault, got))
	}
}

func TestBuildSplitsFamilies(t *testing.T) {
	f := DefaultFlags()
	f.IPv6 = true
	f.IncludeIPRanges = "10.0.0.0/8,2001:db8::/32"
	f.ExcludeIPRanges = "10.96.0.0/12,fd00::/8"
	cfg, err := f.Parse()
	if err != nil {
		t.Fatal(err)
	}
	sets := Build(cfg)
	if len(sets) != 2 || sets[0].Family != IPv4 || sets[1].Family != IPv6 {
		t.Fatalf("Build gave %d sets, want ipv4 then ipv6", len(sets))
	}
	for _, rs := range sets {
		text := InstallText(rs, State{})
		other := map[Family][]string{IPv4: {"2001:db8::/32", "fd00::/8", "::1"}, IPv6: {"10.0.0.0/8", "10.96.0.0/12", "127.0.0.1"}}
		for _, s := range other[rs.Family] {
			if strings.Contains(text, s) {
				t.Errorf("%s rules mention %s:\n%s", rs.Family, s, text)
			}
		}
	}
}

func TestBuildManyExcludedPortsSplitsMultiport(t *testing.T) {
	cfg := Default()
	for p := uint16(1); p <= 20; p++ {
		cfg.ExcludeOutboundPorts = append(cfg.ExcludeOutboundPorts, p)
	}
	n := 0
	for _, r := range Build(cfg)[0].Rules {
		if strings.Contains(strings.Join(r.Args, " "), "--dports") {
			n++
		}
	}
	if n != 4 { // 15 + 5 ports, for tcp and udp
		t.Fatalf("got %d multiport rules for 20 ports, want 4", n)
	}
}
