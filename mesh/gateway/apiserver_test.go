package gateway

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"

	"github.com/meshlab/meshlab/bookinfo/deploy"
	kubekit "github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/internal/kubetest"
	"github.com/meshlab/meshlab/mesh/crds"
	"github.com/meshlab/meshlab/mesh/pilot/kubereg"
)

// TestKubeSourceOnRealAPIServer feeds the gateway from a real kube-apiserver: mesh/pilot/kubereg's
// registry for services and routing, the Gateway listed through the Istio clientset, with
// bookinfo-gateway.yaml applied unchanged. Endpoint addresses are data only: nothing dials them.
func TestKubeSourceOnRealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	c.InstallCRDs(t, crds.All)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitGatewayCRD(ctx, t, c)
	kc := c.Client(t)
	ns := "bookinfo"
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "productpage", Namespace: ns, Labels: map[string]string{"app": "productpage"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "productpage"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}}}}
	if _, err := kc.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	port, name, proto, ready := int32(9080), "http", corev1.ProtocolTCP, true
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "productpage-1", Namespace: ns,
		Labels: map[string]string{discoveryv1.LabelServiceName: "productpage"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.7"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}}}
	if _, err := kc.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := kubekit.Load(kubekit.LoadOptions{Kubeconfig: c.Kubeconfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := kubekit.NewClient(cfg.REST)
	if err != nil {
		t.Fatal(err)
	}
	sample, _ := deploy.Sample(deploy.GatewayFile)
	objs, err := deploy.Decode(deploy.GatewayFile, sample)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		o.SetNamespace(ns)
	}
	if _, err := dc.Apply(ctx, objs); err != nil {
		t.Fatal(err)
	}
	reg, err := kubereg.New(c.Config, kubereg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ic, err := istioclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	src := &KubeSource{Registry: reg, Istio: ic, Path: path, Poll: 100 * time.Millisecond}
	sctx, scancel := context.WithCancel(ctx)
	ready2 := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- src.Run(sctx, ready2) }()
	select {
	case <-ready2:
	case err := <-done:
		t.Fatalf("source: %v", err)
	case <-ctx.Done():
		t.Fatal("no config within the deadline")
	}
	var tr *Translation
	for {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		tr, err = Translate(map[string][]byte{"cluster.yaml": data}, DefaultLabels(), Identity{})
		if err == nil && len(tr.Servers) == 1 && tr.Servers[0].Routes == 1 && strings.Contains(string(tr.Config), "10.244.1.7") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("cluster config never had the gateway, its route and productpage's endpoint: %v\n%s", err, data)
		}
		time.Sleep(100 * time.Millisecond)
	}
	scancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := tr.Servers[0]; s.Port != 8080 || s.Gateways[0] != ns+"/bookinfo-gateway" {
		t.Fatalf("server %+v", s)
	}
}

// waitGatewayCRD waits until the Gateway CRD (one of meshlab's, installed by InstallCRDs) serves.
func waitGatewayCRD(ctx context.Context, t *testing.T, c *kubetest.Cluster) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvr := deployGatewayGVR()
	for {
		if _, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{}); err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("the Gateway CRD was not served in time")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deployGatewayGVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}
}
