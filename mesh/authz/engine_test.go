package authz

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	"sigs.k8s.io/yaml"
)

// policies parses a multi-document YAML stream of AuthorizationPolicies.
func policies(t testing.TB, docs string) []*securityv1.AuthorizationPolicy {
	t.Helper()
	var out []*securityv1.AuthorizationPolicy
	for _, d := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(d) == "" {
			continue
		}
		p := &securityv1.AuthorizationPolicy{}
		if err := yaml.UnmarshalStrict([]byte(d), p); err != nil {
			t.Fatalf("parse %q: %v", d, err)
		}
		if errs := Validate(p); len(errs) > 0 {
			t.Fatalf("policy %s is invalid: %v", p.Name, errs)
		}
		out = append(out, p)
	}
	return out
}

func engine(t testing.TB, w Workload, docs string) *Engine {
	t.Helper()
	e, err := Compile(Select(policies(t, docs), w, "istio-system"))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// req builds requests for the tables: an HTTP request unless method is "".
type req struct {
	peer, method, host, path string
	port                     uint16
	src                      string
	header                   http.Header
	jwt                      *JWT
}

func (q req) request() *Request {
	r := &Request{DestIP: netip.MustParseAddr("10.1.0.9"), DestPort: q.port, SourceIP: netip.MustParseAddr("10.1.0.5")}
	if r.DestPort == 0 {
		r.DestPort = 9080
	}
	if q.src != "" {
		r.SourceIP = netip.MustParseAddr(q.src)
	}
	if q.peer != "" {
		r.PeerURI = "spiffe://" + q.peer
	}
	if q.method != "" {
		r.HTTP = &HTTP{Method: q.method, Host: q.host, Path: q.path, Header: q.header, JWT: q.jwt}
		if r.HTTP.Host == "" {
			r.HTTP.Host = "httpbin.foo:8000"
		}
		if r.HTTP.Header == nil {
			r.HTTP.Header = http.Header{}
		}
	}
	return r
}

type want struct {
	allowed bool
	policy  string
}

func check(t *testing.T, e *Engine, cases map[string]struct {
	r req
	w want
}) {
	t.Helper()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := e.Evaluate(c.r.request())
			if d.Allowed != c.w.allowed || d.Policy != c.w.policy {
				t.Fatalf("got allowed=%v policy=%q, want allowed=%v policy=%q", d.Allowed, d.Policy, c.w.allowed, c.w.policy)
			}
		})
	}
}

var foo = Workload{Namespace: "foo", Labels: map[string]string{"app": "httpbin", "version": "v1"}}

var google = &JWT{Issuer: "https://accounts.google.com", Subject: "alice", Claims: map[string]any{"iss": "https://accounts.google.com", "sub": "alice"}}

