package ca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newCA(t *testing.T, o Options) *CA {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssueServerVerifiesAgainstRoot(t *testing.T) {
	c := newCA(t, Options{})
	leaf, err := c.Issue(Request{DNSNames: []string{"meshlab-pilot.meshlab-system.svc"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(leaf.TLS.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "meshlab-pilot.meshlab-system.svc", Roots: c.Pool()}); err != nil {
		t.Fatalf("leaf does not verify against its root: %v", err)
	}
	if cert.IsCA {
		t.Error("leaf must not be a CA")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: c.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("a server-only leaf verified for client auth")
	}
	other := newCA(t, Options{})
	if _, err := cert.Verify(x509.VerifyOptions{Roots: other.Pool()}); err == nil {
		t.Error("leaf verified against an unrelated root")
	}
}

func TestLeafNeverOutlivesRoot(t *testing.T) {
	c := newCA(t, Options{Validity: time.Hour})
	leaf, err := c.Issue(Request{DNSNames: []string{"x"}, Server: true, Validity: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if leaf.TLS.Leaf.NotAfter.After(c.Certificate().NotAfter) {
		t.Errorf("leaf expires %v after root %v", leaf.TLS.Leaf.NotAfter, c.Certificate().NotAfter)
	}
}

func TestIssueRefusesUselessRequests(t *testing.T) {
	c := newCA(t, Options{})
	for name, r := range map[string]Request{
		"no names": {Server: true},
		"no usage": {DNSNames: []string{"x"}},
	} {
		if _, err := c.Issue(r); err == nil {
			t.Errorf("%s: issued anyway", name)
		}
	}
}

func TestSPIFFEURIsCarried(t *testing.T) {
	c := newCA(t, Options{})
	id, _ := url.Parse("spiffe://cluster.local/ns/default/sa/bookinfo-productpage")
	leaf, err := c.Issue(Request{URIs: []*url.URL{id}, Server: true, Client: true, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := leaf.TLS.Leaf.URIs; len(got) != 1 || got[0].String() != id.String() {
		t.Errorf("URIs = %v", got)
	}
}

func TestLoadRoundTripAndMismatch(t *testing.T) {
	c := newCA(t, Options{})
	keyPEM, err := c.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(c.CertPEM(), keyPEM, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !back.Certificate().Equal(c.Certificate()) {
		t.Error("loaded a different certificate")
	}
	other := newCA(t, Options{})
	otherKey, _ := other.KeyPEM()
	if _, err := Load(c.CertPEM(), otherKey, Options{}); err == nil {
		t.Error("accepted a key of another CA")
	}
	if _, err := Load([]byte("junk"), keyPEM, Options{}); err == nil {
		t.Error("accepted junk")
	}
	leaf, _ := c.Issue(Request{DNSNames: []string{"x"}, Server: true})
	if _, err := Load(leaf.CertPEM, leaf.KeyPEM, Options{}); err == nil {
		t.Error("accepted a leaf as a CA")
	}
}

func TestLoadOrCreateKeepsTheRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	first, err := LoadOrCreate(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	second, err := LoadOrCreate(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Certificate().Equal(second.Certificate()) {
		t.Error("second run made a new root; the apiserver's caBundle would no longer match")
	}
	if err := os.Remove(filepath.Join(dir, CertFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir, Options{}); err == nil {
		t.Error("a key without its certificate was silently replaced")
	}
}

// TestRealTLSHandshake serves HTTPS on loopback with an issued leaf and calls it with a client
// that trusts only the root: what the apiserver does with the webhook's caBundle.
func TestRealTLSHandshake(t *testing.T) {
	c := newCA(t, Options{})
	leaf, err := c.Issue(Request{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.Pool(), MinVersion: tls.VersionTLS12}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("handshake with a root-only trust store: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "ok" {
		t.Errorf("body %q", body)
	}
}
