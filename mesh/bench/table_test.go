package bench

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sampleResults is a run with round figures, for the golden table.
func sampleResults() []Result {
	load := func(p50, p90, p99 time.Duration) LoadResult {
		return LoadResult{Requests: 60000, ActualQPS: 1000, P50: p50, P90: p90, P99: p99}
	}
	return []Result{
		{Case: "direct", Load: load(200*time.Microsecond, 300*time.Microsecond, 500*time.Microsecond)},
		{Case: "meshlab", Load: load(500*time.Microsecond, 800*time.Microsecond, 1500*time.Microsecond), Proxies: []ProxyUsage{
			{Name: "meshlab client-side", CPU: 6 * time.Second, RSS: 20 << 20, Anon: 8 << 20},
			{Name: "meshlab server-side", CPU: 9600 * time.Millisecond, RSS: 31 << 20, Anon: 9 << 20},
		}},
		{Case: CaseAllowRules, Load: load(500*time.Microsecond, 800*time.Microsecond, 1700*time.Microsecond), Proxies: []ProxyUsage{
			{Name: "meshlab client-side", CPU: 6 * time.Second, RSS: 20 << 20, Anon: 8 << 20},
			{Name: "meshlab server-side", CPU: 9900 * time.Millisecond, RSS: 31 << 20, Anon: 9 << 20},
		}},
		{Case: "haproxy", Load: load(400*time.Microsecond, 600*time.Microsecond, 1100*time.Microsecond), Proxies: []ProxyUsage{
			{Name: "haproxy client-side", CPU: 3 * time.Second, RSS: 10 << 20, Anon: 5 << 20},
			{Name: "haproxy server-side", CPU: 3 * time.Second, RSS: 10 << 20, Anon: 5 << 20},
		}},
		{Case: CaseMeshlabMTLS, Load: load(600*time.Microsecond, 900*time.Microsecond, 1300*time.Microsecond), Proxies: []ProxyUsage{
			{Name: "meshlab client-side mTLS", CPU: 9 * time.Second, RSS: 22 << 20, Anon: 9 << 20},
			{Name: "meshlab server-side mTLS", CPU: 12 * time.Second, RSS: 24 << 20, Anon: 10 << 20},
		}},
		{Case: CaseMTLSAllowRules, Load: load(600*time.Microsecond, 900*time.Microsecond, 1400*time.Microsecond), Proxies: []ProxyUsage{
			{Name: "meshlab client-side mTLS", CPU: 9 * time.Second, RSS: 22 << 20, Anon: 9 << 20},
			{Name: "meshlab server-side mTLS", CPU: 13 * time.Second, RSS: 24 << 20, Anon: 10 << 20},
		}},
		{Case: CaseHAProxyTLS, Load: load(500*time.Microsecond, 700*time.Microsecond, 1200*time.Microsecond), Proxies: []ProxyUsage{
			{Name: "haproxy client-side TLS", CPU: 4 * time.Second, RSS: 12 << 20, Anon: 6 << 20},
			{Name: "haproxy server-side TLS", CPU: 4 * time.Second, RSS: 12 << 20, Anon: 6 << 20},
		}},
	}
}

func TestRenderGolden(t *testing.T) {
	var b strings.Builder
	results := sampleResults()
	if err := Render(&b, LoadOptions{QPS: 1000, Connections: 16, Duration: time.Minute}, results); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n" + strings.Join(IssueTargets.Check(results), "\n") + "\n")
	b.WriteString("\n" + strings.Join(MTLSTargets.Check(results), "\n") + "\n")
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Errorf("table differs from %s (rerun with -update if intended):\n%s", golden, b.String())
	}
}

func TestMTLSCheckWithoutTheMTLSCases(t *testing.T) {
	if lines := MTLSTargets.Check(sampleResults()[:4]); len(lines) != 0 {
		t.Fatalf("a run without the mutual TLS cases: %q, want no lines", lines)
	}
}

func TestCheckWithoutCases(t *testing.T) {
	lines := IssueTargets.Check([]Result{{Case: "haproxy"}})
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "FAIL") {
		t.Fatalf("a run without direct and meshlab cases: %q, want one FAIL line", lines)
	}
}

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses; fields are counted from the last ')'.
	stat := "4242 (meshlab (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 12345 678 18446744073709551615"
	got, err := parseStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want {
		t.Fatalf("utime+stime = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "1 no-parens S", "1 (x) S 1 2"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	got, err := statusKB([]byte("Name:\tmeshlab\nVmPeak:\t  900 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n"), "VmRSS")
	if err != nil || got != 20<<20 {
		t.Fatalf("VmRSS = %d, %v; want %d", got, err, 20<<20)
	}
	if _, err := statusKB([]byte("Name:\tkthreadd\n"), "VmRSS"); err == nil {
		t.Error("a status without VmRSS was accepted")
	}
}

func TestReadUsageOfThisProcess(t *testing.T) {
	u, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS <= 0 {
		t.Fatalf("RSS of this test process = %d", u.RSS)
	}
}

func TestNewLabValidates(t *testing.T) {
	for _, c := range []struct{ name, prefix string }{{"", "10.216.0.0/24"}, {"toolong", "10.216.0.0/24"}, {"b1", "10.216.0.0/16"}, {"b1", "fd00::/120"}} {
		if _, err := NewLab(c.name, mustPrefix(t, c.prefix)); err == nil {
			t.Errorf("NewLab(%q, %s) accepted", c.name, c.prefix)
		}
	}
	l, err := NewLab("b1", mustPrefix(t, "10.216.0.77/24"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Gateway.String() != "10.216.0.1" || l.Client.String() != "10.216.0.10" || l.Server.String() != "10.216.0.11" || l.VIP.String() != "10.216.0.100" {
		t.Fatalf("lab addresses: %+v", l)
	}
	if got := l.Command("client", 65534, "echo"); strings.Join(got, " ") !=
		"ip netns exec mlb-b1-client setpriv --reuid=65534 --regid=65534 --clear-groups -- echo" {
		t.Fatalf("Command: %q", got)
	}
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadShapes: Istio's recipe staggers, jitters and does not catch up; the herd does none of
// that; names parse both ways and a wrong one is refused with the choices.
func TestLoadShapes(t *testing.T) {
	istio := runnerOptions(LoadOptions{QPS: 1000, Connections: 16, Shape: ShapeIstio})
	if !istio.Uniform || !istio.Jitter || !istio.NoCatchUp {
		t.Errorf("istio shape: uniform=%v jitter=%v nocatchup=%v, want all true", istio.Uniform, istio.Jitter, istio.NoCatchUp)
	}
	herd := runnerOptions(LoadOptions{QPS: 1000, Connections: 16, Shape: ShapeHerd})
	if herd.Uniform || herd.Jitter || herd.NoCatchUp {
		t.Errorf("herd shape: uniform=%v jitter=%v nocatchup=%v, want all false", herd.Uniform, herd.Jitter, herd.NoCatchUp)
	}
	if got, err := ParseShapes(""); err != nil || len(got) != 2 || got[0] != ShapeIstio || got[1] != ShapeHerd {
		t.Errorf(`ParseShapes("") = %v, %v; want [istio herd]`, got, err)
	}
	if got, err := ParseShapes("herd"); err != nil || len(got) != 1 || got[0] != ShapeHerd {
		t.Errorf(`ParseShapes("herd") = %v, %v`, got, err)
	}
	if _, err := ParseShapes("istio,burst"); err == nil || !strings.Contains(err.Error(), `want "istio" or "herd"`) {
		t.Errorf(`ParseShapes("istio,burst") error = %v, want one naming the choices`, err)
	}
}
