package inject

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/mesh/ca"
)

// webhookServer serves the webhook over real TLS on loopback with a certificate from a fresh CA,
// and returns its URL and a client that trusts only that CA (as the apiserver trusts caBundle).
func webhookServer(t *testing.T, o Options) (string, *http.Client) {
	t.Helper()
	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.Issue(ca.Request{DNSNames: []string{"meshlab-pilot.meshlab-system.svc"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(WebhookPath, NewWebhook(o, nil))
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: root.Pool(), MinVersion: tls.VersionTLS12}}}
	return srv.URL + WebhookPath, client
}

// review POSTs an AdmissionReview and decodes the answer.
func review(t *testing.T, url string, c *http.Client, rq admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	t.Helper()
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: &rq})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("HTTP %s: %s", resp.Status, b)
	}
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil {
		t.Fatalf("not an AdmissionReview response: %+v", out)
	}
	if out.Response.UID != rq.UID {
		t.Fatalf("response UID %q, request %q", out.Response.UID, rq.UID)
	}
	return out.Response
}

func podCreate(uid string, pod []byte) admissionv1.AdmissionRequest {
	return admissionv1.AdmissionRequest{
		UID:       types.UID(uid),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: "bookinfo",
		Operation: admissionv1.Create,
		Object:    runtimeRaw(pod),
	}
}

// templates returns every pod template of a manifest, in order, as JSON objects keyed by the
// workload's name.
func templates(t *testing.T, manifest []byte) (names []string, tmpl map[string][]byte) {
	t.Helper()
	tmpl = map[string][]byte{}
	for _, d := range splitDocuments(manifest) {
		js, err := yaml.YAMLToJSON(d.body)
		if err != nil {
			t.Fatal(err)
		}
		var h header
		if json.Unmarshal(js, &h) != nil {
			continue
		}
		at, ok := templatePaths[h.Kind]
		if !ok {
			continue
		}
		raw, found, err := pointer(js, at)
		if err != nil || !found {
			t.Fatalf("%s %s: no template", h.Kind, h.Metadata.Name)
		}
		names = append(names, h.Metadata.Name)
		tmpl[h.Metadata.Name] = raw
	}
	return names, tmpl
}

// asPod turns a pod template into the pod the ReplicaSet controller would create.
func asPod(t *testing.T, tmpl []byte, owner string) []byte {
	t.Helper()
	var pt corev1.PodTemplateSpec
	if err := json.Unmarshal(tmpl, &pt); err != nil {
		t.Fatal(err)
	}
	pod := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: pt.ObjectMeta, Spec: pt.Spec}
	pod.GenerateName = owner + "-"
	b, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWebhookMatchesCLI sends each pod of every golden input through the webhook over TLS,
// applies the returned JSON patch, and checks the pod equals the CLI's injected template.
func TestWebhookMatchesCLI(t *testing.T) {
	for _, native := range []bool{true, false} {
		o := testOptions()
		o.NativeSidecar = native
		url, client := webhookServer(t, o)
		for _, file := range []string{"bookinfo.yaml", "job.yaml", "cronjob.yaml", "exclusions.yaml", "optout.yaml", "legacy.yaml"} {
			t.Run(fmt.Sprintf("%s/native=%v", file, native), func(t *testing.T) {
				in, err := os.ReadFile("testdata/" + file)
				if err != nil {
					t.Fatal(err)
				}
				cli, _, err := Manifest(file, in, o)
				if err != nil {
					t.Fatal(err)
				}
				names, before := templates(t, in)
				_, after := templates(t, cli)
				for i, name := range names {
					pod := asPod(t, before[name], name)
					resp := review(t, url, client, podCreate(fmt.Sprintf("uid-%d", i), pod))
					if !resp.Allowed {
						t.Fatalf("%s: denied: %v", name, resp.Result)
					}
					got := pod
					if resp.Patch != nil {
						if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
							t.Fatalf("%s: patch type %v", name, resp.PatchType)
						}
						p, err := jsonpatch.DecodePatch(resp.Patch)
						if err != nil {
							t.Fatalf("%s: patch does not decode: %v", name, err)
						}
						if got, err = p.Apply(pod); err != nil {
							t.Fatalf("%s: patch does not apply: %v", name, err)
						}
					}
					want := asPod(t, after[name], name)
					if diff := cmp.Diff(decodePod(t, want), decodePod(t, got)); diff != "" {
						t.Errorf("%s: webhook result differs from the CLI's (-cli +webhook):\n%s", name, diff)
					}
				}
			})
		}
	}
}

