package gateway

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// staticRegistry pushes one State, as mesh/pilot/kubereg's watcher does after its first sync.
type staticRegistry struct{ s model.State }

func (r staticRegistry) Run(ctx context.Context, push func(model.State)) error {
	push(r.s)
	<-ctx.Done()
	return nil
}

func TestKubeSourceFeedsTranslate(t *testing.T) {
	vs := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "bookinfo", Namespace: "bookinfo"},
		Spec: v1alpha3.VirtualService{Hosts: []string{"*"}, Gateways: []string{"bookinfo-gateway"},
			Http: []*v1alpha3.HTTPRoute{{
				Match: []*v1alpha3.HTTPMatchRequest{{Uri: &v1alpha3.StringMatch{MatchType: &v1alpha3.StringMatch_Exact{Exact: "/productpage"}}}},
				Route: []*v1alpha3.HTTPRouteDestination{{Destination: &v1alpha3.Destination{Host: "productpage", Port: &v1alpha3.PortSelector{Number: 9080}}}},
			}}}}
	gw := &networkingv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "bookinfo-gateway", Namespace: "bookinfo"},
		Spec: v1alpha3.Gateway{Selector: map[string]string{"istio": "ingressgateway"},
			Servers: []*v1alpha3.Server{{Port: &v1alpha3.Port{Number: 8080, Name: "http", Protocol: "HTTP"}, Hosts: []string{"*"}}}}}
	state := model.State{
		Services: []config.Service{{Name: "productpage", Namespace: "bookinfo", VIPs: []netip.Addr{netip.MustParseAddr("10.96.0.10")},
			Ports:     []config.Port{{Name: "http", Port: 9080, Protocol: "HTTP"}},
			Endpoints: []config.Endpoint{{Address: netip.MustParseAddr("10.244.1.7"), Labels: map[string]string{"app": "productpage"}}}}},
		VirtualServices: []*networkingv1.VirtualService{vs},
	}
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ic := istiofake.NewSimpleClientset()
	if _, err := ic.NetworkingV1().Gateways("bookinfo").Create(ctx, gw, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	src := &KubeSource{Registry: staticRegistry{state}, Istio: ic, Path: path, Poll: 10 * time.Millisecond}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, ready) }()
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("no config file written within 30 s")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Translate(map[string][]byte{"cluster.yaml": data}, DefaultLabels(), Identity{})
	if err != nil {
		t.Fatalf("translate:\n%s\n%v", data, err)
	}
	if len(tr.Servers) != 1 || tr.Servers[0].Port != 8080 || tr.Servers[0].Routes != 1 {
		t.Fatalf("servers %+v", tr.Servers)
	}
}
