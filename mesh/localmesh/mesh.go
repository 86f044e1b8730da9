package localmesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
)

// Ports of the sidecar that the launcher talks to.
const (
	proxyHealthPort = 15021
	defaultProxyUID = 1337
	defaultAppUID   = 65534 // nobody: applications never run as the proxy's UID, or their traffic would bypass capture
)

// Options configure a local mesh. Zero values take the defaults.
type Options struct {
	// Name is a short lab name (1–6 of a-z, 0-9) used in every network object's name.
	Name string
	// Binary is the meshlab executable run as capture init, sidecar and (for "meshlab" apps) app.
	Binary string
	// Dir holds generated config files and one log file per process.
	Dir string
	// PodNet and SvcNet are the pod and service /24s (defaults 10.214.0.0/24, 10.214.1.0/24).
	PodNet, SvcNet netip.Prefix
	// RouteFiles hold Istio routing resources every sidecar loads; sidecars reload on change.
	RouteFiles []string
	// Tracing, when set, is given to every sidecar.
	Tracing *config.Tracing
	// ProxyArgs are extra arguments for every `meshlab mesh proxy`.
	ProxyArgs []string
	// MTLS makes the pods take part in the mesh's mutual TLS: every sidecar gets a certificate
	// for its pod's ServiceAccount from the control plane's CA (ProxyArgs must name the control
	// plane with --xds), and the registry marks every endpoint for auto mTLS with its identity.
	MTLS bool
	// CertTTL is the certificate lifetime the sidecars ask for under MTLS (0: the CA's 24 h).
	CertTTL time.Duration
	Logger  *slog.Logger
}

var labName = regexp.MustCompile(`^[a-z0-9]{1,6}$`)

