package crds_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/internal/kubetest"
	"github.com/meshlab/meshlab/mesh/crds"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

const goodVS = `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 50
    - destination: {host: reviews, subset: v3}
      weight: 50
`

// badVS asks for a TCP route, which the meshlab proxy cannot do.
const badVS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mysql, namespace: default}
spec:
  hosts: [mysql]
  tcp:
  - route:
    - destination: {host: mysql}
`

// typoDR misspells a field; Kubernetes would keep it (preserve-unknown-fields), the webhook not.
const typoDR = `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - name: v1
    lables: {version: v1}
`

const routeRule = `apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata: {name: reviews-default, namespace: default}
spec:
  destination: {name: reviews}
  precedence: 1
  route:
  - labels: {version: v1}
`

// PeerAuthentications: Istio's mesh-wide STRICT, and two it refuses.
const (
	goodPA = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec:
  selector:
    matchLabels: {app: reviews}
  mtls: {mode: STRICT}
  portLevelMtls:
    9080: {mode: PERMISSIVE}
`
	badModePA = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: typo, namespace: default}
spec:
  mtls: {mode: STRICTER}
`
	nsPortsPA = `apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: ports, namespace: default}
spec:
  portLevelMtls:
    9080: {mode: DISABLE}
`
	mutualDR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-mtls, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
`
)

// authzPolicy is an AuthorizationPolicy of apiVersion with the given spec.
func authzPolicy(apiVersion, spec string) string {
	return "apiVersion: security.istio.io/" + apiVersion + `
kind: AuthorizationPolicy
metadata: {name: reviews-viewer, namespace: default}
spec:
` + spec
}

// badPrincipal names a service account where a principal is wanted.
var badPrincipal = authzPolicy("v1", `  selector: {matchLabels: {app: reviews}}
  rules:
  - from:
    - source: {principals: ["bookinfo-productpage"]}
`)

func TestValidate(t *testing.T) {
	cases := []struct {
		name, doc, wantErr string
	}{
		{"weighted subsets", goodVS, ""},
		{"tcp route", badVS, "spec.tcp"},
		{"misspelled field", typoDR, "lables"},
		{"walk-through RouteRule", routeRule, ""},
		{"PeerAuthentication", goodPA, ""},
		{"PeerAuthentication mode", badModePA, `spec.mtls.mode: "STRICTER"`},
		{"namespace-wide port level", nsPortsPA, "spec.portLevelMtls"},
		{"ISTIO_MUTUAL", mutualDR, ""},
		{"principal without a slash", badPrincipal, "spec.rules[0].from[0].source.principals[0]"},
		{"bad CIDR", authzPolicy("v1beta1", "  rules: [{from: [{source: {ipBlocks: [10.1.0.0/40]}}]}]\n"), "spec.rules[0].from[0].source.ipBlocks[0]: bad CIDR range"},
		{"star inside a path", authzPolicy("v1", "  rules: [{to: [{operation: {paths: [/api/*/x]}}]}]\n"), "spec.rules[0].to[0].operation.paths[0]"},
		{"unknown field", authzPolicy("v1", "  rules: [{to: [{operation: {path: [/x]}}]}]\n"), `unknown field "path"`},
		{"CUSTOM", authzPolicy("v1", "  action: CUSTOM\n  provider: {name: opa}\n  rules: [{}]\n"), "spec.action: CUSTOM hands the decision to an external authorizer"},
		{"allow-nothing", authzPolicy("v1", "  {}\n"), ""},
		{"RequestAuthentication without issuer", `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  jwtRules:
  - audiences: [bookinfo]
`, "spec.jwtRules[0].issuer: issuer or jwksUri is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := crds.Validate("test", []byte(c.doc))
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one naming %q", err, c.wantErr)
			}
		})
	}
}

func TestReviewAnswersAdmissionReview(t *testing.T) {
	obj, err := yaml.YAMLToJSON([]byte(badVS))
	if err != nil {
		t.Fatal(err)
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "42", Kind: metav1.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"},
			Namespace: "default", Name: "mysql", Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: obj},
		},
	}
	body, _ := json.Marshal(review)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, crds.ValidatePath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	crds.NewValidator(nil).ServeHTTP(rec, req)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("response %q: %v", rec.Body.String(), err)
	}
	if out.Response == nil || out.Response.UID != "42" || out.Response.Allowed {
		t.Fatalf("response %+v, want a denial for uid 42", out.Response)
	}
	if msg := out.Response.Result.Message; !strings.Contains(msg, "VirtualService default/mysql") || !strings.Contains(msg, "spec.tcp") {
		t.Fatalf("message %q does not name the resource and field", msg)
	}
}

