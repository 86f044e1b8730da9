package describe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"istio.io/api/security/v1beta1"
	typev1beta1 "istio.io/api/type/v1beta1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshlab/meshlab/internal/golden"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/inject"
	"github.com/meshlab/meshlab/mesh/pilot/server"
	"github.com/meshlab/meshlab/mesh/proxy"
)

var now = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func reviewsPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews-v2-7d9c", Namespace: "bookinfo", Labels: map[string]string{"app": "reviews", "version": "v2"},
			Annotations: map[string]string{inject.StatusAnnotation: "{}"}},
		Spec: corev1.PodSpec{ServiceAccountName: "bookinfo-reviews"},
		Status: corev1.PodStatus{PodIP: "10.244.1.7", InitContainerStatuses: []corev1.ContainerStatus{
			{Name: inject.ProxyContainerName, Ready: true}}},
	}
}

func pa(ns, name string, sel map[string]string, mode v1beta1.PeerAuthentication_MutualTLS_Mode, ports map[uint32]*v1beta1.PeerAuthentication_MutualTLS) *securityv1.PeerAuthentication {
	p := &securityv1.PeerAuthentication{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	p.Spec.Mtls = &v1beta1.PeerAuthentication_MutualTLS{Mode: mode}
	if sel != nil {
		p.Spec.Selector = &typev1beta1.WorkloadSelector{MatchLabels: sel}
	}
	p.Spec.PortLevelMtls = ports
	return p
}

func TestDescribeGolden(t *testing.T) {
	kube := fake.NewClientset(reviewsPod())
	istio := istiofake.NewSimpleClientset(
		pa(config.RootNamespace, "default", nil, v1beta1.PeerAuthentication_MutualTLS_STRICT, nil),
		pa("bookinfo", "reviews", map[string]string{"app": "reviews"}, v1beta1.PeerAuthentication_MutualTLS_UNSET,
			map[uint32]*v1beta1.PeerAuthentication_MutualTLS{9080: {Mode: v1beta1.PeerAuthentication_MutualTLS_PERMISSIVE}}),
		pa("other", "default", nil, v1beta1.PeerAuthentication_MutualTLS_DISABLE, nil),
	)
	certs := proxy.CertStatus{Identity: "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews", Serial: "3fa2",
		NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(22 * time.Hour), Root: "O=meshlab,CN=meshlab mesh root CA",
		InboundTLS: "STRICT (9080: PERMISSIVE)",
		Outbound: []proxy.ClusterTLS{
			{Cluster: "outbound|9080||ratings.bookinfo.svc.cluster.local", Mode: "auto", MTLS: 1, Endpoints: 1},
			{Cluster: "outbound|443||legacy.bookinfo.svc.cluster.local", Mode: "SIMPLE", Endpoints: 1},
			{Cluster: "outbound|80||web.bookinfo.svc.cluster.local", Mode: "auto", MTLS: 1, Endpoints: 3},
		}}
	src := Sources{Kube: kube, Istio: istio,
		Fetch: func(_ context.Context, ns, pod string, port int, path string) ([]byte, error) {
			if ns != "bookinfo" || pod != "reviews-v2-7d9c" || port != 15021 || path != "/certs" {
				return nil, errors.New("unexpected fetch")
			}
			return json.Marshal(certs)
		},
		Status: func(context.Context) ([]server.ProxyStatus, error) {
			return []server.ProxyStatus{{ID: "reviews-v2-7d9c.bookinfo", State: server.StateSynced, Version: "1a2b3c",
				Identity: "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews"}}, nil
		}}
	r, err := Gather(context.Background(), src, "bookinfo", "reviews-v2-7d9c")
	if err != nil {
		t.Fatal(err)
	}
	r.Now = now
	var out bytes.Buffer
	if err := r.Write(&out); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/reviews.golden.txt", out.Bytes())
}

func TestDescribeSaysWhatIsMissing(t *testing.T) {
	p := reviewsPod()
	p.Annotations = nil
	src := Sources{Kube: fake.NewClientset(p), Status: func(context.Context) ([]server.ProxyStatus, error) {
		return nil, errors.New("no ready control-plane pod")
	}}
	r, err := Gather(context.Background(), src, "bookinfo", "reviews-v2-7d9c")
	if err != nil {
		t.Fatal(err)
	}
	r.Now = now
	var out bytes.Buffer
	_ = r.Write(&out)
	golden.Check(t, "testdata/uninjected.golden.txt", out.Bytes())
	if _, err := Gather(context.Background(), src, "bookinfo", "nope"); err == nil {
		t.Error("an unknown pod described")
	}
}