// The examples of Istio's AuthorizationPolicy reference, with the requests its prose describes.
func TestReferenceAllowExample(t *testing.T) {
	e := engine(t, foo, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: httpbin
  namespace: foo
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/sleep"]
    - source:
        namespaces: ["test"]
    to:
    - operation:
        methods: ["GET"]
        paths: ["/info*"]
    - operation:
        methods: ["POST"]
        paths: ["/data"]
    when:
    - key: request.auth.claims[iss]
      values: ["https://accounts.google.com"]
`)
	rule0 := "ns[foo]-policy[httpbin]-rule[0]"
	check(t, e, map[string]struct {
		r req
		w want
	}{
		"sleep GET /info with a google token":      {req{peer: "cluster.local/ns/default/sa/sleep", method: "GET", path: "/info", jwt: google}, want{true, rule0}},
		"sleep GET /info/x (prefix)":               {req{peer: "cluster.local/ns/default/sa/sleep", method: "GET", path: "/info/x", jwt: google}, want{true, rule0}},
		"namespace test POST /data":                {req{peer: "cluster.local/ns/test/sa/anyone", method: "POST", path: "/data", jwt: google}, want{true, rule0}},
		"namespace test POST /data/x (exact only)": {req{peer: "cluster.local/ns/test/sa/anyone", method: "POST", path: "/data/x", jwt: google}, want{false, "none"}},
		"sleep POST /info":                         {req{peer: "cluster.local/ns/default/sa/sleep", method: "POST", path: "/info", jwt: google}, want{false, "none"}},
		"no token":                                 {req{peer: "cluster.local/ns/default/sa/sleep", method: "GET", path: "/info"}, want{false, "none"}},
		"another issuer":                           {req{peer: "cluster.local/ns/default/sa/sleep", method: "GET", path: "/info", jwt: &JWT{Issuer: "x", Subject: "y", Claims: map[string]any{"iss": "x"}}}, want{false, "none"}},
		"another principal":                        {req{peer: "cluster.local/ns/default/sa/other", method: "GET", path: "/info", jwt: google}, want{false, "none"}},
		"plaintext (no peer)":                      {req{method: "GET", path: "/info", jwt: google}, want{false, "none"}},
		"tcp: every rule has HTTP fields":          {req{peer: "cluster.local/ns/default/sa/sleep"}, want{false, "none"}},
	})
}

func TestReferenceDenyExamples(t *testing.T) {
	e := engine(t, foo, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: httpbin
  namespace: foo
spec:
  action: DENY
  rules:
  - from:
    - source:
        namespaces: ["dev"]
    to:
    - operation:
        methods: ["POST"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-post-8080
  namespace: foo
spec:
  action: DENY
  rules:
  - to:
    - operation:
        methods: ["POST"]
        ports: ["8080"]
`)
	dev := "cluster.local/ns/dev/sa/x"
	check(t, e, map[string]struct {
		r req
		w want
	}{
		"dev POST":     {req{peer: dev, method: "POST", path: "/"}, want{false, "ns[foo]-policy[httpbin]-rule[0]"}},
		"dev GET":      {req{peer: dev, method: "GET", path: "/"}, want{true, ""}},
		"prod POST":    {req{peer: "cluster.local/ns/prod/sa/x", method: "POST", path: "/"}, want{true, ""}},
		"POST on 8080": {req{method: "POST", path: "/", port: 8080}, want{false, "ns[foo]-policy[deny-post-8080]-rule[0]"}},
		"GET on 8080":  {req{method: "GET", path: "/", port: 8080}, want{true, ""}},
		// "For a DENY rule, missing attributes are treated as matches. This means all TCP traffic
		// on port 8080 would be denied in the example above."
		"tcp on 8080": {req{port: 8080}, want{false, "ns[foo]-policy[deny-post-8080]-rule[0]"}},
		// The first policy keeps only its namespace on TCP: TCP from dev is denied on any port.
		"tcp from dev on 9080":  {req{peer: dev}, want{false, "ns[foo]-policy[httpbin]-rule[0]"}},
		"tcp from prod on 9080": {req{peer: "cluster.local/ns/prod/sa/x"}, want{true, ""}},
	})
}

