package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pa parses one PeerAuthentication document, failing the test on error.
func pa(t *testing.T, doc string) *securityv1.PeerAuthentication {
	t.Helper()
	s, err := Parse("pa.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	if len(s.PeerAuthentications) != 1 {
		t.Fatalf("%d PeerAuthentications parsed", len(s.PeerAuthentications))
	}
	return s.PeerAuthentications[0]
}

func paDoc(ns, name, body string) string {
	return "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\nspec:\n" + body
}

func aged(p *securityv1.PeerAuthentication, age time.Duration) *securityv1.PeerAuthentication {
	p.CreationTimestamp = metav1.NewTime(time.Unix(1_800_000_000, 0).Add(-age))
	return p
}

// TestPeerAuthenticationPrecedence follows Istio's ComposePeerAuthentication: mesh, then
// namespace, then workload, UNSET inheriting, the oldest at a level winning, port-level modes
// from the workload policy.
func TestPeerAuthenticationPrecedence(t *testing.T) {
	reviews := map[string]string{"app": "reviews", "version": "v1"}
	meshStrict := paDoc(RootNamespace, "default", "  mtls:\n    mode: STRICT\n")
	nsPermissive := paDoc("bookinfo", "default", "  mtls:\n    mode: PERMISSIVE\n")
	nsUnset := paDoc("bookinfo", "unset", "  mtls: {}\n")
	wlDisable := paDoc("bookinfo", "reviews", "  selector:\n    matchLabels:\n      app: reviews\n  mtls:\n    mode: DISABLE\n")
	wlPorts := paDoc("bookinfo", "reviews-ports", "  selector:\n    matchLabels:\n      app: reviews\n  portLevelMtls:\n    9080:\n      mode: STRICT\n    9090: {}\n")
	otherApp := paDoc("bookinfo", "ratings", "  selector:\n    matchLabels:\n      app: ratings\n  mtls:\n    mode: DISABLE\n")
	otherNS := paDoc("shop", "default", "  mtls:\n    mode: DISABLE\n")
	rootSelector := paDoc(RootNamespace, "sel", "  selector:\n    matchLabels:\n      app: reviews\n  mtls:\n    mode: DISABLE\n")
	nsStrict := paDoc("bookinfo", "strict", "  mtls:\n    mode: STRICT\n")

	for _, tc := range []struct {
		name string
		pas  []*securityv1.PeerAuthentication
		want InboundTLS
	}{
		{"nothing: PERMISSIVE", nil, InboundTLS{Mode: MTLSPermissive}},
		{"mesh-wide", []*securityv1.PeerAuthentication{pa(t, meshStrict)}, InboundTLS{Mode: MTLSStrict}},
		{"namespace overrides mesh", []*securityv1.PeerAuthentication{pa(t, meshStrict), pa(t, nsPermissive)}, InboundTLS{Mode: MTLSPermissive}},
		{"UNSET inherits", []*securityv1.PeerAuthentication{pa(t, meshStrict), pa(t, nsUnset)}, InboundTLS{Mode: MTLSStrict}},
		{"workload overrides namespace", []*securityv1.PeerAuthentication{pa(t, meshStrict), pa(t, wlDisable)}, InboundTLS{Mode: MTLSDisable}},
		{"port level, UNSET port inherits", []*securityv1.PeerAuthentication{pa(t, meshStrict), pa(t, nsPermissive), pa(t, wlPorts)},
			InboundTLS{Mode: MTLSPermissive, Ports: map[uint16]MTLSMode{9080: MTLSStrict, 9090: MTLSPermissive}}},
		{"other workloads and namespaces do not apply", []*securityv1.PeerAuthentication{pa(t, otherApp), pa(t, otherNS)}, InboundTLS{Mode: MTLSPermissive}},
		{"a selector in the root namespace selects nothing", []*securityv1.PeerAuthentication{pa(t, rootSelector)}, InboundTLS{Mode: MTLSPermissive}},
		{"the oldest namespace policy wins", []*securityv1.PeerAuthentication{aged(pa(t, nsPermissive), time.Hour), aged(pa(t, nsStrict), 2*time.Hour)}, InboundTLS{Mode: MTLSStrict}},
		{"same age: the first by name wins", []*securityv1.PeerAuthentication{aged(pa(t, nsStrict), 0), aged(pa(t, nsPermissive), 0)}, InboundTLS{Mode: MTLSPermissive}},
	} {
		got := EffectiveInboundTLS(tc.pas, "bookinfo", reviews)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s: (-want +got)\n%s", tc.name, d)
		}
	}
}

func TestPeerAuthenticationRefusals(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"unknown mode":            {"  mtls:\n    mode: STRICTLY\n", `spec.mtls.mode: "STRICTLY" is not a mode`},
		"unknown port mode":       {"  selector:\n    matchLabels:\n      app: a\n  portLevelMtls:\n    80:\n      mode: ON\n", `spec.portLevelMtls[80].mode: "ON"`},
		"ports without selector":  {"  portLevelMtls:\n    80:\n      mode: STRICT\n", "spec.portLevelMtls: a mesh-wide or namespace-wide"},
		"empty port map":          {"  selector:\n    matchLabels:\n      app: a\n  portLevelMtls: {}\n", "spec.portLevelMtls: if set, it needs at least one port"},
		"port zero":               {"  selector:\n    matchLabels:\n      app: a\n  portLevelMtls:\n    0:\n      mode: STRICT\n", "spec.portLevelMtls[0]: the port must be in 1..65535"},
		"selector and targetRef":  {"  selector:\n    matchLabels:\n      app: a\n  targetRef:\n    kind: Service\n    name: a\n", "spec.targetRef"},
		"unknown field":           {"  mtls:\n    mode: STRICT\n  mode: STRICT\n", "spec:"},
		"root ports, no selector": {"  portLevelMtls:\n    9080:\n      mode: DISABLE\n", "cannot have port-level mTLS"},
	} {
		_, err := Parse("pa.yaml", []byte(paDoc(RootNamespace, "x", tc.body)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
		}
	}
}

func TestDestinationRuleTLSValidation(t *testing.T) {
	dr := func(tls string) string {
		return "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: r\nspec:\n  host: reviews\n  trafficPolicy:\n    tls:\n" + tls
	}
	for _, ok := range []string{"      mode: ISTIO_MUTUAL\n", "      mode: DISABLE\n", "      mode: SIMPLE\n      sni: api.example.org\n",
		"      mode: MUTUAL\n      credentialName: bank-client\n",
		"      mode: MUTUAL\n      clientCertificate: /etc/certs/c.pem\n      privateKey: /etc/certs/k.pem\n      caCertificates: /etc/certs/ca.pem\n"} {
		if _, err := Parse("dr.yaml", []byte(dr(ok))); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for tls, want := range map[string]string{
		"      mode: ISTIO_MUTUAL\n      caCertificates: /x\n":                    "spec.trafficPolicy.tls.mode: ISTIO_MUTUAL uses the mesh's certificates",
		"      mode: MUTUAL\n":                                                    "spec.trafficPolicy.tls.clientCertificate: MUTUAL needs",
		"      mode: SIMPLE\n      credentialName: other/c\n":                     "spec.trafficPolicy.tls.credentialName",
		"      mode: MUTUAL\n      credentialName: c\n      caCertificates: /x\n": "either credentialName or the certificate files",
		"      mode: SIMPLE\n      privateKey: /k\n":                              "SIMPLE sends no client certificate",
	} {
		_, err := Parse("dr.yaml", []byte(dr(tls)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", tls, err, want)
		}
	}
}
