package proxy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/identity"
	"github.com/meshlab/meshlab/mesh/spiffe"
)

// staticCerts is a workload identity fixed for a test (the proxy reads it like the Manager's).
type staticCerts struct {
	b       atomic.Pointer[identity.Bundle]
	missing error
}

func (s *staticCerts) Current() *identity.Bundle { return s.b.Load() }
func (s *staticCerts) Ready() error {
	if s.missing != nil {
		return s.missing
	}
	if s.b.Load() == nil {
		return errors.New("no certificate")
	}
	return nil
}

// issue signs a workload certificate for sa in namespace default of root's trust domain.
func issue(t testing.TB, root *ca.CA, td, sa string) *staticCerts {
	t.Helper()
	id := spiffe.ID{TrustDomain: td, Namespace: "default", ServiceAccount: sa}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := identity.CSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	chainPEM, err := root.SignCSR(csr, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Certificate{PrivateKey: key}
	for rest := chainPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		tc.Certificate = append(tc.Certificate, b.Bytes)
	}
	tc.Certificate = tc.Certificate[:len(tc.Certificate)-1] // the root is not sent
	leaf, _ := x509.ParseCertificate(tc.Certificate[0])
	tc.Leaf = leaf
	s := &staticCerts{}
	s.b.Store(&identity.Bundle{ID: id, Certificate: tc, Roots: root.Pool(), RootPEM: root.RootPEM(), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Received: time.Now()})
	return s
}

// meshPair is a client sidecar and a server sidecar on loopback: the client's registry has one
// service whose endpoint is the server sidecar's inbound listener, and the server sidecar takes
// every connection as sent to the app.
type meshPair struct {
	client, server *testProxy
}

const serverProxyDoc = `apiVersion: meshlab.io/v1alpha1
kind: Proxy
spec:
  workload: reviews-v1
  namespace: default
  ip: 127.0.0.1
  labels: {app: reviews, version: v1}
`

// startPair starts the two sidecars. appAddr is the app behind the server sidecar; proto is the
// service port's protocol; identity is what the client expects the endpoint to be; serverPolicy
// is the server sidecar's PeerAuthentication document ("" for none).
func startPair(t testing.TB, clientCerts, serverCerts Certs, appAddr, proto, identity, serverPolicy string) *meshPair {
	t.Helper()
	files := map[string]string{"proxy.yaml": serverProxyDoc, "pa.yaml": serverPolicy}
	order := []string{"proxy.yaml"}
	if serverPolicy != "" {
		order = append(order, "pa.yaml")
	}
	srv := startProxy(t, files, order, func(o *Options) { o.Certs = serverCerts })
	srv.setDst(mustAddrPort(t, appAddr))
	reg := fmt.Sprintf(`apiVersion: meshlab.io/v1alpha1
kind: Registry
spec:
  services:
  - name: reviews
    ports: [{name: svc, port: 9080, protocol: %s}]
    endpoints:
    - {address: 127.0.0.1, port: %s, workload: reviews-v1, labels: {app: reviews, version: v1, security.istio.io/tlsMode: istio}, identity: %q}
`, proto, portOf(mustTCPAddr(t, srv.in)), identity)
	cli := startProxy(t, map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": reg}, []string{"proxy.yaml", "registry.yaml"},
		func(o *Options) { o.Certs = clientCerts })
	return &meshPair{client: cli, server: srv}
}

