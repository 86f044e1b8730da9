package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Harness runs the three cases in one lab, one after another, so that they share the pods, the
// echo server and the machine's state.
type Harness struct {
	Lab *Lab
	// Sidecar is the argv prefix of the sidecar commands `proxy` and `init`:
	// {"/path/meshlab-proxy"} or {"/path/meshlab", "mesh"}.
	Sidecar []string
	// Pilot is the argv prefix of `pilot` ({"/path/meshlab", "mesh"}): the control plane whose
	// CA certifies the sidecars in the mutual TLS cases. Empty: those cases are not run.
	Pilot []string
	// ProxyArgs are extra flags for the sidecar proxies (MESHLAB_BENCH_PROXY_ARGS), such as
	// --concurrency 1, to compare settings.
	ProxyArgs []string
	// ProxyEnv are extra environment variables for the sidecar proxies only
	// (MESHLAB_BENCH_PROXY_ENV), such as GOGC=200, to compare runtime settings.
	ProxyEnv []string
	// Helper is the argv of a program that calls RunHelper (the test binary, in practice). It
	// runs inside the pods as UID 65534, so it must be readable and executable by that user.
	Helper []string
	Dir    string // config files and process logs; readable by UID 1337
	Load   LoadOptions
	Warmup time.Duration // unmeasured load before each case (connections, pools, caches)
	Logger *slog.Logger
}

// Run builds the lab, runs direct, meshlab and haproxy, then with Pilot the same two proxies
// doing mutual TLS between the pods (meshlab mTLS, haproxy TLS), and removes the lab.
func (h *Harness) Run(ctx context.Context) (_ []Result, err error) {
	l := h.Lab
	if err := l.Up(ctx); err != nil {
		return nil, err
	}
	defer l.Down(context.WithoutCancel(ctx))

	echo, err := h.start("echo server", "server", AppUID, h.Helper, helperEnv(RoleEcho, map[string]string{envAddr: ":" + strconv.Itoa(AppPort)}))
	if err != nil {
		return nil, err
	}
	defer echo.Stop()
	if err := echo.WaitReady(ctx, "port "+strconv.Itoa(AppPort), listening(l, "server", ":"+strconv.Itoa(AppPort))); err != nil {
		return nil, err
	}

	var results []Result
	direct, err := h.runCase(ctx, "direct", echoURL(l.Server), nil)
	if err != nil {
		return nil, err
	}
	results = append(results, direct)

	// From here on both pods capture traffic exactly as injected pods do.
	if err := l.Capture(ctx, h.Sidecar); err != nil {
		return results, err
	}
	mesh, err := h.meshlabCase(ctx, "meshlab")
	if err != nil {
		return results, err
	}
	results = append(results, mesh)
	// The same sidecars with ten ALLOW policies on the server side, the last one matching: what
	// authorization adds to a request (issue 14).
	rules, err := h.meshlabCase(ctx, CaseAllowRules, allowRulesDoc(clientByAddress(l)))
	if err != nil {
		return results, err
	}
	results = append(results, rules)
	ha, err := h.haproxyCase(ctx)
	if err != nil {
		return results, err
	}
	results = append(results, ha)
	if len(h.Pilot) == 0 {
		h.Logger.Warn("bench: no meshlab binary for the control plane; the mutual TLS cases are not run")
		return results, nil
	}
	mm, err := h.meshlabMTLSCase(ctx, CaseMeshlabMTLS)
	if err != nil {
		return results, err
	}
	results = append(results, mm)
	// The ten ALLOW policies again, the matching one naming the client's identity, which only
	// mutual TLS gives the server (issue 14's "mTLS and 10 ALLOW rules").
	mr, err := h.meshlabMTLSCase(ctx, CaseMTLSAllowRules, allowRulesDoc(clientByIdentity))
	if err != nil {
		return results, err
	}
	results = append(results, mr)
	ht, err := h.haproxyTLSCase(ctx)
	if err != nil {
		return results, err
	}
	return append(results, ht), nil
}

// Case names of the mutual TLS runs.
const (
	CaseMeshlabMTLS = "meshlab mTLS"
	CaseHAProxyTLS  = "haproxy TLS"
)