func TestReferenceAuditExample(t *testing.T) {
	e := engine(t, Workload{Namespace: "ns1", Labels: map[string]string{"app": "myapi"}}, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  namespace: ns1
  name: anyname
spec:
  selector:
    matchLabels:
      app: myapi
  action: AUDIT
  rules:
  - to:
    - operation:
        methods: ["GET"]
        paths: ["/user/profile/*"]
`)
	d := e.Evaluate(req{method: "GET", path: "/user/profile/alice"}.request())
	if !d.Allowed || d.Audit != "ns[ns1]-policy[anyname]-rule[0]" {
		t.Fatalf("GET /user/profile/alice: %+v, want allowed and audited", d)
	}
	d = e.Evaluate(req{method: "GET", path: "/user/settings"}.request())
	if !d.Allowed || d.Audit != "" {
		t.Fatalf("GET /user/settings: %+v, want allowed, not audited", d)
	}
}

func TestReferenceScopes(t *testing.T) {
	docs := `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
 name: allow-nothing
 namespace: foo
spec:
  {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
 name: allow-all
 namespace: bar
spec:
 rules:
 - {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-nothing
  namespace: baz
spec:
  selector:
    matchLabels:
      app: httpbin
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
 name: allow-nothing
 namespace: istio-system
spec:
 selector:
   matchLabels:
     version: v1
`
	get := req{method: "GET", path: "/"}
	for _, c := range []struct {
		w      Workload
		want   bool
		policy string
	}{
		{Workload{Namespace: "foo", Labels: map[string]string{"app": "a"}}, false, "none"},                             // allow-nothing in foo
		{Workload{Namespace: "bar", Labels: map[string]string{"app": "a"}}, true, "ns[bar]-policy[allow-all]-rule[0]"}, // allow-all in bar
		{Workload{Namespace: "baz", Labels: map[string]string{"app": "httpbin"}}, false, "none"},                       // selected in baz
		{Workload{Namespace: "baz", Labels: map[string]string{"app": "other"}}, true, ""},                              // not selected
		{Workload{Namespace: "qux", Labels: map[string]string{"version": "v1"}}, false, "none"},                        // mesh-wide by label
		{Workload{Namespace: "qux", Labels: map[string]string{"version": "v2"}}, true, ""},
	} {
		d := engine(t, c.w, docs).Evaluate(get.request())
		if d.Allowed != c.want || d.Policy != c.policy {
			t.Errorf("%+v: got allowed=%v policy=%q, want %v %q", c.w, d.Allowed, d.Policy, c.want, c.policy)
		}
	}
}

func TestDenyBeforeAllow(t *testing.T) {
	e := engine(t, foo, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-all, namespace: foo}
spec:
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: foo}
spec:
  action: DENY
  rules:
  - to:
    - operation: {paths: ["/admin*"]}
`)
	check(t, e, map[string]struct {
		r req
		w want
	}{
		"admin denied":       {req{method: "GET", path: "/admin/x"}, want{false, "ns[foo]-policy[deny-admin]-rule[0]"}},
		"other allowed":      {req{method: "GET", path: "/x"}, want{true, "ns[foo]-policy[allow-all]-rule[0]"}},
		"tcp denied by DENY": {req{}, want{false, "ns[foo]-policy[deny-admin]-rule[0]"}},
	})
}

// TestTCPAllowRules: an ALLOW rule that names an HTTP field is skipped on TCP (the policy then
// allows less), a rule with only TCP fields applies.
func TestTCPAllowRules(t *testing.T) {
	e := engine(t, foo, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tcp, namespace: foo}
spec:
  rules:
  - to:
    - operation: {methods: ["GET"], ports: ["9000"]}
  - from:
    - source: {notPrincipals: ["cluster.local/ns/foo/sa/bad"]}
    to:
    - operation: {ports: ["27017"]}
`)
	check(t, e, map[string]struct {
		r req
		w want
	}{
		"tcp 9000 (rule 0 dropped)":   {req{port: 9000}, want{false, "none"}},
		"http GET 9000":               {req{method: "GET", path: "/", port: 9000}, want{true, "ns[foo]-policy[tcp]-rule[0]"}},
		"tcp 27017 plaintext":         {req{port: 27017}, want{true, "ns[foo]-policy[tcp]-rule[1]"}},
		"tcp 27017 from the bad peer": {req{port: 27017, peer: "cluster.local/ns/foo/sa/bad"}, want{false, "none"}},
	})
}

func TestSourceFields(t *testing.T) {
	e := engine(t, foo, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: src, namespace: foo}
spec:
  rules:
  - from:
    - source: {ipBlocks: ["10.2.0.0/16", "192.168.7.7"], notIpBlocks: ["10.2.9.0/24"]}
  - from:
    - source: {principals: ["*/sa/admin"]}
  - from:
    - source: {namespaces: ["prod-*"], notPrincipals: ["cluster.local/ns/prod-a/*"]}
  - from:
    - source: {serviceAccounts: ["viewer", "ops/root"]}
  - from:
    - source: {requestPrincipals: ["https://issuer.example/*"]}
  - from:
    - source: {trustDomains: ["partner.*"]}
`)
	check(t, e, map[string]struct {
		r req
		w want
	}{
		"ip in block":                       {req{method: "GET", path: "/", src: "10.2.3.4"}, want{true, "ns[foo]-policy[src]-rule[0]"}},
		"single ip":                         {req{method: "GET", path: "/", src: "192.168.7.7"}, want{true, "ns[foo]-policy[src]-rule[0]"}},
		"ip in the not block":               {req{method: "GET", path: "/", src: "10.2.9.1"}, want{false, "none"}},
		"principal suffix":                  {req{method: "GET", path: "/", peer: "cluster.local/ns/any/sa/admin"}, want{true, "ns[foo]-policy[src]-rule[1]"}},
		"namespace wildcard":                {req{method: "GET", path: "/", peer: "cluster.local/ns/prod-b/sa/x"}, want{true, "ns[foo]-policy[src]-rule[2]"}},
		"namespace wildcard, not principal": {req{method: "GET", path: "/", peer: "cluster.local/ns/prod-a/sa/x"}, want{false, "none"}},
		"service account, own namespace":    {req{method: "GET", path: "/", peer: "cluster.local/ns/foo/sa/viewer"}, want{true, "ns[foo]-policy[src]-rule[3]"}},
		"service account, other namespace":  {req{method: "GET", path: "/", peer: "cluster.local/ns/bar/sa/viewer"}, want{false, "none"}},
		"service account ns/sa":             {req{method: "GET", path: "/", peer: "cluster.local/ns/ops/sa/root"}, want{true, "ns[foo]-policy[src]-rule[3]"}},
		"request principal":                 {req{method: "GET", path: "/", jwt: &JWT{Issuer: "https://issuer.example", Subject: "bob"}}, want{true, "ns[foo]-policy[src]-rule[4]"}},
		"request principal, other issuer":   {req{method: "GET", path: "/", jwt: &JWT{Issuer: "https://other.example", Subject: "bob"}}, want{false, "none"}},
		"trust domain prefix":               {req{method: "GET", path: "/", peer: "partner.io/ns/x/sa/y"}, want{true, "ns[foo]-policy[src]-rule[5]"}},
	})
}

func TestOperationAndConditions(t *testing.T) {
	e := engine(t, foo, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: op, namespace: foo}
spec:
  rules:
  - to:
    - operation: {hosts: ["*.Example.com"], notPaths: ["/private*"]}
  - to:
    - operation: {notMethods: ["DELETE"], paths: ["*.html"]}
    when:
    - key: request.headers[X-Env]
      values: ["prod"]
  - when:
    - key: request.auth.claims[groups]
      values: ["admins"]
    - key: destination.port
      values: ["9080"]
  - when:
    - key: request.auth.claims[realm][role]
      values: ["owner*"]
    - key: source.ip
      notValues: ["10.9.0.0/16"]
`)
	env := http.Header{"X-Env": {"prod"}}
	check(t, e, map[string]struct {
		r req
		w want
	}{
		"host suffix, any case":     {req{method: "GET", host: "api.EXAMPLE.com", path: "/x"}, want{true, "ns[foo]-policy[op]-rule[0]"}},
		"host, private path":        {req{method: "GET", host: "api.example.com", path: "/private/x"}, want{false, "none"}},
		"html with header":          {req{method: "GET", path: "/a.html", header: env}, want{true, "ns[foo]-policy[op]-rule[1]"}},
		"html DELETE":               {req{method: "DELETE", path: "/a.html", header: env}, want{false, "none"}},
		"html without header":       {req{method: "GET", path: "/a.html"}, want{false, "none"}},
		"claim list":                {req{method: "GET", path: "/", jwt: &JWT{Claims: map[string]any{"groups": []any{"dev", "admins"}}}}, want{true, "ns[foo]-policy[op]-rule[2]"}},
		"claim list, other port":    {req{method: "GET", path: "/", port: 9090, jwt: &JWT{Claims: map[string]any{"groups": []any{"admins"}}}}, want{false, "none"}},
		"nested claim":              {req{method: "GET", path: "/", jwt: &JWT{Claims: map[string]any{"realm": map[string]any{"role": "owners"}}}}, want{true, "ns[foo]-policy[op]-rule[3]"}},
		"nested claim, excluded ip": {req{method: "GET", path: "/", src: "10.9.1.1", jwt: &JWT{Claims: map[string]any{"realm": map[string]any{"role": "owners"}}}}, want{false, "none"}},
	})
}

func TestRequestPrincipalForms(t *testing.T) {
	for _, c := range []struct {
		value, iss, sub string
		want            bool
	}{
		{"iss.example/alice", "iss.example", "alice", true},
		{"iss.example/alice", "iss.example", "bob", false},
		{"https://iss.example/path/alice", "https://iss.example/path", "alice", true}, // split at the last '/'
		{"*", "a", "b", true},
		{"*", "", "b", false},
		{"*/alice", "anything", "alice", true},
		{"*.example/alice", "iss.example", "alice", true},
		{"*lice", "x", "alice", true},
		{"iss.example/*", "iss.example", "anyone", true},
		{"iss.example/al*", "iss.example", "alice", true},
		{"iss.ex*", "iss.example", "x", true},
	} {
		p := requestPrincipalPair(c.value)
		if got := p.iss.match(c.iss) && p.sub.match(c.sub); got != c.want {
			t.Errorf("%q against iss=%q sub=%q: %v, want %v", c.value, c.iss, c.sub, got, c.want)
		}
	}
}

func TestDryRunIsNotEnforced(t *testing.T) {
	e := engine(t, foo, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: dry-run-example
  namespace: foo
  annotations:
    "istio.io/dry-run": "true"
spec:
  selector:
    matchLabels:
      app: httpbin
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/headers"]
`)
	d := e.Evaluate(req{method: "GET", path: "/headers"}.request())
	if !d.Allowed || d.DryRun == nil || d.DryRun.Allowed || d.DryRun.Policy != "ns[foo]-policy[dry-run-example]-rule[0]" {
		t.Fatalf("got %+v (dry run %+v), want allowed with a dry-run denial", d, d.DryRun)
	}
}

func TestNilEngineAllows(t *testing.T) {
	var e *Engine
	if d := e.Evaluate(req{}.request()); !d.Allowed || d.Policy != "" {
		t.Fatalf("%+v", d)
	}
}

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"/productpage":     "/productpage",
		"/a?x=/../b":       "/a",
		"/public/../admin": "/admin",
		"/a/./b/":          "/a/b/",
		"/..":              "/",
		"/%61dmin":         "/admin",
		"/a%2fb":           "/a%2Fb",
		"/x/%2E%2E/admin":  "/admin",
		"/a/b/..":          "/a/",
	} {
		if got := NormalizePath(in); got != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}