func mustAddrPort(t testing.TB, s string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustTCPAddr(t testing.TB, s string) net.Addr {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func metricsOf(t *testing.T, tp *testProxy) string {
	t.Helper()
	resp, err := http.Get("http://" + tp.metrics + "/stats/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

const (
	productpageID = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
	reviewsID     = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
)

// TestMutualTLSBetweenSidecars sends HTTP/1.1, gRPC (h2c) and TCP through a client sidecar that
// originates mutual TLS to a server sidecar that terminates it under STRICT, and checks the
// server's metrics name the mutual TLS and both principals.
func TestMutualTLSBetweenSidecars(t *testing.T) {
	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clientCerts, serverCerts := issue(t, root, "cluster.local", "bookinfo-productpage"), issue(t, root, "cluster.local", "bookinfo-reviews")
	strict := "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\nspec:\n  mtls: {mode: STRICT}\n"

	t.Run("HTTP/1.1", func(t *testing.T) {
		app := newBackend(t, "v1", nil)
		p := startPair(t, clientCerts, serverCerts, app.Listener.Addr().String(), "HTTP", reviewsID, strict)
		for i := 0; i < 3; i++ {
			if code, body := get(t, clientVia(p.client.out), "http://reviews:9080/", nil); code != 200 || body != "v1" {
				t.Fatalf("through the mTLS pair: %d %q", code, body)
			}
		}
		m := metricsOf(t, p.server)
		want := `connection_security_policy="mutual_tls"`
		if !strings.Contains(m, want) || !strings.Contains(m, `source_principal="`+productpageID+`"`) ||
			!strings.Contains(m, `destination_principal="`+reviewsID+`"`) {
			t.Errorf("server sidecar metrics lack %s and both principals:\n%s", want, grepLines(m, "istio_requests_total"))
		}
		cm := metricsOf(t, p.client)
		if !strings.Contains(cm, `destination_principal="`+reviewsID+`"`) || !strings.Contains(cm, `source_principal="`+productpageID+`"`) {
			t.Errorf("client sidecar metrics lack the principals:\n%s", grepLines(cm, "istio_requests_total"))
		}
	})
	t.Run("gRPC", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		g := grpc.NewServer()
		hs := health.NewServer()
		hs.SetServingStatus("reviews", healthpb.HealthCheckResponse_SERVING)
		healthpb.RegisterHealthServer(g, hs)
		go g.Serve(ln)
		t.Cleanup(g.Stop)
		p := startPair(t, clientCerts, serverCerts, ln.Addr().String(), "GRPC", reviewsID, strict)
		conn, err := grpc.NewClient("passthrough:///reviews:9080", grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", p.client.out)
			}))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "reviews"})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("gRPC through the mTLS pair: %v %v", resp, err)
		}
		if m := metricsOf(t, p.server); !strings.Contains(m, `request_protocol="grpc"`) || !strings.Contains(m, `connection_security_policy="mutual_tls"`) {
			t.Errorf("server sidecar did not see gRPC over mutual TLS:\n%s", grepLines(m, "istio_requests_total"))
		}
	})
	t.Run("TCP", func(t *testing.T) {
		echo := echoServer(t)
		p := startPair(t, clientCerts, serverCerts, echo, "TCP", reviewsID, strict)
		// The client sidecar takes the connection as sent to the endpoint (a pod address).
		p.client.setDst(mustAddrPort(t, p.server.in))
		c2 := dialRaw(t, p.client.out, 10*time.Second)
		if _, err := io.WriteString(c2, "ping over mtls\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len("ping over mtls\n"))
		if _, err := io.ReadFull(c2, buf); err != nil || string(buf) != "ping over mtls\n" {
			t.Fatalf("TCP echo through the mTLS pair: %q %v", buf, err)
		}
		c2.Close()
		eventually(t, "the server's TCP metrics", func() bool {
			m := metricsOf(t, p.server)
			return strings.Contains(m, "istio_tcp_connections_closed_total") && strings.Contains(m, `connection_security_policy="mutual_tls"`)
		})
	})
}

