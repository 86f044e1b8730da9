package config

import (
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestLoadRejects(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"unknown field", `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  htp: []
`, `x.yaml:2: VirtualService reviews: spec: `},
		{"redirect", `
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - redirect: {uri: /x}
    route: [{destination: {host: reviews}}]
`, `spec.http[0].redirect: not supported`},
		{"bad regex", `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {cookie: {regex: "("}}}]
    route: [{destination: {host: reviews}}]
`, `spec.http[0].match[0].headers.cookie.regex`},
		{"retryOn", `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r}
spec:
  hosts: [reviews]
  http:
  - retries: {attempts: 2, retryOn: "5xx,bogus"}
    route: [{destination: {host: reviews}}]
`, `unknown retry condition "bogus"`},
		{"consistent hash", `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: r}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x}}}
`, `spec.trafficPolicy.loadBalancer: only simple`},
		{"unknown kind", `
apiVersion: v1
kind: Pod
metadata: {name: p}
`, `unsupported document v1 Pod`},
		{"bad registry", `
apiVersion: meshlab.io/v1alpha1
kind: Registry
spec:
  services: [{name: x, ports: [{port: 80, protocol: SCTP}]}]
`, `spec.services[0] (x): ports[0]: protocol "SCTP"`},
		{"not yaml", "a: [", `x.yaml:0: document 1: yaml:`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
			var de *DocError
			if !errors.As(err, &de) {
				t.Errorf("error %v is not a *DocError", err)
			}
		})
	}
}

func TestLaterDocumentReplacesEarlier(t *testing.T) {
	snap, err := Load("testdata/bookinfo-registry.yaml", "testdata/istio-samples/destination-rule-all.yaml",
		"testdata/istio-samples/virtual-service-all-v1.yaml", "testdata/istio-samples/virtual-service-reviews-test-v2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	table, err := Compile(snap)
	if err != nil {
		t.Fatal(err)
	}
	h := table.ByAuthority("reviews:9080", 9080)
	if h == nil || len(h.Routes) != 2 {
		t.Fatalf("reviews host = %+v, want the two routes of reviews-test-v2", h)
	}
	jason := httptest.NewRequest("GET", "http://reviews:9080/reviews/0", nil)
	jason.Header.Set("end-user", "jason")
	if got := h.Select(jason).Destinations[0].Cluster.Subset; got != "v2" {
		t.Errorf("jason routed to subset %q, want v2", got)
	}
	anon := httptest.NewRequest("GET", "http://reviews:9080/reviews/0", nil)
	if got := h.Select(anon).Destinations[0].Cluster.Subset; got != "v1" {
		t.Errorf("anonymous routed to subset %q, want v1", got)
	}
}

func TestMatchSemantics(t *testing.T) {
	doc := `
apiVersion: meshlab.io/v1alpha1
kind: Registry
spec:
  services: [{name: svc, vips: [10.96.0.1], ports: [{name: http, port: 80}], endpoints: [{address: 10.0.0.1}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc}
spec:
  hosts: [svc]
  http:
  - name: and-or
    match:
    - uri: {prefix: /api}
      method: {exact: POST}
    - headers: {x-debug: {}}
    route: [{destination: {host: svc}}]
  - name: cookie
    match: [{headers: {cookie: {regex: "^(.*?;)?(user=jason)(;.*)?$"}}}]
    route: [{destination: {host: svc}}]
  - name: case
    match: [{uri: {exact: /Login}, ignoreUriCase: true}]
    route: [{destination: {host: svc}}]
  - name: rest
    route: [{destination: {host: svc}}]
`
	snap, err := Parse("m.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	table, err := Compile(snap)
	if err != nil {
		t.Fatal(err)
	}
	h := table.ByAuthority("10.96.0.1", 80)
	if h == nil {
		t.Fatal("VIP authority not found")
	}
	cases := []struct {
		method, path string
		headers      map[string]string
		want         string
	}{
		{"POST", "/api/x", nil, "and-or"},
		{"GET", "/api/x", nil, "rest"},
		{"GET", "/", map[string]string{"X-Debug": ""}, "and-or"},
		{"GET", "/", map[string]string{"Cookie": "a=b;user=jason;c=d"}, "cookie"},
		{"GET", "/", map[string]string{"Cookie": "user=jasonx"}, "rest"},
		{"GET", "/LOGIN", nil, "case"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "http://svc"+c.path, nil)
		for k, v := range c.headers {
			r.Header.Set(k, v)
		}
		if got := h.Select(r).Name; got != c.want {
			t.Errorf("%s %s %v: route %s, want %s", c.method, c.path, c.headers, got, c.want)
		}
	}
}

// FuzzLoad checks that no input makes the loader or compiler panic.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"testdata/bookinfo-registry.yaml", "testdata/legacy-routerules.yaml",
		"testdata/istio-samples/virtual-service-ratings-test-abort.yaml", "testdata/istio-samples/destination-rule-all.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		if table, err := Compile(snap); err == nil {
			_ = table.Dump(&strings.Builder{})
		}
	})
}

func TestUnknownDestinationIsAWarning(t *testing.T) {
	doc := `apiVersion: meshlab.io/v1alpha1
kind: Registry
spec: {services: [{name: web, ports: [{name: http, port: 80}], endpoints: [{address: 10.0.0.1}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http: [{route: [{destination: {host: gone}}]}]
`
	snap, err := Parse("w.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	table, err := Compile(snap)
	if err != nil {
		t.Fatalf("Compile: %v (an unknown destination should only warn)", err)
	}
	cl := table.ByAuthority("web:80", 80).Routes[0].Destinations[0].Cluster
	if len(cl.Endpoints) != 0 || len(table.Warnings) == 0 {
		t.Errorf("cluster %+v, warnings %v; want an empty cluster and a warning", cl, table.Warnings)
	}
}
