package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/spiffe"
)

var reviews = spiffe.ID{TrustDomain: "cluster.local", Namespace: "bookinfo", ServiceAccount: "bookinfo-reviews"}

func csrFor(t *testing.T, key crypto.Signer, uris []string, dns ...string) []byte {
	t.Helper()
	tmpl := &x509.CertificateRequest{DNSNames: dns}
	for _, u := range uris {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, p)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func parseChain(t *testing.T, chainPEM []byte) []*x509.Certificate {
	t.Helper()
	certs, err := parseCerts(chainPEM)
	if err != nil || len(certs) == 0 {
		t.Fatalf("chain: %v (%d certificates)", err, len(certs))
	}
	return certs
}

// verifyWorkload checks a chain the way a peer sidecar does: leaf to root, through what came
// between, for client and server use.
func verifyWorkload(t *testing.T, certs []*x509.Certificate, roots *x509.CertPool) {
	t.Helper()
	inter := x509.NewCertPool()
	for _, c := range certs[1 : len(certs)-1] {
		inter.AddCert(c)
	}
	for _, use := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{use}}); err != nil {
			t.Fatalf("workload certificate does not verify for %v: %v", use, err)
		}
	}
}

func TestSignCSRIssuesTheCallersIdentity(t *testing.T) {
	c := newCA(t, Options{})
	key := ecKey(t)
	chain, err := c.SignCSR(csrFor(t, key, []string{reviews.String()}), reviews, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs := parseChain(t, chain)
	if len(certs) != 2 || !certs[1].Equal(c.Root()) {
		t.Fatalf("chain of %d certificates; want the leaf and, last, the root", len(certs))
	}
	leaf := certs[0]
	verifyWorkload(t, certs, c.Pool())
	got, err := spiffe.FromCertificate(leaf)
	if err != nil || got != reviews {
		t.Errorf("identity %+v, %v; want %+v", got, err, reviews)
	}
	if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Error("the certificate is not for the CSR's key")
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 2*time.Hour || d > 2*time.Hour+2*workloadBackdate {
		t.Errorf("lifetime %s, want 2h (+ backdating)", d)
	}
	if leaf.IsCA || len(leaf.DNSNames) > 0 || leaf.Subject.CommonName != "" {
		t.Errorf("leaf carries more than its SPIFFE ID: CA %v, DNS %v, CN %q", leaf.IsCA, leaf.DNSNames, leaf.Subject.CommonName)
	}
	def, err := c.SignCSR(csrFor(t, key, []string{reviews.String()}), reviews, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l := parseChain(t, def)[0]; l.NotAfter.Sub(l.NotBefore) < DefaultWorkloadTTL {
		t.Errorf("default lifetime %s, want %s", l.NotAfter.Sub(l.NotBefore), DefaultWorkloadTTL)
	}
}

func TestSignCSRRefuses(t *testing.T) {
	c := newCA(t, Options{})
	key := ecKey(t)
	good := csrFor(t, key, []string{reviews.String()})
	tampered := func() []byte {
		b, _ := pem.Decode(good)
		csr, _ := x509.ParseCertificateRequest(b.Bytes)
		raw := append([]byte(nil), b.Bytes...)
		// Flip a byte of the signature (the DER's tail): the request no longer proves the key.
		raw[len(raw)-3] ^= 0xff
		_ = csr
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: raw})
	}()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	other := spiffe.ID{TrustDomain: "cluster.local", Namespace: "bookinfo", ServiceAccount: "bookinfo-ratings"}
	for name, tc := range map[string]struct {
		csr  []byte
		id   spiffe.ID
		ttl  time.Duration
		want string
	}{
		"another identity":  {csrFor(t, key, []string{other.String()}), reviews, 0, "another identity"},
		"two identities":    {csrFor(t, key, []string{reviews.String(), other.String()}), reviews, 0, "another identity"},
		"no identity":       {csrFor(t, key, nil), reviews, 0, "another identity"},
		"a DNS name too":    {csrFor(t, key, []string{reviews.String()}, "reviews.bookinfo.svc"), reviews, 0, "only a SPIFFE ID"},
		"tampered":          {tampered, reviews, 0, "signature"},
		"not PEM":           {[]byte("junk"), reviews, 0, "no PEM"},
		"weak key":          {csrFor(t, weak, []string{reviews.String()}), reviews, 0, "too short"},
		"too long":          {good, reviews, MaxWorkloadTTL + time.Hour, "more than"},
		"negative lifetime": {good, reviews, -time.Hour, "negative"},
		"invalid identity":  {good, spiffe.ID{TrustDomain: "cluster.local", Namespace: "Bad", ServiceAccount: "x"}, 0, "namespace"},
	} {
		_, err := c.SignCSR(tc.csr, tc.id, tc.ttl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one saying %q", name, err, tc.want)
		}
	}
	_, err = c.SignCSR(csrFor(t, key, []string{other.String()}), reviews, 0)
	if !errors.Is(err, ErrIdentityMismatch) {
		t.Errorf("a CSR for another identity: %v, want ErrIdentityMismatch", err)
	}
}