// TestPeerAuthenticationModesInbound sends plaintext straight to a server sidecar: STRICT
// refuses it, PERMISSIVE and DISABLE pass it; mutual TLS from a client sidecar passes STRICT and
// PERMISSIVE.
func TestPeerAuthenticationModesInbound(t *testing.T) {
	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clientCerts, serverCerts := issue(t, root, "cluster.local", "bookinfo-productpage"), issue(t, root, "cluster.local", "bookinfo-reviews")
	pa := func(mode string) string {
		return "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\nspec:\n  mtls: {mode: " + mode + "}\n"
	}
	for _, tc := range []struct {
		mode             string
		plaintext, mtls  bool
		plaintextSecured string
	}{
		{"STRICT", false, true, ""},
		{"PERMISSIVE", true, true, "none"},
		{"DISABLE", true, false, "none"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			app := newBackend(t, "v1", nil)
			p := startPair(t, clientCerts, serverCerts, app.Listener.Addr().String(), "HTTP", reviewsID, pa(tc.mode))
			c := clientVia(p.server.in)
			c.Timeout = 5 * time.Second
			resp, err := c.Get("http://reviews:9080/")
			if resp != nil {
				resp.Body.Close()
			}
			if got := err == nil && resp.StatusCode == 200; got != tc.plaintext {
				t.Errorf("plaintext straight to the server sidecar: accepted=%v (err %v), want %v", got, err, tc.plaintext)
			}
			code, _ := 0, ""
			r2, err := clientVia(p.client.out).Get("http://reviews:9080/")
			if err == nil {
				code = r2.StatusCode
				r2.Body.Close()
			}
			if got := code == 200; got != tc.mtls {
				t.Errorf("mutual TLS from the client sidecar: status %d (err %v), want success=%v", code, err, tc.mtls)
			}
		})
	}
}

// TestMutualTLSRefusesWrongPeers: a server whose certificate names another identity than the
// client expects, or comes from another CA, gets no request (503, upstream failure); a client
// whose certificate is from another CA is refused by the server.
func TestMutualTLSRefusesWrongPeers(t *testing.T) {
	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	good := issue(t, root, "cluster.local", "bookinfo-productpage")
	reviews := issue(t, root, "cluster.local", "bookinfo-reviews")
	for name, tc := range map[string]struct {
		client, server Certs
		expect         string
	}{
		"server is another identity":     {good, reviews, "spiffe://cluster.local/ns/default/sa/bookinfo-ratings"},
		"server from another CA":         {good, issue(t, other, "cluster.local", "bookinfo-reviews"), reviewsID},
		"client from another CA":         {issue(t, other, "cluster.local", "bookinfo-productpage"), reviews, reviewsID},
		"server in another trust domain": {good, issue(t, root, "example.org", "bookinfo-reviews"), ""},
	} {
		t.Run(name, func(t *testing.T) {
			app := newBackend(t, "v1", nil)
			p := startPair(t, tc.client, tc.server, app.Listener.Addr().String(), "HTTP", tc.expect, "")
			code, _ := get(t, clientVia(p.client.out), "http://reviews:9080/", nil)
			if code != http.StatusServiceUnavailable || app.hits.Load() != 0 {
				t.Errorf("status %d, app hits %d; want 503 and no request reaching the app", code, app.hits.Load())
			}
		})
	}
}

func TestNotReadyWithoutACertificate(t *testing.T) {
	certs := &staticCerts{missing: errors.New("the CA refused: PermissionDenied")}
	tp := startProxy(t, map[string]string{"proxy.yaml": testProxyDoc}, []string{"proxy.yaml"}, func(o *Options) { o.Certs = certs })
	resp, err := http.Get("http://" + tp.health + "/healthz/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "workload certificate: the CA refused") {
		t.Errorf("ready = %d %q; want 503 saying why", resp.StatusCode, body)
	}
}