func decodePod(t *testing.T, b []byte) corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWebhookLeavesOtherRequestsAlone(t *testing.T) {
	url, client := webhookServer(t, testOptions())
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"b"}]}}`)

	update := podCreate("u1", pod)
	update.Operation = admissionv1.Update
	svc := podCreate("u2", []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}}`))
	svc.Resource = metav1.GroupVersionResource{Version: "v1", Resource: "services"}
	binding := podCreate("u3", pod)
	binding.SubResource = "binding"
	optedOut := podCreate("u4", []byte(`{"metadata":{"name":"p","labels":{"sidecar.istio.io/inject":"false"}},"spec":{"containers":[{"name":"a","image":"b"}]}}`))
	hostNet := podCreate("u5", []byte(`{"metadata":{"name":"p"},"spec":{"hostNetwork":true,"containers":[{"name":"a","image":"b"}]}}`))
	dryRun := podCreate("u6", pod)
	dryRun.DryRun = ptr(true)

	for name, rq := range map[string]admissionv1.AdmissionRequest{
		"update": update, "service": svc, "subresource": binding, "opted out": optedOut, "host network": hostNet,
	} {
		resp := review(t, url, client, rq)
		if !resp.Allowed || resp.Patch != nil {
			t.Errorf("%s: allowed=%v patch=%s, want allowed without patch", name, resp.Allowed, resp.Patch)
		}
	}
	if resp := review(t, url, client, dryRun); !resp.Allowed || resp.Patch == nil {
		t.Errorf("dry run: want the same patch (sideEffects None), got allowed=%v patch=%s", resp.Allowed, resp.Patch)
	}
}

func TestWebhookDeniesBadAnnotation(t *testing.T) {
	url, client := webhookServer(t, testOptions())
	pod := []byte(`{"metadata":{"generateName":"web-","annotations":{"traffic.sidecar.istio.io/excludeOutboundIPRanges":"not-a-cidr"}},"spec":{"containers":[{"name":"a","image":"b"}]}}`)
	resp := review(t, url, client, podCreate("u1", pod))
	if resp.Allowed || resp.Result == nil {
		t.Fatalf("allowed a pod with an invalid annotation: %+v", resp)
	}
	for _, want := range []string{"bookinfo/web-*", ExcludeOutboundIPRangesAnnotation, "not-a-cidr"} {
		if !strings.Contains(resp.Result.Message, want) {
			t.Errorf("message %q does not name %q", resp.Result.Message, want)
		}
	}
	if resp.Result.Code != http.StatusUnprocessableEntity {
		t.Errorf("code %d", resp.Result.Code)
	}
}

func TestWebhookHTTPErrors(t *testing.T) {
	url, client := webhookServer(t, testOptions())
	do := func(method, ctype, body string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, tc := range map[string]struct {
		method, ctype, body string
		want                int
	}{
		"get":        {http.MethodGet, "", "", http.StatusMethodNotAllowed},
		"yaml":       {http.MethodPost, "application/yaml", "{}", http.StatusUnsupportedMediaType},
		"garbage":    {http.MethodPost, "application/json", "{", http.StatusBadRequest},
		"no request": {http.MethodPost, "application/json; charset=utf-8", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest},
		"huge":       {http.MethodPost, "application/json", `{"x":"` + strings.Repeat("a", maxReviewBytes) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		if got := do(tc.method, tc.ctype, tc.body); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", name, got, tc.want)
		}
	}
}
