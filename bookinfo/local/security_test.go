package local

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/jwtauth/jwtissuer"
	"github.com/meshlab/meshlab/mesh/localmesh"
	"github.com/meshlab/meshlab/mesh/localmesh/localmeshtest"
)

// authzSamples is where Istio's Bookinfo authorization policies are kept, as the docs give them.
const authzSamples = samples + "/authz-http"

// Networks of this lab, apart from the other Bookinfo labs' so that they may run side by side.
var (
	secPodNet = netip.MustParsePrefix("10.214.14.0/24")
	secSvcNet = netip.MustParsePrefix("10.214.15.0/24")
)

// securityLab is Bookinfo whose sidecars load a routes file and a security file.
type securityLab struct {
	*bookinfo
	security string
	content  string // the security file's current content
}

func startSecurityLab(t *testing.T) *securityLab {
	t.Helper()
	localmeshtest.Require(t)
	dir := localmeshtest.Dir(t, "meshlab-bookinfo-sec-")
	l := &securityLab{bookinfo: &bookinfo{t: t, routes: filepath.Join(dir, "routes.yaml")}, security: filepath.Join(dir, "security.yaml")}
	l.writeRoutes("destination-rule-all.yaml")
	if err := os.WriteFile(l.security, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := Start(ctx, localmesh.Options{Name: "bis", Binary: meshlabBinary, Dir: filepath.Join(dir, "mesh"),
		PodNet: secPodNet, SvcNet: secSvcNet, RouteFiles: []string{l.routes, l.security}})
	if err != nil {
		t.Fatalf("start Bookinfo: %v", err)
	}
	t.Cleanup(func() { m.Stop(context.Background()) })
	l.mesh, l.url = m, ProductpageURL(m)
	return l
}

// applySecurity replaces the security file with docs and waits until every sidecar whose
// policies change has loaded it (its config dump lists the applied policies). It returns when
// the file was replaced.
func (l *securityLab) applySecurity(docs ...string) time.Time {
	l.t.Helper()
	content := strings.Join(docs, "\n---\n")
	before := l.dumps()
	changes := map[string]bool{}
	for _, p := range Topology().Pods {
		changes[p.Name] = selected(l.t, l.content, p.Labels) != selected(l.t, content, p.Labels)
	}
	l.replace(content)
	l.content = content
	applied := time.Now()
	deadline := applied.Add(10 * time.Second)
	for pod, old := range before {
		for changes[pod] && l.dump(pod) == old {
			if time.Now().After(deadline) {
				l.t.Fatalf("sidecar of %s did not load the new policies within 10 s", pod)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return applied
}

// selected names the policies of content that select a default-namespace pod with labels.
func selected(t *testing.T, content string, labels map[string]string) string {
	t.Helper()
	snap, err := config.Parse("security.yaml", []byte(content))
	if err != nil {
		t.Fatalf("the policies must parse: %v", err)
	}
	snap.Proxy = config.Proxy{Namespace: "default", Labels: labels}
	var names []string
	for _, p := range snap.SelectedAuthorizationPolicies() {
		names = append(names, "ap/"+p.Name)
	}
	for _, r := range snap.SelectedRequestAuthentications() {
		names = append(names, "ra/"+r.Name)
	}
	return strings.Join(names, ",")
}

func (l *securityLab) replace(content string) {
	l.t.Helper()
	tmp := l.security + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := os.Rename(tmp, l.security); err != nil {
		l.t.Fatal(err)
	}
}

func sampleDoc(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(authzSamples, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// fetch is one GET of the product page with optional headers.
func (l *securityLab) fetch(hdr map[string]string) (int, string) {
	l.t.Helper()
	req, _ := http.NewRequest("GET", l.url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := anonymous().Do(req)
	if err != nil {
		l.t.Fatalf("GET %s: %v", l.url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// observe polls the page until ok holds for it, failing after within of since; it reports how
// long after since the page showed it.
func (l *securityLab) observe(what string, since time.Time, within time.Duration, hdr map[string]string, ok func(code int, body string) bool) time.Duration {
	l.t.Helper()
	for {
		code, body := l.fetch(hdr)
		if ok(code, body) {
			took := time.Since(since)
			l.t.Logf("%s: observed %v after the apply", what, took.Round(time.Millisecond))
			return took
		}
		if time.Since(since) > within {
			l.t.Fatalf("%s: not observed within %v of the apply; last answer %d %.300q", what, within, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBookinfoAuthorizationInNamespaces runs Istio's Bookinfo authorization task on real
// sidecars in network namespaces, as far as it goes without mutual TLS (the principal steps need
// the workload identities of mutual TLS), then the JWT checks with a key made here.
func TestBookinfoAuthorizationInNamespaces(t *testing.T) {
	l := startSecurityLab(t)
	const applyBudget = 5 * time.Second
	if code, body := l.fetch(nil); code != 200 || !strings.Contains(body, "Book Details") {
		t.Fatalf("before any policy: %d", code)
	}

	t.Run("allow-nothing: 403 RBAC: access denied", func(t *testing.T) {
		at := l.applySecurity(sampleDoc(t, "allow-nothing"))
		l.observe("allow-nothing", at, applyBudget, nil, func(code int, body string) bool {
			return code == 403 && body == "RBAC: access denied"
		})
	})

	t.Run("productpage-viewer: the page, without details and reviews", func(t *testing.T) {
		at := l.applySecurity(sampleDoc(t, "allow-nothing"), sampleDoc(t, "productpage-viewer"))
		l.observe("productpage-viewer", at, applyBudget, nil, func(code int, body string) bool {
			return code == 200 && strings.Contains(body, "Error fetching product details") && strings.Contains(body, "Error fetching product reviews")
		})
		m := l.metrics("details-v1")
		if !strings.Contains(m, `response_code="403"`) {
			t.Fatalf("details' sidecar reports no 403 in istio_requests_total:\n%s", m)
		}
	})

	t.Run("a bad policy is rejected and the last good set stays", func(t *testing.T) {
		bad := strings.Replace(sampleDoc(t, "details-viewer"), "cluster.local/ns/default/sa/bookinfo-productpage", "bookinfo-productpage", 1)
		l.replace(sampleDoc(t, "productpage-viewer") + "\n---\n" + bad) // allow-nothing gone, a bad policy added
		time.Sleep(3 * time.Second)                                     // three reload polls of every sidecar
		code, body := l.fetch(nil)
		if code != 200 || !strings.Contains(body, "Error fetching product details") {
			t.Fatalf("after a rejected change: %d; want the last good policies (details still denied)", code)
		}
	})

	t.Run("JWT: 401 bad token, 200 good token, 403 without one", func(t *testing.T) {
		key, jwks := newKey(t)
		jwksJSON, _ := json.Marshal(jwks)
		jwksJSON, _ = json.Marshal(string(jwksJSON))
		at := l.applySecurity(`apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: "jwt-example"
  namespace: default
spec:
  selector:
    matchLabels:
      app: productpage
  jwtRules:
  - issuer: "testing@secure.istio.io"
    jwks: `+string(jwksJSON), `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: "require-jwt"
  namespace: default
spec:
  selector:
    matchLabels:
      app: productpage
  action: ALLOW
  rules:
  - from:
    - source:
       requestPrincipals: ["testing@secure.istio.io/testing@secure.istio.io"]
`)
		l.observe("require-jwt without a token", at, applyBudget, nil, func(code int, body string) bool { return code == 403 })
		good := sign(t, key, map[string]any{"iss": "testing@secure.istio.io", "sub": "testing@secure.istio.io", "exp": time.Now().Add(time.Hour).Unix()})
		other, _ := newKey(t)
		bad := sign(t, other, map[string]any{"iss": "testing@secure.istio.io", "sub": "testing@secure.istio.io"})
		if code, body := l.fetch(map[string]string{"Authorization": "Bearer " + bad}); code != 401 || body != "Jwt verification fails" {
			t.Fatalf("bad token: %d %.100q, want 401 Jwt verification fails", code, body)
		}
		if code, body := l.fetch(map[string]string{"Authorization": "Bearer " + good}); code != 200 || !strings.Contains(body, "Book Details") {
			t.Fatalf("good token: %d, want the page", code)
		}
	})

	t.Run("restored: the whole page again", func(t *testing.T) {
		at := l.applySecurity("")
		l.observe("no policy", at, applyBudget, nil, func(code int, body string) bool {
			return code == 200 && strings.Contains(body, "Book Details") && !strings.Contains(body, "Error fetching")
		})
	})
}

func (l *securityLab) metrics(pod string) string {
	resp, err := http.Get("http://" + l.mesh.PodAddr(pod).String() + ":15090/stats/prometheus")
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "istio_requests_total") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func newKey(t *testing.T) (*jwtissuer.Issuer, jose.JSONWebKeySet) {
	t.Helper()
	iss, err := jwtissuer.New("lab")
	if err != nil {
		t.Fatal(err)
	}
	return iss, iss.JWKS()
}

func sign(t *testing.T, iss *jwtissuer.Issuer, claims map[string]any) string {
	t.Helper()
	tok, err := iss.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