func (o *Options) defaults() error {
	if !labName.MatchString(o.Name) {
		return fmt.Errorf("local mesh name %q: use 1 to 6 characters of a-z and 0-9 (it goes into interface names)", o.Name)
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the meshlab binary: %w", err)
		}
		o.Binary = exe
	}
	if o.Dir == "" {
		o.Dir = filepath.Join(os.TempDir(), "meshlab-localmesh-"+o.Name)
	}
	if !o.PodNet.IsValid() {
		o.PodNet = netip.MustParsePrefix("10.214.0.0/24")
	}
	if !o.SvcNet.IsValid() {
		o.SvcNet = netip.MustParsePrefix("10.214.1.0/24")
	}
	if o.PodNet.Bits() > 24 || o.SvcNet.Bits() > 24 || o.PodNet.Overlaps(o.SvcNet) {
		return fmt.Errorf("pod network %s and service network %s must be distinct /24s or larger", o.PodNet, o.SvcNet)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Mesh is a running local mesh.
type Mesh struct {
	opts  Options
	topo  Topology
	net   network
	procs []*process
}

type process struct {
	pod, role string
	cmd       *exec.Cmd
	log       *os.File
	exited    chan struct{}
}

// Start builds the network, installs capture in every pod, and starts every sidecar and
// application. It returns once every sidecar reports ready and every application port accepts
// connections, or with an error naming the pod and its log file. On error, everything already
// started is stopped again.
func Start(ctx context.Context, topo Topology, opts Options) (_ *Mesh, err error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if err := topo.Validate(); err != nil {
		return nil, fmt.Errorf("local mesh topology: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("a local mesh needs root (network namespaces and iptables): run it as root")
	}
	m := &Mesh{opts: opts, topo: topo, net: network{name: opts.Name, plan: planAddresses(topo, opts.PodNet, opts.SvcNet)}}
	defer func() {
		if err != nil {
			m.Stop(context.Background())
		}
	}()
	if err := m.writeFiles(); err != nil {
		return nil, err
	}
	hosts := map[string]string{}
	for _, p := range topo.Pods {
		hosts[p.Name] = hostsFile(topo, m.net.plan, p)
	}
	if err := m.net.up(ctx, topo.Pods, hosts); err != nil {
		return nil, err
	}
	for _, p := range topo.Pods {
		if err := m.startPod(ctx, p); err != nil {
			return nil, err
		}
	}
	return m, m.waitReady(ctx)
}

func (m *Mesh) podDir(pod string) string { return filepath.Join(m.opts.Dir, "pods", pod) }

func (m *Mesh) writeFiles() error {
	reg, err := registryFile(m.topo, m.net.plan, m.opts.MTLS)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.opts.Dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(m.opts.Dir, "registry.yaml"), reg, 0o644); err != nil {
		return err
	}
	for _, p := range m.topo.Pods {
		data, err := proxyFile(p, m.net.plan, m.opts.Tracing)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(m.podDir(p.Name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(m.podDir(p.Name), "proxy.yaml"), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// startPod installs the capture rules, then starts the sidecar and the application.
func (m *Mesh) startPod(ctx context.Context, p Pod) error {
	ns := m.net.netns(p.Name)
	initCmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, m.opts.Binary, "mesh", "init")
	if out, err := initCmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pod %s: capture init (meshlab mesh init): %w: %s", p.Name, err, out)
	}
	proxyArgs := []string{m.opts.Binary, "mesh", "proxy",
		"--config", filepath.Join(m.podDir(p.Name), "proxy.yaml"),
		"--config", filepath.Join(m.opts.Dir, "registry.yaml")}
	for _, f := range m.opts.RouteFiles {
		proxyArgs = append(proxyArgs, "--config", f)
	}
	proxyArgs = append(proxyArgs, m.opts.ProxyArgs...)
	if m.opts.MTLS {
		proxyArgs = append(proxyArgs, "--mtls", "--service-account", p.serviceAccount())
		if m.opts.CertTTL > 0 {
			proxyArgs = append(proxyArgs, "--cert-ttl", m.opts.CertTTL.String())
		}
	}
	if err := m.spawn(p, "proxy", defaultProxyUID, proxyArgs, nil); err != nil {
		return err
	}
	app := append([]string{}, p.App...)
	if app[0] == "meshlab" {
		app[0] = m.opts.Binary
	}
	return m.spawn(p, "app", defaultAppUID, app, p.Env)
}

// spawn starts argv inside the pod's namespace as uid (via setpriv, after ip netns exec has
// entered the namespace as root) with its output in the pod's log file.
func (m *Mesh) spawn(p Pod, role string, uid int, argv, env []string) error {
	logPath := filepath.Join(m.podDir(p.Name), role+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	id := strconv.Itoa(uid)
	full := append([]string{"netns", "exec", m.net.netns(p.Name),
		"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups", "--"}, argv...)
	cmd := exec.Command("ip", full...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	// A process group of its own: Ctrl+C in the operator's terminal reaches meshlab, which then
	// stops its children in order, instead of every process at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("pod %s: start %s: %w", p.Name, role, err)
	}
	pr := &process{pod: p.Name, role: role, cmd: cmd, log: logf, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(pr.exited) }()
	m.procs = append(m.procs, pr)
	m.opts.Logger.Debug("local mesh: started", "pod", p.Name, "role", role, "pid", cmd.Process.Pid, "log", logPath)
	return nil
}

// waitReady polls every sidecar's readiness endpoint and every application port until they
// answer, a process exits, or ctx ends.
func (m *Mesh) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for _, p := range m.topo.Pods {
		ip := m.net.plan.Pods[p.Name].Addr()
		ready := fmt.Sprintf("http://%s/healthz/ready", netip.AddrPortFrom(ip, proxyHealthPort))
		for {
			if err := m.exitedEarly(p.Name); err != nil {
				return err
			}
			resp, err := client.Get(ready)
			if err == nil {
				resp.Body.Close()
			}
			appUp := p.Port == 0 || dialOK(netip.AddrPortFrom(ip, p.Port))
			if err == nil && resp.StatusCode == http.StatusOK && appUp {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("pod %s: not ready (sidecar %s, app port %d): %w; logs in %s",
					p.Name, ready, p.Port, ctx.Err(), m.podDir(p.Name))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func dialOK(ap netip.AddrPort) bool {
	c, err := net.DialTimeout("tcp", ap.String(), time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func (m *Mesh) exitedEarly(pod string) error {
	for _, pr := range m.procs {
		if pr.pod != pod {
			continue
		}
		select {
		case <-pr.exited:
			return fmt.Errorf("pod %s: %s exited during start-up (%v); see %s",
				pod, pr.role, pr.cmd.ProcessState, pr.log.Name())
		default:
		}
	}
	return nil
}

// Stop ends every process this mesh started (SIGTERM, then SIGKILL after a grace period, by PID)
// and removes the network. It is safe to call more than once.
func (m *Mesh) Stop(ctx context.Context) {
	for i := len(m.procs) - 1; i >= 0; i-- {
		pr := m.procs[i]
		_ = pr.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-pr.exited:
		case <-time.After(5 * time.Second):
			_ = pr.cmd.Process.Kill()
			<-pr.exited
		}
		pr.log.Close()
	}
	m.procs = nil
	m.net.down(ctx, m.topo.Pods)
}

// PodAddr is the pod's address on the bridge, reachable from this machine.
func (m *Mesh) PodAddr(pod string) netip.Addr { return m.net.plan.Pods[pod].Addr() }

// ServiceVIP is the service's virtual IP (reachable only from inside pods, through capture).
func (m *Mesh) ServiceVIP(service string) netip.Addr { return m.net.plan.VIPs[service] }

// Netns is the name of the pod's network namespace, for `ip netns exec`.
func (m *Mesh) Netns(pod string) string { return m.net.netns(pod) }

// LogDir is where the pod's process logs are.
func (m *Mesh) LogDir(pod string) string { return m.podDir(pod) }
