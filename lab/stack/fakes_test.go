package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshlab/meshlab/internal/kube"
	mapperfake "github.com/meshlab/meshlab/internal/kube/kubefake"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/transport"
	"github.com/meshlab/meshlab/provision/versions"
)

// fakeCluster is a cluster where every server-side apply is recorded and every applied
// Deployment (and NodePort Service) appears at once, rolled out: the typed fake clientset
// stands in for the controllers.
type fakeCluster struct {
	mu      sync.Mutex
	applied []string // resource/namespace/name, in order
	kube    *fake.Clientset
	clients *Clients
}

func newFakeCluster(t *testing.T) *fakeCluster {
	t.Helper()
	fc := &fakeCluster{kube: fake.NewClientset()}
	dyn := dynfake.NewSimpleDynamicClient(runtime.NewScheme())
	dyn.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		if p.GetPatchType() != "application/apply-patch+yaml" {
			return true, nil, fmt.Errorf("patch type %s, want server-side apply", p.GetPatchType())
		}
		fc.mu.Lock()
		fc.applied = append(fc.applied, a.GetResource().Resource+"/"+p.GetNamespace()+"/"+p.GetName())
		fc.mu.Unlock()
		var u unstructured.Unstructured
		if err := json.Unmarshal(p.GetPatch(), &u.Object); err != nil {
			return true, nil, err
		}
		return true, &u, fc.materialize(&u)
	})
	fc.clients = &Clients{Client: &kube.Client{Kube: fc.kube, Dynamic: dyn, Mapper: mapperfake.Mapper()}, Helm: memoryHelm(), Poll: time.Millisecond}
	return fc
}

// materialize mirrors applied Deployments and Services into the typed clientset.
func (fc *fakeCluster) materialize(u *unstructured.Unstructured) error {
	ctx := context.Background()
	switch u.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
			return err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, UpdatedReplicas: want, AvailableReplicas: want, ReadyReplicas: want}
		return upsert(ctx, fc.kube.AppsV1().Deployments(d.Namespace), &d)
	case "Service":
		var s corev1.Service
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &s); err != nil {
			return err
		}
		return upsert(ctx, fc.kube.CoreV1().Services(s.Namespace), &s)
	}
	return nil
}

type creatorUpdater[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
}

func upsert[T any](ctx context.Context, c creatorUpdater[T], obj T) error {
	_, err := c.Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = c.Update(ctx, obj, metav1.UpdateOptions{})
	}
	return err
}

func (fc *fakeCluster) appliedList() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]string(nil), fc.applied...)
}

// memoryHelm is a Helm configuration with releases in memory and a cluster that accepts
// everything and is ready at once.
func memoryHelm() *action.Configuration {
	return &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Emit(e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// tasks returns "kind task: line" for the task events of a phase.
func (r *recorder) tasks(phase string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Phase == phase && strings.HasPrefix(string(e.Kind), "task.") {
			out = append(out, string(e.Kind)+" "+e.Task+": "+e.Line)
		}
	}
	return out
}

// fakeNode is a transport that records commands. Commands containing a key of fail exit with
// that status; uploads are read and counted.
type fakeNode struct {
	name string
	mu   sync.Mutex
	cmds []string
	puts []string
	// loaded answers the side-load guard: true once the image was imported.
	loaded bool
}

func (n *fakeNode) Run(_ context.Context, c transport.Cmd) (transport.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cmds = append(n.cmds, c.Command)
	switch {
	case strings.HasPrefix(c.Command, "test "): // the side-load guard
		if !n.loaded {
			return transport.Result{ExitStatus: 1}, &transport.ExitError{Command: c.Command, ExitStatus: 1}
		}
	case strings.Contains(c.Command, "images import"):
		n.loaded = true
	}
	return transport.Result{}, nil
}

func (n *fakeNode) Put(_ context.Context, r io.Reader, u transport.Upload) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.puts = append(n.puts, u.Path)
	return nil
}

func (n *fakeNode) Get(context.Context, string, bool) ([]byte, error) { return nil, io.EOF }
func (n *fakeNode) Name() string                                      { return n.name }
func (n *fakeNode) Close() error                                      { return nil }

// testLab is a two-node lab with the whole stack chosen.
func testLab() *inventory.Lab {
	return &inventory.Lab{
		Name:     "t",
		Versions: versions.Default(),
		Components: inventory.Components{Mesh: true, Bookinfo: true, Addons: inventory.DefaultAddons(),
			NodePorts: inventory.DefaultNodePorts()},
		Hosts: []inventory.Host{{Name: "cp", Address: "10.9.0.2"}, {Name: "w1", Address: "10.9.0.3"}},
	}
}

func testRun(rec *recorder, nodes ...*fakeNode) *engine.Run {
	r := &engine.Run{Action: "up", Lab: "t", Sink: rec}
	for _, n := range nodes {
		r.Hosts = append(r.Hosts, &engine.Host{Name: n.name, Transport: n})
	}
	return r
}

func metav1GetOptions() metav1.GetOptions { return metav1.GetOptions{} }
