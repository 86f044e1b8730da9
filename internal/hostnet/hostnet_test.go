package hostnet

import (
	"context"
	"net/netip"
	"os/exec"
	"reflect"
	"testing"
)

func TestParseUsedPrefixes(t *testing.T) {
	routes := `[{"dst":"default","gateway":"192.0.2.1","dev":"eth0"},{"dst":"192.0.2.0/24","dev":"eth0"},
		{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local"},{"type":"unreachable","dst":"default","table":"7"},
		{"type":"blackhole","dst":"10.96.0.0/12"}]`
	addrs := `[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
		{"ifname":"br","addr_info":[{"family":"inet","local":"10.213.4.1","prefixlen":24},{"family":"inet6","local":"fe80::1","prefixlen":64}]}]`
	got, err := ParseUsedPrefixes([]byte(routes), []byte(addrs))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.0/24", "127.0.0.1/32", "10.96.0.0/12", "127.0.0.0/8", "10.213.4.0/24"}
	if !reflect.DeepEqual(prefixStrings(got), want) {
		t.Errorf("ParseUsedPrefixes = %v, want %v", got, want)
	}
	if _, err := ParseUsedPrefixes([]byte("{"), []byte("[]")); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestOverlapping(t *testing.T) {
	p := netip.MustParsePrefix
	used := []netip.Prefix{p("192.0.2.0/24"), p("10.96.0.0/12")}
	if u, ok := Overlapping(used, p("10.100.0.0/16")); !ok || u != p("10.96.0.0/12") {
		t.Errorf("Overlapping(10.100.0.0/16) = %v, %v; want 10.96.0.0/12", u, ok)
	}
	if u, ok := Overlapping(used, p("10.88.0.0/16")); ok {
		t.Errorf("Overlapping(10.88.0.0/16) = %v; want none", u)
	}
}

// TestUsedPrefixesOfThisMachine runs the real ip tool: loopback's 127.0.0.0/8 is always assigned.
func TestUsedPrefixesOfThisMachine(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (apt-get install -y iproute2)")
	}
	output := func(ctx context.Context, name string, args ...string) ([]byte, error) {
		return exec.CommandContext(ctx, name, args...).Output()
	}
	used, err := UsedPrefixes(context.Background(), output)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := Overlapping(used, netip.MustParsePrefix("127.0.0.1/32")); !ok {
		t.Errorf("loopback not among %v", used)
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}