// meshlabMTLSCase runs the control plane on the host (its CA certifies both sidecars, over the
// bridge) and the sidecars with --mtls: the client's originates mutual TLS to the server pod
// (auto mTLS: the registry marks it as running a sidecar), the server's terminates it. Extra
// config documents (policies) go to the control plane, which serves them to the sidecars.
func (h *Harness) meshlabMTLSCase(ctx context.Context, name string, extra ...string) (Result, error) {
	l := h.Lab
	reg, err := writeFile(h.Dir, "registry-mtls.yaml", withDocs(meshlabMTLSRegistryDoc(l), extra))
	if err != nil {
		return Result{}, err
	}
	xds := netip.AddrPortFrom(l.Gateway, 15010).String()
	pilot, err := StartProc("meshlab control plane", append(slices.Clip(h.Pilot), "pilot", "--registry", "file", "--config", reg,
		"--grpc", xds, "--debug", netip.AddrPortFrom(l.Gateway, 15014).String()), nil, filepath.Join(h.Dir, "pilot.log"))
	if err != nil {
		return Result{}, err
	}
	defer pilot.Stop()
	procs := []*Proc{}
	defer func() {
		for _, p := range procs {
			p.Stop()
		}
	}()
	for _, side := range []struct{ pod, workload, app string }{{"client", "client-v1", "client"}, {"server", "server-v1", "server"}} {
		doc, err := writeFile(h.Dir, side.pod+"-proxy.yaml", meshlabProxyDoc(side.workload, side.app, l, side.pod))
		if err != nil {
			return Result{}, err
		}
		args := append(slices.Clip(h.Sidecar), "proxy", "--config", doc, "--xds", xds, "--mtls", "--service-account", side.pod)
		p, err := h.start("meshlab "+side.pod+"-side mTLS", side.pod, ProxyUID, append(args, h.ProxyArgs...), h.ProxyEnv)
		if err != nil {
			return Result{}, err
		}
		procs = append(procs, p)
		ready := fmt.Sprintf("http://%s/healthz/ready", netip.AddrPortFrom(l.podAddr(side.pod), HealthPort))
		if err := p.WaitReady(ctx, ready+" (a config and a certificate)", httpOK(ready)); err != nil {
			return Result{}, err
		}
	}
	return h.runCase(ctx, name, echoURL(l.VIP), procs)
}

// haproxyTLSCase is haproxyCase with HAProxy doing the same TLS work as the sidecars: the
// client side originates TLS with a client certificate and verifies the server's, the server
// side terminates it and verifies the client's.
func (h *Harness) haproxyTLSCase(ctx context.Context) (Result, error) {
	l := h.Lab
	files, err := writeHAProxyTLS(h.Dir)
	if err != nil {
		return Result{}, err
	}
	var procs []*Proc
	defer func() {
		for _, p := range procs {
			p.Stop()
		}
	}()
	sides := []struct{ pod, cfg string }{
		{"client", haproxyTLSClientConfig(fmt.Sprintf(":%d", OutboundPort), netip.AddrPortFrom(l.Server, AppPort).String(), files)},
		{"server", haproxyTLSServerConfig(fmt.Sprintf(":%d", InboundPort), fmt.Sprintf("127.0.0.1:%d", AppPort), files)},
	}
	for _, s := range sides {
		cfg, err := writeFile(h.Dir, s.pod+"-haproxy-tls.cfg", s.cfg)
		if err != nil {
			return Result{}, err
		}
		p, err := h.start("haproxy "+s.pod+"-side TLS", s.pod, ProxyUID, []string{"haproxy", "-db", "-f", cfg}, nil)
		if err != nil {
			return Result{}, err
		}
		procs = append(procs, p)
		port := OutboundPort
		if s.pod == "server" {
			port = InboundPort
		}
		if err := p.WaitReady(ctx, fmt.Sprintf("port :%d", port), listening(l, s.pod, fmt.Sprintf(":%d", port))); err != nil {
			return Result{}, err
		}
	}
	return h.runCase(ctx, CaseHAProxyTLS, echoURL(l.VIP), procs)
}

// withDocs joins config documents to a registry document as one YAML stream.
func withDocs(registry string, extra []string) string {
	return strings.Join(append([]string{registry}, extra...), "\n---\n")
}

func echoURL(a netip.Addr) string {
	return fmt.Sprintf("http://%s/echo?size=1024", netip.AddrPortFrom(a, AppPort))
}

// meshlabCase runs meshlab's sidecars as UID 1337 in both pods, with extra config documents
// when given; the client calls the VIP.
func (h *Harness) meshlabCase(ctx context.Context, name string, extra ...string) (Result, error) {
	l := h.Lab
	reg, err := writeFile(h.Dir, "registry.yaml", withDocs(meshlabRegistryDoc(l), extra))
	if err != nil {
		return Result{}, err
	}
	var procs []*Proc
	defer func() {
		for _, p := range procs {
			p.Stop()
		}
	}()
	for _, side := range []struct{ pod, workload, app string }{{"client", "client-v1", "client"}, {"server", "server-v1", "server"}} {
		doc, err := writeFile(h.Dir, side.pod+"-proxy.yaml", meshlabProxyDoc(side.workload, side.app, l, side.pod))
		if err != nil {
			return Result{}, err
		}
		p, err := h.start("meshlab "+side.pod+"-side", side.pod, ProxyUID,
			append(append(slices.Clip(h.Sidecar), "proxy", "--config", doc, "--config", reg), h.ProxyArgs...), h.ProxyEnv)
		if err != nil {
			return Result{}, err
		}
		procs = append(procs, p)
		ready := fmt.Sprintf("http://%s/healthz/ready", netip.AddrPortFrom(l.podAddr(side.pod), HealthPort))
		if err := p.WaitReady(ctx, ready, httpOK(ready)); err != nil {
			return Result{}, err
		}
	}
	return h.runCase(ctx, name, echoURL(l.VIP), procs)
}

