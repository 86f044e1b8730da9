package inventory

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a real DNS server on loopback (UDP) that knows the names in zone and answers
// NXDOMAIN for every other: Go's own resolver talks to it through Resolver.Dial, so the lookups
// in the test are real DNS exchanges that never leave this machine.
func dnsServer(t *testing.T, zone map[string][4]byte) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			ip, known := zone[strings.TrimSuffix(q.Name.String(), ".")]
			rh := dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
			if !known {
				rh.RCode = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			if known && q.Type == dnsmessage.TypeA {
				_ = b.StartAnswers()
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: ip})
			}
			if out, err := b.Finish(); err == nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

func TestCheckNamesRefusesNamesThatDoNotResolve(t *testing.T) {
	r := dnsServer(t, map[string][4]byte{"cp1.meshlab.test": {10, 0, 0, 5}})
	src := `hosts:
  - {name: cp1, address: cp1.meshlab.test, role: control-plane}
  - {name: worker1, address: 10.0.0.6}
  - {name: worker2, address: worker2.meshlab.test}
  - {name: worker3, address: worker3.meshlab.test, bastion: jump.meshlab.test}
`
	lab, err := Parse([]byte(src), "hosts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = CheckNames(context.Background(), lab, r)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Fatalf("want 2 problems (worker2's name, worker3's bastion), got %v", err)
	}
	for i, w := range []struct {
		line  int
		field string
		name  string
	}{{4, "hosts[2].address", "worker2.meshlab.test"}, {5, "hosts[3].bastion.address", "jump.meshlab.test"}} {
		p := ve.Problems[i]
		if p.File != "hosts.yaml" || p.Line != w.line || p.Field != w.field || !strings.Contains(p.Message, w.name) || p.Hint == "" {
			t.Errorf("problem %d = %+v; want hosts.yaml:%d %s about %s", i, p, w.line, w.field, w.name)
		}
		if !strings.HasPrefix(p.Error(), "hosts.yaml:"+string(rune('0'+w.line))+": ") {
			t.Errorf("problem %d does not start with file:line: %s", i, p.Error())
		}
	}
	// The host behind the bastion is the bastion's to resolve, and an IP address is nobody's.
	if strings.Contains(err.Error(), "worker3.meshlab.test") || strings.Contains(err.Error(), "10.0.0.6") {
		t.Errorf("looked up what it should not: %v", err)
	}

	good, err := Parse([]byte("hosts:\n  - {address: cp1.meshlab.test, role: control-plane}\n"), "ok.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckNames(context.Background(), good, r); err != nil {
		t.Errorf("a name that resolves: %v", err)
	}
}