// intermediateBundle builds what a user plugs in the Istio way: a root (RSA, as Istio's cert
// Makefile makes it), an intermediate signed by it that becomes the mesh's signing CA, and
// cert-chain.pem = intermediate + root.
func intermediateBundle(t *testing.T) (Bundle, *x509.Certificate) {
	t.Helper()
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "user root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	interKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	interTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "cluster1 intermediate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, &interKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	interPEM := encodeCert(interDER)
	rootPEM := encodeCert(rootDER)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(interKey)})
	return Bundle{CACert: interPEM, CAKey: keyPEM, CertChain: append(append([]byte(nil), interPEM...), rootPEM...), RootCert: rootPEM}, root
}

func TestPluggedIntermediateSignsChainsToTheUsersRoot(t *testing.T) {
	b, root := intermediateBundle(t)
	c, err := LoadBundle(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Root().Equal(root) {
		t.Fatal("the trust anchor is not root-cert.pem")
	}
	chain, err := c.SignCSR(csrFor(t, ecKey(t), []string{reviews.String()}), reviews, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs := parseChain(t, chain)
	if len(certs) != 3 || !certs[1].Equal(c.Certificate()) || !certs[2].Equal(root) {
		t.Fatalf("chain of %d: want leaf, intermediate, root", len(certs))
	}
	verifyWorkload(t, certs, c.Pool())
	// The leaf cannot outlive the intermediate (24 h) however long it asks for.
	long, err := c.SignCSR(csrFor(t, ecKey(t), []string{reviews.String()}), reviews, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if l := parseChain(t, long)[0]; l.NotAfter.After(c.Certificate().NotAfter) {
		t.Errorf("leaf expires %v, after its issuer %v", l.NotAfter, c.Certificate().NotAfter)
	}
	// Serving certificates (the control plane's own) carry the intermediate for their clients.
	leaf, err := c.Issue(Request{DNSNames: []string{"meshlab-pilot.meshlab-system.svc"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.TLS.Certificate) != 2 {
		t.Errorf("serving chain has %d certificates, want leaf + intermediate", len(leaf.TLS.Certificate))
	}
}

func TestLoadBundleRefusesBrokenBundles(t *testing.T) {
	b, _ := intermediateBundle(t)
	other, _ := intermediateBundle(t)
	self, err := NewBundle(Options{})
	if err != nil {
		t.Fatal(err)
	}
	leafCA := newCA(t, Options{})
	leaf, _ := leafCA.Issue(Request{DNSNames: []string{"x"}, Server: true})
	for name, tc := range map[string]struct {
		b    Bundle
		want string
	}{
		"key of another CA":       {Bundle{CACert: b.CACert, CAKey: other.CAKey, CertChain: b.CertChain, RootCert: b.RootCert}, "does not belong"},
		"another root":            {Bundle{CACert: b.CACert, CAKey: b.CAKey, CertChain: b.CertChain, RootCert: other.RootCert}, "does not chain up"},
		"no root":                 {Bundle{CACert: b.CACert, CAKey: b.CAKey, CertChain: b.CertChain}, BundleRootCert},
		"no signing certificate":  {Bundle{CAKey: b.CAKey, RootCert: b.RootCert}, BundleCACert},
		"a leaf as the CA":        {Bundle{CACert: leaf.CertPEM, CAKey: leaf.KeyPEM, RootCert: leafCA.CertPEM()}, "not a CA"},
		"a key where a cert goes": {Bundle{CACert: self.CAKey, CAKey: self.CAKey, RootCert: self.RootCert}, BundleCACert},
	} {
		_, err := LoadBundle(tc.b, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one naming %q", name, err, tc.want)
		}
	}
	if _, err := LoadBundle(self, Options{}); err != nil {
		t.Errorf("a self-signed bundle: %v", err)
	}
}

func TestLoadBundleDirSaysWhenThereIsNone(t *testing.T) {
	if _, err := LoadBundleDir(t.TempDir(), Options{}); !errors.Is(err, ErrNoBundle) {
		t.Errorf("empty directory: %v, want ErrNoBundle", err)
	}
}

func BenchmarkSignCSR(b *testing.B) {
	c, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	u := reviews.URL()
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SignCSR(csr, reviews, 0); err != nil {
			b.Fatal(err)
		}
	}
}
