package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/capture"
)

// TestCapturedInNetns runs the proxy with the real SO_ORIGINAL_DST behind a real iptables
// REDIRECT, inside a network namespace of its own (the host's rules are never touched): a
// client calls a service VIP and the proxy routes it by the registry.
func TestCapturedInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespace and iptables): run as root or via .ci/run")
	}
	for _, bin := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s (apt-get install iproute2 iptables)", bin)
		}
	}
	ns := fmt.Sprintf("meshlab-proxy-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	child := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestHelperCapturedChild$", "-test.v")
	child.Env = append(os.Environ(), "MESHLAB_NETNS_CHILD=1")
	out, err := child.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestHelperCapturedChild") {
		t.Fatalf("child in netns %s: %v\n%s", ns, err, out)
	}
}

// TestHelperCapturedChild runs inside the namespace TestCapturedInNetns made.
func TestHelperCapturedChild(t *testing.T) {
	if os.Getenv("MESHLAB_NETNS_CHILD") == "" {
		return // only a helper process started by another test; nothing to do as a test
	}
	run := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	run("ip", "link", "set", "lo", "up")
	run("ip", "addr", "add", "10.96.0.1/32", "dev", "lo")
	run("ip", "addr", "add", "10.96.0.2/32", "dev", "lo")
	web := newBackend(t, "v1", nil)
	echo := tcpEcho(t, "")
	reg := fmt.Sprintf(`apiVersion: meshlab.io/v1alpha1
kind: Registry
spec:
  services:
  - name: web
    vips: [10.96.0.1]
    ports: [{name: http, port: 80}]
    endpoints: [{address: 127.0.0.1, port: %d, workload: web-v1, labels: {app: web, version: v1}}]
  - name: db
    vips: [10.96.0.2]
    ports: [{name: tcp, port: 5432}]
    endpoints: [{address: 127.0.0.1, port: %d, workload: db-v1}]
`, web.addr().Port(), echo.Port())
	startProxy(t, map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": reg}, []string{"proxy.yaml", "registry.yaml"},
		func(o *Options) { o.OriginalDst = capture.OriginalDst; o.OutboundAddr = "127.0.0.1:15001" })
	for _, vip := range []string{"10.96.0.1", "10.96.0.2"} {
		run("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", vip, "-j", "REDIRECT", "--to-ports", "15001")
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://10.96.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "v1" {
		t.Errorf("HTTP to the VIP through capture: %q", body)
	}
	conn, err := net.DialTimeout("tcp", "10.96.0.2:5432", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "\x00ping")
	got := make([]byte, 5)
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "\x00ping" {
		t.Errorf("TCP to the VIP through capture: %q %v", got, err)
	}
}
