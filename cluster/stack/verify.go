package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/meshlab/meshlab/bookinfo/deploy"
	"github.com/meshlab/meshlab/bookinfo/verify"
	"github.com/meshlab/meshlab/mesh/gateway"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
)

// Verify runs the quick (smoke) checks of `meshlab verify bookinfo` against the lab: Bookinfo's
// pods, the page through the gateway, the addons answering. Read-only, so it always runs; the
// full checklist (routing scenarios, traces, dashboards) stays with `meshlab verify bookinfo`.
type Verify struct{ plan *plan }

func (*Verify) Title() string { return "Verify Bookinfo (quick checks)" }
func (*Verify) Name() string  { return "verify" }

func (v *Verify) ShouldRun(*engine.Run) bool { return v.plan.components().Bookinfo }

func (p *plan) firstNode() string {
	if len(p.Lab.Hosts) == 0 {
		return ""
	}
	return p.Lab.Hosts[0].Address
}

func (p *plan) verifyOptions() verify.ClusterOptions {
	return verify.ClusterOptions{
		Kubeconfig: p.kubeconfigPath(), Namespace: deploy.DefaultNamespace, Node: p.firstNode(), Offline: p.offline(),
		Ports: verify.NodePorts{
			Gateway:    p.nodePort("gateway", gateway.DefaultNodePort),
			Prometheus: p.nodePort("prometheus", inventory.DefaultPrometheusNodePort),
			Tracing:    p.nodePort("zipkin", inventory.DefaultZipkinNodePort), // either backend's UI
			Grafana:    p.nodePort("grafana", inventory.DefaultGrafanaNodePort),
		},
	}
}

// eventObserver turns each finished check into a task event of the verify phase.
type eventObserver struct{ r *engine.Run }

func (eventObserver) Started(string, verify.Checker) {}
func (o eventObserver) Finished(res verify.Result) {
	t := newTask(o.r, nil, "verify", res.Category+"/"+res.Check)
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
	lab, err := v.plan.VerifyLab(v.plan.verifyOptions())
	if err != nil {
		return newTask(r, nil, "verify", "Connect to the lab").fail("", err)
	}
	results, failed := verify.Runner{Quick: true, NoRetry: v.plan.noRetry}.Run(ctx, verify.Suite(lab), eventObserver{r: r})
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

func (v *Verify) DryRun(_ context.Context, r *engine.Run) error {
	o := v.plan.verifyOptions()
	newTask(r, nil, "verify", "Quick checks").Plan("would run `meshlab verify bookinfo --quick` against http://" +
		net.JoinHostPort(o.Node, strconv.Itoa(o.Ports.Gateway)) + "/productpage")
	return nil
}
