package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/meshlab/meshlab/addons"
	"github.com/meshlab/meshlab/bookinfo/deploy"
	"github.com/meshlab/meshlab/bookinfo/verify"
	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/mesh/gateway"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
)

// VerifyMode is how much of `meshlab verify bookinfo` the verify phase runs.
type VerifyMode string

const (
	// VerifyFull runs the whole checklist: the routing scenarios (applied, observed, and the
	// lab's own routing restored), a trace, Prometheus' targets and series, the dashboards.
	VerifyFull VerifyMode = "full"
	// VerifyQuick runs the smoke checks: pods, the page through the gateway, the addons answering.
	VerifyQuick VerifyMode = "quick"
	// VerifyOff skips the phase.
	VerifyOff VerifyMode = "off"
)

// ParseVerifyMode reads a --verify value.
func ParseVerifyMode(s string) (VerifyMode, error) {
	switch m := VerifyMode(s); m {
	case VerifyFull, VerifyQuick, VerifyOff:
		return m, nil
	case "":
		return VerifyFull, nil
	}
	return "", fmt.Errorf("verify mode %q: want %s, %s or %s", s, VerifyFull, VerifyQuick, VerifyOff)
}

// Verify runs `meshlab verify bookinfo` against the lab, the whole checklist or its smoke checks
// (Options.Verify). Every check leaves the lab as it found it, so the phase always runs.
type Verify struct{ plan *plan }

func (v *Verify) Title() string {
	if v.plan.verifyMode() == VerifyQuick {
		return "Verify Bookinfo (quick checks)"
	}
	return "Verify Bookinfo"
}
func (*Verify) Name() string { return "verify" }

func (v *Verify) ShouldRun(*engine.Run) bool {
	return v.plan.components().Bookinfo && v.plan.verifyMode() != VerifyOff
}

func (p *plan) verifyMode() VerifyMode {
	if p.Verify == "" {
		return VerifyFull
	}
	return p.Verify
}

// firstNode is the address the lab's URLs name: where this machine reaches the nodes' ports.
func (p *plan) firstNode() string {
	if p.Reach != nil {
		if h := p.Reach.NodeHost(); h != "" {
			return h
		}
	}
	if len(p.Lab.Hosts) == 0 {
		return ""
	}
	return p.Lab.Hosts[0].Address
}

// verifyOptions says where verify finds each entry point: the NodePorts as this machine reaches
// them now (through forwarded local ports when the lab is reachable only through SSH).
func (p *plan) verifyOptions(ctx context.Context) (verify.ClusterOptions, error) {
	o := verify.ClusterOptions{
		Namespace: deploy.DefaultNamespace, Node: p.firstNode(), Absent: p.absentAddons(),
		Ports: verify.NodePorts{
			Gateway:    p.nodePort("gateway", gateway.DefaultNodePort),
			Prometheus: p.nodePort("prometheus", inventory.DefaultPrometheusNodePort),
			Tracing:    p.nodePort("zipkin", inventory.DefaultZipkinNodePort), // either backend's UI
			Grafana:    p.nodePort("grafana", inventory.DefaultGrafanaNodePort),
		},
	}
	if p.Reach == nil {
		return o, nil
	}
	host := ""
	for _, port := range []*int{&o.Ports.Gateway, &o.Ports.Prometheus, &o.Ports.Tracing, &o.Ports.Grafana} {
		hp, err := p.Reach.NodePort(ctx, *port)
		if err != nil {
			return o, err
		}
		h, ps, err := net.SplitHostPort(hp)
		if err != nil {
			return o, err
		}
		if host != "" && h != host {
			return o, fmt.Errorf("the NodePorts are reached on %s and %s: verify takes one address", host, h)
		}
		host = h
		if *port, err = strconv.Atoi(ps); err != nil {
			return o, err
		}
	}
	o.Node = host
	return o, nil
}

// eventObserver turns each check into a task of the verify phase, started when the check starts
// (a routing scenario runs for seconds) and timed by it. The runner reports checks one at a time.
type eventObserver struct {
	r   *engine.Run
	cur *task
}

func (o *eventObserver) Started(category string, c verify.Checker) {
	o.cur = newTask(o.r, nil, "verify", category+"/"+c.Name)
	o.cur.Begin(c.Expected)
}