// TestWebhookRejectsThroughRealAPIServer registers the validator (served from this process over
// TLS on loopback) with a real kube-apiserver and applies resources through it.
func TestWebhookRejectsThroughRealAPIServer(t *testing.T) {
	cluster := kubetest.Start(t)
	cluster.InstallCRDs(t, crds.All)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cert, err := cluster.CA.Serving("validator")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	srvCtx, stop := context.WithCancel(context.Background())
	go func() { served <- crds.Serve(srvCtx, ln, cert, crds.NewValidator(nil), testLogger(t)) }()
	t.Cleanup(func() { stop(); <-served })

	vwc, err := crds.ValidatingWebhookConfiguration(crds.WebhookConfig{
		URL: "https://" + ln.Addr().String() + crds.ValidatePath, CABundle: cluster.CA.CertPEM,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client(t).AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	create := func(doc string) error {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		gv, _ := schema.ParseGroupVersion(u.GetAPIVersion())
		gvr := gv.WithResource(strings.ToLower(u.GetKind()) + "s")
		if u.GetKind() == "AuthorizationPolicy" {
			gvr = gv.WithResource("authorizationpolicies")
		}
		_, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
		return err
	}
	// The webhook registration is read by the apiserver from its informer: poll until a bad
	// resource is refused by the webhook rather than stored.
	for {
		err := create(badVS)
		if err != nil && strings.Contains(err.Error(), "validation.meshlab.io") {
			if !strings.Contains(err.Error(), "spec.tcp") || !strings.Contains(err.Error(), "VirtualService default/mysql") {
				t.Fatalf("rejection does not name resource and field: %v", err)
			}
			t.Logf("rejected as expected: %v", err)
			break
		}
		if err == nil {
			_ = dyn.Resource(crds.VirtualServices).Namespace("default").Delete(ctx, "mysql", metav1.DeleteOptions{})
		}
		select {
		case <-ctx.Done():
			t.Fatalf("bad VirtualService never rejected by the webhook; last: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := create(typoDR); err == nil || !strings.Contains(err.Error(), "lables") {
		t.Fatalf("misspelled DestinationRule: %v, want a rejection naming the field", err)
	}
	for _, doc := range []string{goodVS, routeRule, goodPA, mutualDR} {
		if err := create(doc); err != nil {
			t.Fatalf("valid resource rejected: %v", err)
		}
	}
	for doc, field := range map[string]string{badModePA: "spec.mtls.mode", nsPortsPA: "spec.portLevelMtls"} {
		if err := create(doc); err == nil || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "validation.meshlab.io") {
			t.Errorf("invalid PeerAuthentication: %v, want the webhook to refuse it naming %s", err, field)
		}
	}
	// Istio's samples and the walk-through's RouteRules apply unchanged through the webhook.
	for _, f := range sampleFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range routingDocs(t, f, data) {
			if err := applySSA(ctx, dyn, u); err != nil {
				t.Errorf("%s: %s %s refused: %v", filepath.Base(f), u.GetKind(), u.GetName(), err)
			}
		}
	}
	// AuthorizationPolicies: a bad one is refused naming the field; Istio's Bookinfo
	// authorization samples apply unchanged, as v1 and as v1beta1.
	if err := create(badPrincipal); err == nil || !strings.Contains(err.Error(), "spec.rules[0].from[0].source.principals[0]") {
		t.Fatalf("AuthorizationPolicy with a bad principal: %v, want a rejection naming the field", err)
	}
	samples, _ := filepath.Glob("../config/testdata/istio-samples/authz-http/*.yaml")
	if len(samples) != 5 {
		t.Fatalf("%d authorization samples, want 5", len(samples))
	}
	for _, f := range samples {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := create(string(data)); err != nil {
			t.Errorf("%s refused: %v", filepath.Base(f), err)
		}
		beta := strings.Replace(string(data), "security.istio.io/v1", "security.istio.io/v1beta1", 1)
		beta = strings.Replace(beta, "namespace: default", "namespace: kube-public", 1)
		if err := create(beta); err != nil {
			t.Errorf("%s as v1beta1 refused: %v", filepath.Base(f), err)
		}
	}
	// v1alpha3 and v1 are one stored resource.
	if _, err := dyn.Resource(crds.VirtualServices).Namespace("default").Get(ctx, "reviews", metav1.GetOptions{}); err != nil {
		t.Fatalf("VirtualService created as v1alpha3 not readable as v1: %v", err)
	}
}
