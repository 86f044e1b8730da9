package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/meshlab/meshlab/mesh/authz"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/jwtauth/jwtissuer"
)

const productpageProxy = `apiVersion: meshlab.io/v1alpha1
kind: Proxy
spec: {namespace: default, workload: productpage-v1, labels: {app: productpage, version: v1}}
`

func authzSample(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "config", "testdata", "istio-samples", "authz-http", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// inboundDo sends one request to the inbound listener (as if captured on its way to the app).
func inboundDo(t *testing.T, tp *testProxy, method, path string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+tp.in+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "productpage:9080"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// waitStatus retries until the inbound answer has the code (the proxy reloads files by polling).
func waitStatus(t *testing.T, tp *testProxy, method, path string, hdr map[string]string, body string, code int) string {
	t.Helper()
	var got int
	var text string
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, text = inboundDo(t, tp, method, path, hdr, body)
		if got == code {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %d %q, want %d", method, path, got, text, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInboundAuthorization(t *testing.T) {
	app := newBackend(t, "productpage", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Saw-Authorization", r.Header.Get("Authorization"))
		_, _ = io.WriteString(w, "page")
	})
	files := map[string]string{"proxy.yaml": productpageProxy, "security.yaml": ""}
	tp := startProxy(t, files, []string{"proxy.yaml", "security.yaml"}, nil)
	tp.setDst(app.addr())
	eventually(t, "ready", tp.Ready)

	if code, _ := inboundDo(t, tp, "GET", "/productpage", nil, ""); code != 200 {
		t.Fatalf("no policy: %d, want 200", code)
	}

	t.Run("allow-nothing answers 403 RBAC: access denied", func(t *testing.T) {
		tp.write(t, "security.yaml", authzSample(t, "allow-nothing"))
		if body := waitStatus(t, tp, "GET", "/productpage", nil, "", 403); body != rbacDeniedBody {
			t.Fatalf("body %q, want %q", body, rbacDeniedBody)
		}
		// A request with a body takes the net/http path, not the fast path: denied the same.
		if code, body := inboundDo(t, tp, "POST", "/productpage", nil, "x=1"); code != 403 || body != rbacDeniedBody {
			t.Fatalf("POST: %d %q", code, body)
		}
		metrics := scrape(t, tp.metrics)
		if !strings.Contains(metrics, `response_code="403"`) || !strings.Contains(metrics, `reporter="destination"`) {
			t.Fatalf("istio_requests_total has no 403 reported by the destination:\n%s", metrics)
		}
	})

	t.Run("productpage-viewer allows GET only", func(t *testing.T) {
		tp.write(t, "security.yaml", authzSample(t, "allow-nothing")+"\n---\n"+authzSample(t, "productpage-viewer"))
		waitStatus(t, tp, "GET", "/productpage", nil, "", 200)
		if code, _ := inboundDo(t, tp, "POST", "/productpage", nil, "x=1"); code != 403 {
			t.Fatalf("POST: %d, want 403", code)
		}
	})

	t.Run("a bad policy is rejected and the last good set stays", func(t *testing.T) {
		// The change drops productpage-viewer and adds a policy whose principal lacks a '/': if
		// the proxy applied what it could, GET would be denied; it keeps the previous set.
		bad := authzSample(t, "allow-nothing") + "\n---\n" + strings.Replace(authzSample(t, "details-viewer"),
			"cluster.local/ns/default/sa/bookinfo-productpage", "bookinfo-productpage", 1)
		tp.write(t, "security.yaml", bad)
		time.Sleep(200 * time.Millisecond) // ten reload polls
		if code, _ := inboundDo(t, tp, "GET", "/productpage", nil, ""); code != 200 {
			t.Fatalf("GET after a rejected change: %d, want 200 (the last good policies)", code)
		}
		if code, _ := inboundDo(t, tp, "POST", "/productpage", nil, "x=1"); code != 403 {
			t.Fatalf("POST after a rejected change: %d, want 403 (never fail open)", code)
		}
	})

	t.Run("JWT", func(t *testing.T) {
		key, jwks := testKey(t)
		jwksJSON, _ := json.Marshal(jwks)
		jwksJSON, _ = json.Marshal(string(jwksJSON)) // a JSON string is a YAML string
		tp.write(t, "security.yaml", `apiVersion: security.istio.io/v1
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
    jwks: `+string(jwksJSON)+`
---
apiVersion: security.istio.io/v1
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
		good := signToken(t, key, map[string]any{"iss": "testing@secure.istio.io", "sub": "testing@secure.istio.io", "exp": time.Now().Add(time.Hour).Unix()})
		other, _ := testKey(t)
		forged := signToken(t, other, map[string]any{"iss": "testing@secure.istio.io", "sub": "testing@secure.istio.io"})
		// Without a token: 403 once the new policies apply (GET was allowed before).
		if body := waitStatus(t, tp, "GET", "/productpage", nil, "", 403); body != rbacDeniedBody {
			t.Fatalf("no token: %q, want %q", body, rbacDeniedBody)
		}
		code, body := inboundDo(t, tp, "GET", "/productpage", map[string]string{"Authorization": "Bearer " + good}, "")
		if code != 200 || body != "page" {
			t.Fatalf("good token: %d %q, want 200", code, body)
		}
		if code, body := inboundDo(t, tp, "GET", "/productpage", map[string]string{"Authorization": "Bearer " + forged}, ""); code != 401 || body != "Jwt verification fails" {
			t.Fatalf("forged token: %d %q, want 401 Jwt verification fails", code, body)
		}
	})
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/stats/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "istio_requests_total") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

func testKey(t *testing.T) (*jwtissuer.Issuer, jose.JSONWebKeySet) {
	t.Helper()
	iss, err := jwtissuer.New("test")
	if err != nil {
		t.Fatal(err)
	}
	return iss, iss.JWKS()
}

func signToken(t *testing.T, iss *jwtissuer.Issuer, claims map[string]any) string {
	t.Helper()
	tok, err := iss.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestTLSPeerIsThePrincipal: the SPIFFE ID of a verified client certificate becomes the
// principal that Istio's details-viewer sample allows; another workload's identity is denied.
func TestTLSPeerIsThePrincipal(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(uri string) tls.Certificate {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		u, _ := url.Parse(uri)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), URIs: []*url.URL{u}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	handshake := func(clientCert tls.Certificate) connInfo {
		c, s := net.Pipe()
		defer c.Close()
		defer s.Close()
		srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{leaf("spiffe://cluster.local/ns/default/sa/bookinfo-details")},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
		cli := tls.Client(c, &tls.Config{Certificates: []tls.Certificate{clientCert}, RootCAs: pool,
			ServerName: "outbound_.9080_._.details.default.svc.cluster.local", InsecureSkipVerify: true})
		go func() { _ = cli.Handshake() }()
		if err := srv.Handshake(); err != nil {
			t.Fatal(err)
		}
		var info connInfo
		info.setTLSPeer(srv.ConnectionState())
		return info
	}
	info := handshake(leaf("spiffe://cluster.local/ns/default/sa/bookinfo-productpage"))
	if info.peer != "spiffe://cluster.local/ns/default/sa/bookinfo-productpage" || info.sni != "outbound_.9080_._.details.default.svc.cluster.local" {
		t.Fatalf("peer %q sni %q", info.peer, info.sni)
	}
	snap, err := config.Parse("details-viewer.yaml", []byte(authzSample(t, "details-viewer")))
	if err != nil {
		t.Fatal(err)
	}
	snap.Proxy = config.Proxy{Namespace: "default", Labels: map[string]string{"app": "details"}}
	e, err := authz.Compile(snap.SelectedAuthorizationPolicies())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/details/0", nil)
	var ar authz.Request
	var hr authz.HTTP
	authzRequest(&ar, &hr, info, req)
	if d := e.Evaluate(&ar); !d.Allowed {
		t.Fatalf("productpage's identity denied: %+v", d)
	}
	info = handshake(leaf("spiffe://cluster.local/ns/default/sa/bookinfo-reviews"))
	authzRequest(&ar, &hr, info, req)
	if d := e.Evaluate(&ar); d.Allowed || d.Policy != "none" {
		t.Fatalf("reviews' identity: %+v, want denied", d)
	}
}
