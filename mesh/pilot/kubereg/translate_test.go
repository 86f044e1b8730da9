package kubereg

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestWorkloadOf(t *testing.T) {
	yes := true
	cases := []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{"deployment pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "reviews-v1-abc-x",
			Labels:          map[string]string{"pod-template-hash": "abc"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "reviews-v1-abc", Controller: &yes}}}}, "reviews-v1"},
		{"statefulset pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0",
			OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: "db", Controller: &yes}}}}, "db"},
		{"bare pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sleep"}}, "sleep"},
	}
	for _, c := range cases {
		if got := workloadOf(&c.pod); got != c.want {
			t.Errorf("%s: workload %q, want %q", c.name, got, c.want)
		}
	}
}

// A named targetPort resolves through the EndpointSlice; UDP ports and ExternalName services,
// which no sidecar proxies, are left out; appProtocol becomes the proxy's protocol.
func TestServicesTranslation(t *testing.T) {
	grpc, name, port := "grpc", "grpc-api", int32(8443)
	objs := Objects{
		Services: []*corev1.Service{
			{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "ns"}, Spec: corev1.ServiceSpec{
				ClusterIPs: []string{"10.96.0.9"},
				Ports: []corev1.ServicePort{
					{Name: name, Port: 443, TargetPort: intstr.FromString("api"), AppProtocol: &grpc},
					{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
				}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName}},
		},
		EndpointSlices: []*discoveryv1.EndpointSlice{{
			ObjectMeta:  metav1.ObjectMeta{Name: "api-1", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}}},
		}},
	}
	got := services(objs, nil, "cluster.local")
	if len(got) != 1 || got[0].Name != "api" {
		t.Fatalf("services %+v, want only api", got)
	}
	s := got[0]
	if len(s.Ports) != 1 || s.Ports[0].TargetPort != 8443 || s.Ports[0].Protocol != "GRPC" {
		t.Fatalf("ports %+v, want 443->8443 GRPC only", s.Ports)
	}
	if len(s.Endpoints) != 1 || s.Endpoints[0].Address.String() != "10.244.1.5" || s.Endpoints[0].Workload != "" {
		t.Fatalf("endpoints %+v", s.Endpoints)
	}
}
