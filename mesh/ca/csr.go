package ca

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/meshlab/meshlab/mesh/spiffe"
)

// Workload certificate lifetimes, Istio's: 24 h by default (DEFAULT_WORKLOAD_CERT_TTL) and at
// most 90 days (MAX_WORKLOAD_CERT_TTL).
const (
	DefaultWorkloadTTL = 24 * time.Hour
	MaxWorkloadTTL     = 90 * 24 * time.Hour
	// workloadBackdate covers clock skew between nodes (Linkerd allows 20 s); kept short so that
	// a test's few-minute certificate is not mostly backdating.
	workloadBackdate = time.Minute
)

// ErrIdentityMismatch is a CSR asking for another identity than the caller proved.
var ErrIdentityMismatch = errors.New("ca: the CSR asks for another identity than the caller's")

// SignCSR signs a workload's certificate signing request for identity id, which the caller has
// authenticated (the CSR proves only possession of its key). The CSR must ask for exactly that
// SPIFFE ID as its one URI SAN and for nothing else; the certificate gets only that SAN,
// client and server authentication, and a lifetime of ttl (0: DefaultWorkloadTTL). It returns
// the certificate chain in PEM: the leaf, the CA's chain, and last the root, as Istio's CA
// answers.
func (c *CA) SignCSR(csrPEM []byte, id spiffe.ID, ttl time.Duration) ([]byte, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	switch {
	case ttl == 0:
		ttl = DefaultWorkloadTTL
	case ttl < 0:
		return nil, fmt.Errorf("ca: requested lifetime %s is negative", ttl)
	case ttl > MaxWorkloadTTL:
		return nil, fmt.Errorf("ca: requested lifetime %s is more than the %s allowed", ttl, MaxWorkloadTTL)
	}
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("ca: CSR: no PEM CERTIFICATE REQUEST block")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("ca: CSR: signature: %w", err)
	}
	if err := acceptableKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("ca: CSR: %w", err)
	}
	if len(csr.DNSNames)+len(csr.IPAddresses)+len(csr.EmailAddresses) > 0 {
		return nil, errors.New("ca: CSR: workload certificates carry only a SPIFFE ID (no DNS names, IPs or e-mail addresses)")
	}
	if len(csr.URIs) != 1 || csr.URIs[0].String() != id.String() {
		return nil, fmt.Errorf("%w: it asks for %v, the caller is %s", ErrIdentityMismatch, csr.URIs, id)
	}
	now := c.now()
	notAfter := now.Add(ttl)
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		NotBefore:      now.Add(-workloadBackdate),
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:           []*url.URL{id.URL()},
		AuthorityKeyId: c.cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, csr.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("ca: signing the certificate of %s: %w", id, err)
	}
	out := encodeCert(der)
	out = append(out, c.chainPEM...)
	return append(out, c.rootPEM...), nil
}

// acceptableKey refuses keys too weak to sign for: RSA below 2048 bits, curves below P-256.
func acceptableKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			return fmt.Errorf("ECDSA curve %s is not accepted (P-256, P-384 or P-521)", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("a %d-bit RSA key is too short (at least 2048)", k.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("a %T key is not accepted", pub)
	}
	return nil
}
