package stack

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlab/meshlab/mesh/gateway"
	"github.com/meshlab/meshlab/mesh/install"
	"github.com/meshlab/meshlab/provision/engine"
)

// Mesh installs the control plane (CRDs, RBAC, meshlab-pilot, webhooks; mesh/install) and the
// ingress gateway (mesh/gateway) from the side-loaded image, and waits for both to roll out.
type Mesh struct{ plan *plan }

func (*Mesh) Title() string { return "Install the mesh and its ingress gateway" }
func (*Mesh) Name() string  { return "mesh" }

func (m *Mesh) ShouldRun(*engine.Run) bool { return m.plan.components().Mesh }

const (
	controlPlaneTask = "Install the control plane"
	gatewayTask      = "Deploy the ingress gateway"
)

func (m *Mesh) gatewayOptions() gateway.ManifestOptions {
	return gateway.ManifestOptions{Namespace: install.Namespace, Image: m.plan.image(),
		PullPolicy: m.plan.pullPolicy(), NodePort: m.plan.nodePort("gateway", gateway.DefaultNodePort)}
}

func (m *Mesh) Run(ctx context.Context, r *engine.Run) error {
	c, err := m.plan.cluster()
	if err != nil {
		return newTask(r, nil, "mesh", controlPlaneTask).fail("the kubeconfig phase writes it: run the cluster phases first", err)
	}
	if err := m.controlPlane(ctx, r, c); err != nil {
		return err
	}
	return m.gateway(ctx, r, c)
}

func (m *Mesh) controlPlane(ctx context.Context, r *engine.Run, c *Clients) error {
	t := newTask(r, nil, "mesh", controlPlaneTask)
	done, err := rolledOut(ctx, c.Kube, install.Namespace, install.Name, m.plan.image())
	if err != nil {
		return t.fail("", err)
	}
	if done {
		t.Skip("")
		return nil
	}
	t.Begin(m.plan.image())
	o := install.Options{Image: m.plan.image(), ImagePullPolicy: corev1.PullPolicy(m.plan.pullPolicy())}
	if o.CACertPEM, o.CAKeyPEM, err = install.EnsureCA(ctx, c.Kube); err != nil {
		return t.fail("", err)
	}
	if o.MeshCA, _, err = install.EnsureMeshCA(ctx, c.Kube); err != nil {
		return t.fail("kubectl -n "+install.Namespace+" get secret "+install.PluggedCASecret+" (your own CA) must hold ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem", err)
	}
	objs, err := install.Render(o)
	if err != nil {
		return t.fail("", err)
	}
	if err := install.CheckTakeover(ctx, c.Client, objs); err != nil {
		return t.fail("this cluster runs another mesh: meshlab's mesh needs a cluster without one", err)
	}
	if _, err := install.Apply(ctx, c.Client, objs); err != nil {
		return t.fail("", err)
	}
	r.Waiting(nil, "mesh", "waiting for "+install.Name+" to roll out")
	if err := c.waitRollouts(ctx, m.plan.WaitTimeout, install.Namespace, install.Name); err != nil {
		return t.fail("kubectl -n "+install.Namespace+" describe pod -l app="+install.Name+" shows why (image not side-loaded? webhook port?)", err)
	}
	t.Done(fmt.Sprintf("%d objects applied; %s ready", len(objs), install.Name))
	return nil
}

func (m *Mesh) gateway(ctx context.Context, r *engine.Run, c *Clients) error {
	t := newTask(r, nil, "mesh", gatewayTask)
	o := m.gatewayOptions()
	done, err := rolledOut(ctx, c.Kube, o.Namespace, gateway.DeploymentName, o.Image)
	if err == nil && done {
		done, err = nodePortIs(ctx, c, o.Namespace, gateway.DeploymentName, o.NodePort)
	}
	if err != nil {
		return t.fail("", err)
	}
	if done {
		t.Skip("")
		return nil
	}
	t.Begin(fmt.Sprintf("NodePort %d", o.NodePort))
	if _, err := c.Apply(ctx, gateway.Manifest(o)); err != nil {
		return t.fail("", err)
	}
	r.Waiting(nil, "mesh", "waiting for "+gateway.DeploymentName+" to roll out")
	if err := c.waitRollouts(ctx, m.plan.WaitTimeout, o.Namespace, gateway.DeploymentName); err != nil {
		return t.fail("kubectl -n "+o.Namespace+" describe pod -l app="+gateway.DeploymentName+" shows why", err)
	}
	t.Done(fmt.Sprintf("%s ready on NodePort %d", gateway.DeploymentName, o.NodePort))
	return nil
}

// nodePortIs says whether the Service's first port is exposed on nodePort.
func nodePortIs(ctx context.Context, c *Clients, ns, name string, nodePort int) (bool, error) {
	s, err := c.Kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, nil // missing: apply creates it
	}
	return len(s.Spec.Ports) > 0 && int(s.Spec.Ports[0].NodePort) == nodePort, nil
}

func (m *Mesh) DryRun(_ context.Context, r *engine.Run) error {
	newTask(r, nil, "mesh", controlPlaneTask).Plan(fmt.Sprintf("would apply the CRDs, %s/%s and the webhooks with image %s (pull policy %s)",
		install.Namespace, install.Name, m.plan.image(), m.plan.pullPolicy()))
	o := m.gatewayOptions()
	newTask(r, nil, "mesh", gatewayTask).Plan(fmt.Sprintf("would deploy %s on NodePort %d", gateway.DeploymentName, o.NodePort))
	return nil
}

// nodePort is the hosts file's NodePort for a component, or def.
func (p *plan) nodePort(component string, def int) int {
	return nodePortOf(p.components(), component, def)
}