func (o *eventObserver) Finished(res verify.Result) {
	t := o.cur
	if t == nil || t.Name() != res.Category+"/"+res.Check {
		t = newTask(o.r, nil, "verify", res.Category+"/"+res.Check)
	}
	o.cur = nil
	line := res.Observed
	switch res.Status {
	case verify.Passed:
		t.Done(line)
	case verify.Skipped, verify.NotInBundle:
		t.Skip(string(res.Status) + ": " + line)
	case verify.Warning:
		t.Done("warning: " + line + " " + res.Error)
	default:
		_ = t.fail(res.Hint, fmt.Errorf("expected %s, observed %s: %s", res.Expected, res.Observed, res.Error))
	}
}

func (v *Verify) Run(ctx context.Context, r *engine.Run) error {
	o, err := v.plan.verifyOptions(ctx)
	if err != nil {
		return newTask(r, nil, "verify", "Connect to the lab").fail("", err)
	}
	c, err := v.plan.cluster()
	if err != nil {
		return newTask(r, nil, "verify", "Connect to the lab").fail("", err)
	}
	o.Config = c.Config
	lab, err := v.plan.VerifyLab(o)
	if err != nil {
		return newTask(r, nil, "verify", "Connect to the lab").fail("", err)
	}
	if v.plan.addonSettings().ClusterIPOnly() {
		stop, err := v.plan.forwardAddons(ctx, &lab)
		if err != nil {
			return newTask(r, nil, "verify", "Reach the addons through the API server").fail(
				"the addons are ClusterIP only (components.addonService): `meshlab addons port-forward NAME` must work", err)
		}
		defer stop()
	}
	quick := v.plan.verifyMode() == VerifyQuick
	results, failed := verify.Runner{Quick: quick, NoRetry: v.plan.noRetry}.Run(ctx, verify.Suite(lab), &eventObserver{r: r})
	if !failed {
		return nil
	}
	var errs []error
	for _, res := range results {
		if res.Failed() {
			errs = append(errs, &engine.TaskError{Phase: "verify", Task: res.Category + "/" + res.Check, Exit: -1,
				Hint: res.Hint, Err: fmt.Errorf("expected %s, observed %s", res.Expected, res.Observed)})
		}
	}
	return errors.Join(errs...)
}

func (v *Verify) DryRun(ctx context.Context, r *engine.Run) error {
	o, err := v.plan.verifyOptions(ctx)
	if err != nil {
		return err
	}
	cmd := "meshlab verify bookinfo"
	if v.plan.verifyMode() == VerifyQuick {
		cmd += " --quick"
	}
	newTask(r, nil, "verify", "Checks").Plan("would run `" + cmd + "` against http://" +
		net.JoinHostPort(o.Node, strconv.Itoa(o.Ports.Gateway)) + "/productpage")
	return nil
}

// forwardAddons points the lab's addon URLs at port-forwards through the API server: with
// components.addonService ClusterIP the addons have no NodePort to check them on. The returned
// function stops the forwards.
func (p *plan) forwardAddons(ctx context.Context, lab *verify.Lab) (func(), error) {
	forward := p.forward
	if forward == nil {
		forward = portForward
	}
	var stops []func()
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	s := p.addonSettings()
	for _, name := range s.Addons {
		if p.missingFromBundle(s, name) != "" {
			continue
		}
		url, stop, err := forward(ctx, p.kubeconfigPath(), name)
		if err != nil {
			stopAll()
			return nil, err
		}
		stops = append(stops, stop)
		switch name {
		case addons.Prometheus:
			lab.PrometheusURL = url
		case addons.Grafana:
			lab.GrafanaURL = url
		case addons.Zipkin, addons.Jaeger:
			lab.TracingURL = url
		}
	}
	return stopAll, nil
}

func portForward(ctx context.Context, kubeconfigPath, addon string) (string, func(), error) {
	cfg, err := kube.Load(kube.LoadOptions{Kubeconfig: kubeconfigPath})
	if err != nil {
		return "", nil, err
	}
	f, err := addons.PortForward(ctx, cfg.REST, addons.Namespace, addon, 0)
	if err != nil {
		return "", nil, err
	}
	return f.URL, func() { _ = f.Close() }, nil
}