// haproxyCase puts HAProxy where the sidecars were: on the client pod's outbound port (upstream:
// the server pod) and the server pod's inbound port (upstream: the local echo server), as UID
// 1337 so that its own connections are not captured.
func (h *Harness) haproxyCase(ctx context.Context) (Result, error) {
	l := h.Lab
	var procs []*Proc
	defer func() {
		for _, p := range procs {
			p.Stop()
		}
	}()
	sides := []struct{ pod, listen, upstream string }{
		{"client", fmt.Sprintf(":%d", OutboundPort), netip.AddrPortFrom(l.Server, AppPort).String()},
		{"server", fmt.Sprintf(":%d", InboundPort), fmt.Sprintf("127.0.0.1:%d", AppPort)},
	}
	for _, s := range sides {
		cfg, err := writeFile(h.Dir, s.pod+"-haproxy.cfg", haproxyConfig(s.listen, s.upstream))
		if err != nil {
			return Result{}, err
		}
		p, err := h.start("haproxy "+s.pod+"-side", s.pod, ProxyUID, []string{"haproxy", "-db", "-f", cfg}, nil)
		if err != nil {
			return Result{}, err
		}
		procs = append(procs, p)
		if err := p.WaitReady(ctx, "port "+s.listen, listening(l, s.pod, s.listen)); err != nil {
			return Result{}, err
		}
	}
	return h.runCase(ctx, "haproxy", echoURL(l.VIP), procs)
}

// runCase warms up, then runs the measured load from the client pod and reads the proxies'
// CPU time around it.
func (h *Harness) runCase(ctx context.Context, name, url string, proxies []*Proc) (Result, error) {
	// A load that does not end on time fails its case by name rather than the whole run later.
	ctx, cancel := context.WithTimeout(ctx, h.Warmup+h.Load.Duration+2*time.Minute)
	defer cancel()
	if h.Warmup > 0 {
		warm := h.Load
		warm.URL, warm.Duration = url, h.Warmup
		if _, err := h.load(ctx, warm); err != nil {
			return Result{}, fmt.Errorf("case %s: warm-up: %w", name, err)
		}
	}
	before := make([]Usage, len(proxies))
	for i, p := range proxies {
		u, err := ReadUsage(p.Pid())
		if err != nil {
			return Result{}, fmt.Errorf("case %s: %s: %w", name, p.Name, err)
		}
		before[i] = u
	}
	o := h.Load
	o.URL = url
	h.Logger.Info("bench: case", "case", name, "url", url, "duration", o.Duration)
	start := time.Now()
	lr, err := h.load(ctx, o)
	if err != nil {
		return Result{}, fmt.Errorf("case %s: %w", name, err)
	}
	r := Result{Case: name, Load: lr, Elapsed: time.Since(start)}
	for i, p := range proxies {
		u, err := ReadUsage(p.Pid())
		if err != nil {
			return Result{}, fmt.Errorf("case %s: %s: %w", name, p.Name, err)
		}
		r.Proxies = append(r.Proxies, ProxyUsage{Name: p.Name, CPU: u.CPU - before[i].CPU, RSS: u.RSS, Anon: u.Anon})
	}
	h.Logger.Info("bench: done", "case", name, "requests", lr.Requests, "errors", lr.Errors, "p99", lr.P99)
	return r, nil
}

// load runs the helper as the load generator inside the client pod (captured: UID 65534).
func (h *Harness) load(ctx context.Context, o LoadOptions) (LoadResult, error) {
	env := helperEnv(RoleLoad, map[string]string{
		envURL: o.URL, envQPS: strconv.FormatFloat(o.QPS, 'f', -1, 64),
		envConns: strconv.Itoa(o.Connections), envDuration: o.Duration.String(), envShape: string(o.Shape),
	})
	argv := h.Lab.Command("client", AppUID, h.Helper...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return LoadResult{}, fmt.Errorf("load generator in pod client: %w: %s", err, tail(stderr.Bytes()))
	}
	// The first JSON value on stdout; a test binary may print its own lines after it.
	var lr LoadResult
	if err := json.NewDecoder(&stdout).Decode(&lr); err != nil {
		return LoadResult{}, fmt.Errorf("load generator output %q: %w (stderr: %s)", tail(stdout.Bytes()), err, tail(stderr.Bytes()))
	}
	return lr, nil
}

func (h *Harness) start(name, pod string, uid int, argv, env []string) (*Proc, error) {
	log := filepath.Join(h.Dir, strings.ReplaceAll(name, " ", "-")+".log")
	return StartProc(name, h.Lab.Command(pod, uid, argv...), env, log)
}

func tail(b []byte) string {
	const n = 2000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}
