package podnet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/transport"
)

func TestParseInspection(t *testing.T) {
	out, err := os.ReadFile("testdata/inspect.out")
	if err != nil {
		t.Fatal(err)
	}
	rep := parse(string(out))
	if rep.Tool != "nft" || !rep.Captured {
		t.Fatalf("tool %q captured %v, want the nft rules with capture", rep.Tool, rep.Captured)
	}
	if rep.Rules[0] != "*nat" || !contains(rep.Rules, ":OUTPUT ACCEPT") || !contains(rep.Rules, "-A MESHLAB_REDIRECT -p tcp -j REDIRECT --to-ports 15001") {
		t.Fatalf("rules:\n%s", strings.Join(rep.Rules, "\n"))
	}
	want := []Listener{{"0.0.0.0:15006", "meshlab"}, {"0.0.0.0:15001", "meshlab"}, {"*:9080", "java"}, {"127.0.0.1:15000", ""}}
	if fmt.Sprint(rep.Listening) != fmt.Sprint(want) {
		t.Fatalf("listening %v, want %v", rep.Listening, want)
	}
}

func TestCRIOutputs(t *testing.T) {
	pods := `{"items":[{"id":"old","state":"SANDBOX_NOTREADY","metadata":{"name":"reviews-v1-x","namespace":"default"}},
	{"id":"abc123","state":"SANDBOX_READY","metadata":{"name":"reviews-v1-x","namespace":"default"}}]}`
	id, err := readySandbox([]byte(pods), "default", "reviews-v1-x")
	if err != nil || id != "abc123" {
		t.Fatalf("sandbox %q, %v", id, err)
	}
	if _, err := readySandbox([]byte(pods), "default", "ratings"); err == nil {
		t.Fatal("found a sandbox for a pod that has none")
	}
	inspect := `{"info":{"pid":4242,"runtimeSpec":{"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/cni-1234"}]}}}}`
	if p, err := netnsPath([]byte(inspect)); err != nil || p != "/var/run/netns/cni-1234" {
		t.Fatalf("netns %q, %v", p, err)
	}
	if p, err := netnsPath([]byte(`{"info":{"pid":4242}}`)); err != nil || p != "/proc/4242/ns/net" {
		t.Fatalf("netns from pid %q, %v", p, err)
	}
}

// TestInspectRealNetns installs capture-like rules and a listener in a network namespace of its
// own and inspects it through the local transport, as the command does over SSH on a node.
func TestInspectRealNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: run as root or via .ci/run")
	}
	for _, bin := range []string{"ip", "nsenter", "ss", "iptables", "socat"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s (apt-get install -y iproute2 util-linux iptables socat)", bin)
		}
	}
	ns := fmt.Sprintf("mlh14-%d", os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	run("ip", "-n", ns, "link", "set", "lo", "up")
	for _, r := range [][]string{
		{"-N", "MESHLAB_OUTPUT"}, {"-N", "MESHLAB_REDIRECT"},
		{"-A", "OUTPUT", "-p", "tcp", "-j", "MESHLAB_OUTPUT"},
		{"-A", "MESHLAB_OUTPUT", "-m", "owner", "--uid-owner", "1337", "-j", "RETURN"},
		{"-A", "MESHLAB_REDIRECT", "-p", "tcp", "-j", "REDIRECT", "--to-ports", "15001"},
	} {
		run(append([]string{"ip", "netns", "exec", ns, "iptables", "-t", "nat"}, r...)...)
	}
	listener := exec.Command("ip", "netns", "exec", ns, "socat", "TCP-LISTEN:15021,bind=127.0.0.1,fork,reuseaddr", "SYSTEM:true")
	var stderr bytes.Buffer
	listener.Stderr = &stderr
	if err := listener.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = listener.Process.Kill(); _ = listener.Wait() })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := transport.NewLocal("node-1", transport.SudoAuto, "")
	var rep Report
	// socat binds asynchronously: poll until its socket shows. Under load ss has been seen to list
	// the socket once before it could name its process (Process is then "", as documented), so
	// poll until the owner shows too.
	for {
		var err error
		if rep, err = Inspect(ctx, node, "/run/netns/"+ns); err != nil {
			t.Fatal(err)
		}
		if len(rep.Listening) > 0 && rep.Listening[0].Process != "" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("listener with its process never seen (last: %+v); socat: %s", rep.Listening, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !rep.Captured || !contains(rep.Rules, "-A MESHLAB_REDIRECT -p tcp -j REDIRECT --to-ports 15001") {
		t.Fatalf("capture rules not shown (tool %s):\n%s", rep.Tool, strings.Join(rep.Rules, "\n"))
	}
	if rep.Listening[0].Local != "127.0.0.1:15021" || rep.Listening[0].Process != "socat" {
		t.Fatalf("listening %+v", rep.Listening)
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}