func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTLSToServersOutsideTheMesh: DestinationRule SIMPLE and MUTUAL towards a TLS server that
// runs no sidecar, with the certificate files named in the rule and with a Secret's credential
// (credentialName); the server requires and checks the client certificate.
func TestTLSToServersOutsideTheMesh(t *testing.T) {
	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	serverLeaf, err := root.Issue(ca.Request{DNSNames: []string{"bank.example.org"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	clientLeaf, err := root.Issue(ca.Request{DNSNames: []string{"shop.example.org"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.TLS.PeerCertificates[0].DNSNames[0])
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverLeaf.TLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: root.Pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile, certFile, keyFile := write("ca.pem", root.RootPEM()), write("cert.pem", clientLeaf.CertPEM), write("key.pem", clientLeaf.KeyPEM)
	reg := fmt.Sprintf(`apiVersion: meshlab.io/v1alpha1
kind: Registry
spec:
  services:
  - name: bank
    ports: [{name: http, port: 9080}]
    endpoints: [{address: 127.0.0.1, port: %s, workload: bank}]
`, portOf(srv.Listener.Addr()))
	secret := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: bank-client, namespace: default}\nstringData:\n  cert: %q\n  key: %q\n  cacert: %q\n",
		clientLeaf.CertPEM, clientLeaf.KeyPEM, root.RootPEM())
	dr := func(tls string) string {
		return "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: bank, namespace: default}\nspec:\n  host: bank\n  trafficPolicy:\n    tls: " + tls + "\n"
	}
	for name, tc := range map[string]struct {
		dr   string
		want int
	}{
		"MUTUAL with files":             {dr(fmt.Sprintf("{mode: MUTUAL, caCertificates: %s, clientCertificate: %s, privateKey: %s, sni: bank.example.org}", caFile, certFile, keyFile)), 200},
		"MUTUAL from a Secret":          {dr("{mode: MUTUAL, credentialName: bank-client, sni: bank.example.org}"), 200},
		"SIMPLE: no client certificate": {dr(fmt.Sprintf("{mode: SIMPLE, caCertificates: %s, sni: bank.example.org}", caFile)), 503},
		"MUTUAL, wrong server name":     {dr("{mode: MUTUAL, credentialName: bank-client, sni: other.example.org}"), 503},
		"MUTUAL, no such Secret":        {dr("{mode: MUTUAL, credentialName: nope, sni: bank.example.org}"), 503},
	} {
		t.Run(name, func(t *testing.T) {
			tp := startProxy(t, map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": reg, "secret.yaml": secret, "dr.yaml": tc.dr},
				[]string{"proxy.yaml", "registry.yaml", "secret.yaml", "dr.yaml"}, nil)
			code, body := get(t, clientVia(tp.out), "http://bank:9080/", nil)
			if code != tc.want || tc.want == 200 && body != "hello shop.example.org" {
				t.Errorf("status %d %q, want %d", code, body, tc.want)
			}
		})
	}
}

// TestStrictClosesPlaintextAlreadyOpen: a plaintext keep-alive connection admitted under
// PERMISSIVE does not outlive a switch to STRICT (Envoy drains a filter chain that went away).
func TestStrictClosesPlaintextAlreadyOpen(t *testing.T) {
	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	app := newBackend(t, "v1", nil)
	pa := func(mode string) string {
		return "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\nspec:\n  mtls: {mode: " + mode + "}\n"
	}
	srv := startProxy(t, map[string]string{"proxy.yaml": serverProxyDoc, "pa.yaml": pa("PERMISSIVE")}, []string{"proxy.yaml", "pa.yaml"},
		func(o *Options) { o.Certs = issue(t, root, "cluster.local", "bookinfo-reviews") })
	srv.setDst(mustAddrPort(t, app.Listener.Addr().String()))
	c := dialRaw(t, srv.in, 10*time.Second)
	br := bufio.NewReader(c)
	send := func() error {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: reviews\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	}
	if err := send(); err != nil {
		t.Fatalf("plaintext under PERMISSIVE: %v", err)
	}
	srv.write(t, "pa.yaml", pa("STRICT"))
	eventually(t, "STRICT in force", func() bool { return strings.HasPrefix(srv.CertStatus().InboundTLS, "STRICT") })
	if err := send(); err == nil {
		t.Fatal("the plaintext connection admitted under PERMISSIVE still serves requests under STRICT")
	}
}
