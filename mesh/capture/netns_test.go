package capture

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Addresses live only on the veth pair between the two namespaces the test creates.
var (
	podV4   = netip.MustParseAddr("10.77.1.2")
	peerV4  = netip.MustParseAddr("10.77.1.1")
	nobody4 = netip.MustParseAddr("10.77.1.99") // on-link, but nobody answers: only capture can connect
	podV6   = netip.MustParseAddr("fd00:77:1::2")
	peerV6  = netip.MustParseAddr("fd00:77:1::1")
	nobody6 = netip.MustParseAddr("fd00:77:1::99")
)

// lab is a "pod" namespace wired by a veth pair to a "peer" namespace, with listeners on the
// proxy ports and the app port in the pod and two upstream ports in the peer.
type lab struct {
	pod, peer string
	events    chan accepted
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{pod: newNetns(t, "pod"), peer: newNetns(t, "peer"), events: make(chan accepted, 64)}
	run(t, "ip", "-n", l.pod, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", l.peer)
	for _, side := range []struct {
		ns     string
		v4, v6 netip.Addr
	}{{l.pod, podV4, podV6}, {l.peer, peerV4, peerV6}} {
		run(t, "ip", "-n", side.ns, "addr", "add", side.v4.String()+"/24", "dev", "eth0")
		run(t, "ip", "-n", side.ns, "addr", "add", side.v6.String()+"/64", "dev", "eth0", "nodad")
		run(t, "ip", "-n", side.ns, "link", "set", "eth0", "up")
	}
	listen(t, l.pod, "outbound", DefaultOutboundPort, l.events)
	listen(t, l.pod, "inbound", DefaultInboundPort, l.events)
	listen(t, l.pod, "health", 15021, l.events)
	listen(t, l.pod, "app", 9080, l.events)
	listen(t, l.peer, "upstream", 8080, l.events)
	listen(t, l.peer, "database", 5432, l.events)
	return l
}

// expect dials and checks which listener took the connection and, for the proxy listeners,
// the original destination it reports.
func (l *lab) expect(t *testing.T, from string, id identity, src netip.Addr, dst netip.AddrPort, want string) {
	t.Helper()
	token := t.Name() + "/" + dst.String() + "/" + want
	if err := dial(from, id, src, dst, token); err != nil {
		t.Fatalf("connect %v (as %+v, want it at %s): %v", dst, id, want, err)
	}
	ev := waitFor(t, l.events, token)
	if ev.listener != want {
		t.Fatalf("connection to %v (as %+v) reached %q, want %q", dst, id, ev.listener, want)
	}
	if want == "outbound" || want == "inbound" {
		if ev.origErr != nil {
			t.Fatalf("OriginalDst on %s for %v: %v", want, dst, ev.origErr)
		}
		if ev.origDst.Addr().Unmap() != dst.Addr() || ev.origDst.Port() != dst.Port() {
			t.Fatalf("OriginalDst on %s = %v, want %v", want, ev.origDst, dst)
		}
	}
}

func TestCaptureInNetns(t *testing.T) {
	for _, v := range []Variant{VariantNFT, VariantLegacy} {
		t.Run(string(v), func(t *testing.T) {
			needRoot(t, v.Tool(IPv4, "restore"), v.Tool(IPv6, "restore"))
			testCapture(t, v)
		})
	}
}

func testCapture(t *testing.T, v Variant) {
	l := newLab(t)
	cfg := Default()
	cfg.IPv6 = true
	cfg.ExcludeOutboundPorts = []uint16{5432}
	rec := &teeExec{inner: OSExecutor{}}
	in := Installer{Exec: rec, Variant: v}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inPod := func(what string, fn func() error) {
		t.Helper()
		if err := inNetns(l.pod, identity{}, fn); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Before: nothing is captured; the unused address is simply unreachable.
	l.expect(t, l.pod, identity{}, netip.Addr{}, netip.AddrPortFrom(peerV4, 8080), "upstream")

	inPod("install", func() error { return in.Install(ctx, cfg) })
	first := saveBoth(t, l.pod, v)

	t.Run("outbound-v4", func(t *testing.T) {
		l.expect(t, l.pod, identity{}, netip.Addr{}, netip.AddrPortFrom(nobody4, 8080), "outbound")
		l.expect(t, l.pod, identity{}, netip.Addr{}, netip.AddrPortFrom(peerV4, 8080), "outbound")
	})
	t.Run("outbound-v6", func(t *testing.T) {
		l.expect(t, l.pod, identity{}, netip.Addr{}, netip.AddrPortFrom(nobody6, 443), "outbound")
	})
	t.Run("inbound", func(t *testing.T) {
		l.expect(t, l.peer, identity{}, netip.Addr{}, netip.AddrPortFrom(podV4, 9080), "inbound")
		l.expect(t, l.peer, identity{}, netip.Addr{}, netip.AddrPortFrom(podV6, 9080), "inbound")
	})
	t.Run("excluded-inbound-port", func(t *testing.T) {
		l.expect(t, l.peer, identity{}, netip.Addr{}, netip.AddrPortFrom(podV4, 15021), "health")
	})
	t.Run("excluded-outbound-port", func(t *testing.T) {
		l.expect(t, l.pod, identity{}, netip.Addr{}, netip.AddrPortFrom(peerV4, 5432), "database")
	})
	t.Run("proxy-uid-not-captured", func(t *testing.T) {
		l.expect(t, l.pod, identity{fsuid: 1337}, netip.Addr{}, netip.AddrPortFrom(peerV4, 8080), "upstream")
		l.expect(t, l.pod, identity{fsuid: 1337}, netip.Addr{}, netip.AddrPortFrom(peerV6, 8080), "upstream")
	})
	t.Run("proxy-gid-not-captured", func(t *testing.T) {
		l.expect(t, l.pod, identity{fsgid: 1337}, netip.Addr{}, netip.AddrPortFrom(peerV4, 8080), "upstream")
	})
	t.Run("loopback", func(t *testing.T) {
		// The proxy calling its own pod address (service VIP hairpin) goes back through inbound.
		l.expect(t, l.pod, identity{fsuid: 1337}, netip.Addr{}, netip.AddrPortFrom(podV4, 9080), "inbound")
		// The proxy's inbound passthrough, bound to 127.0.0.6, reaches the app untouched.
		l.expect(t, l.pod, identity{fsuid: 1337}, netip.MustParseAddr("127.0.0.6"), netip.AddrPortFrom(podV4, 9080), "app")
		// The app calling itself, by pod address or by localhost, is not captured.
		l.expect(t, l.pod, identity{}, netip.Addr{}, netip.AddrPortFrom(podV4, 9080), "app")
		l.expect(t, l.pod, identity{}, netip.Addr{}, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 9080), "app")
	})

	// Re-applying gives byte-identical tables (no duplicated jumps).
	inPod("re-install", func() error { return in.Install(ctx, cfg) })
	if second := saveBoth(t, l.pod, v); second != first {
		t.Fatalf("tables changed on re-install:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	if n := strings.Count(first, "-j MESHLAB_OUTPUT"); n != 2 { // one per family
		t.Fatalf("want one OUTPUT jump per family, found %d in:\n%s", n, first)
	}

	// Clean-up removes everything; a second clean-up runs no restore at all.
	inPod("clean-up", func() error { return in.Cleanup(ctx, true) })
	if after := saveBoth(t, l.pod, v); strings.Contains(after, "MESHLAB") {
		t.Fatalf("MESHLAB rules left after clean-up:\n%s", after)
	}
	restores := rec.restores()
	inPod("second clean-up", func() error { return in.Cleanup(ctx, true) })
	if got := rec.restores(); got != restores {
		t.Fatalf("second clean-up ran %d restore commands, want none", got-restores)
	}
	l.expect(t, l.pod, identity{}, netip.Addr{}, netip.AddrPortFrom(peerV4, 8080), "upstream")
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// saveBoth dumps both families' nat tables without comments and counters, for comparison.
func saveBoth(t *testing.T, ns string, v Variant) string {
	t.Helper()
	var b strings.Builder
	for _, f := range []Family{IPv4, IPv6} {
		for _, line := range strings.Split(run(t, "ip", "netns", "exec", ns, v.Tool(f, "save"), "-t", "nat"), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				b.WriteString(counters.ReplaceAllString(line, "[0:0]") + "\n")
			}
		}
	}
	return b.String()
}
