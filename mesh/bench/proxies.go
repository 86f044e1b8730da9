package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Ports in the sidecar's positions, as Istio's capture rules use them.
const (
	OutboundPort = 15001 // captured outbound connections of the client's pod
	InboundPort  = 15006 // captured inbound connections of the server's pod
	HealthPort   = 15021 // meshlab sidecar readiness
	AppPort      = 8080  // the echo server, Istio's fortioserver http port
	ProxyUID     = 1337  // exempt from capture
	AppUID       = 65534 // nobody: captured
)

// meshlabProxyDoc is the sidecar's identity document (docs/proxy-config.md).
func meshlabProxyDoc(workload, app string, l *Lab, pod string) string {
	return fmt.Sprintf(`apiVersion: meshlab.io/v1alpha1
kind: Proxy
spec:
  workload: %s
  namespace: default
  ip: %s
  labels: {app: %s, version: v1}
`, workload, l.podAddr(pod), app)
}

// meshlabRegistryDoc declares the one service, "server", behind the lab's VIP.
func meshlabRegistryDoc(l *Lab) string {
	return fmt.Sprintf(`apiVersion: meshlab.io/v1alpha1
kind: Registry
spec:
  services:
  - name: server
    namespace: default
    vips: [%s]
    ports:
    - {name: http, port: %d}
    endpoints:
    - {address: %s, workload: server-v1, labels: {app: server, version: v1}}
`, l.VIP, AppPort, l.Server)
}

// Case names of the authorization runs: meshlab's sidecars with ten ALLOW policies on the server
// side, in plaintext and with mutual TLS (issue 14 compares each with the same sidecars without).
const (
	CaseAllowRules     = "meshlab+10 ALLOW"
	CaseMTLSAllowRules = "meshlab mTLS+10 ALLOW"
)

// allowRulesDoc is ten AuthorizationPolicies selecting the server: nine that do not match the
// benchmark's requests (other paths) and, evaluated last, one that does (GET /echo on the echo
// port from source), so every request walks every rule. source is the matching rule's `from`
// source: the client pod's address in plaintext, its identity with mutual TLS (what a policy over
// mTLS names).
func allowRulesDoc(source string) string {
	var docs []string
	for i := range 9 {
		docs = append(docs, fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-%d, namespace: default}
spec:
  selector: {matchLabels: {app: server}}
  rules:
  - to:
    - operation: {methods: ["GET", "HEAD"], paths: ["/api/v%d/*", "/status/%d"], ports: ["%d"]}
`, i, i, i, AppPort))
	}
	docs = append(docs, fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-z-echo, namespace: default}
spec:
  selector: {matchLabels: {app: server}}
  rules:
  - from:
    - source: %s
    to:
    - operation: {methods: ["GET"], paths: ["/echo"], ports: ["%d"]}
`, source, AppPort))
	return strings.Join(docs, "---\n")
}

// clientByAddress and clientByIdentity are allowRulesDoc's sources for the two cases.
func clientByAddress(l *Lab) string { return fmt.Sprintf(`{ipBlocks: ["%s"]}`, l.podAddr("client")) }

const clientByIdentity = `{principals: ["cluster.local/ns/default/sa/client"]}`

// haproxyConfig makes HAProxy an HTTP proxy listening on listen and forwarding every request to
// upstream, with keep-alive on both sides and two threads (the sidecar's two workers in Istio's
// recipe; the meshlab proxy gets GOMAXPROCS=2 on this machine).
func haproxyConfig(listen, upstream string) string {
	return haproxyConfigWith(listen, "", "", upstream)
}

// haproxyConfigWith is haproxyConfig with options for the bind line (TLS termination) and the
// server line (TLS origination).
func haproxyConfigWith(listen, bindOpts, serverOpts, upstream string) string {
	return fmt.Sprintf(`global
    nbthread 2
    maxconn 4096
    ssl-default-bind-options ssl-min-ver TLSv1.2
    ssl-default-server-options ssl-min-ver TLSv1.2
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend in
    bind %s
    default_backend upstream
backend upstream
    server s1 %s
`, strings.TrimSpace(listen+" "+bindOpts), strings.TrimSpace(upstream+" "+serverOpts))
}

// meshlabMTLSRegistryDoc is meshlabRegistryDoc with the server marked as running a sidecar
// (auto mTLS) and the identity its certificate carries.
func meshlabMTLSRegistryDoc(l *Lab) string {
	return fmt.Sprintf(`apiVersion: meshlab.io/v1alpha1
kind: Registry
spec:
  services:
  - name: server
    namespace: default
    vips: [%s]
    ports:
    - {name: http, port: %d}
    endpoints:
    - {address: %s, workload: server-v1, labels: {app: server, version: v1, security.istio.io/tlsMode: istio}, identity: "spiffe://cluster.local/ns/default/sa/server"}
`, l.VIP, AppPort, l.Server)
}

// Proc is a process the benchmark started; it is stopped by its PID only.
type Proc struct {
	Name   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartProc starts argv with its output appended to logPath.
func StartProc(name string, argv []string, env []string, logPath string) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.exited) }()
	return p, nil
}

// Pid is the process's ID. `ip netns exec` and setpriv exec their command, so it is the
// proxy's own PID, the one whose /proc entries count.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports an error if the process has ended.
func (p *Proc) Exited() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited: %v", p.Name, p.cmd.ProcessState)
	default:
		return nil
	}
}

// Stop sends SIGTERM, then SIGKILL after 5 s, and waits for the exit.
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// WaitReady polls until ready returns nil, the process exits or ctx ends.
func (p *Proc) WaitReady(ctx context.Context, what string, ready func() error) error {
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if exitErr := p.Exited(); exitErr != nil {
			return exitErr
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %s: %w (last: %v)", p.Name, what, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// httpOK is a readiness check: GET url answers 200.
func httpOK(url string) func() error {
	client := &http.Client{Timeout: time.Second}
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}
}

// listening is a readiness check for a process inside a pod: something accepts on addr, as
// seen from inside the pod's namespace (nsenter through `ip netns exec`, so the check itself
// runs as root and is never captured).
func listening(l *Lab, pod, addr string) func() error {
	return func() error {
		out, err := exec.Command("ip", "netns", "exec", l.Netns(pod), "ss", "-Htln", "sport", "= :"+portOf(addr)).Output()
		if err != nil {
			return err
		}
		if len(out) == 0 {
			return fmt.Errorf("nothing listens on %s", addr)
		}
		return nil
	}
}

func portOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return port
}
