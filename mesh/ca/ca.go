// Package ca is a small certificate authority: an ECDSA P-256 root that issues short-lived leaf
// certificates. The injector's webhook gets its serving certificate from it (and the apiserver
// trusts it through the webhook's caBundle); the control plane's workload identity CA is meant
// to reuse it with SPIFFE URIs (Request.URIs).
package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Defaults. The root lives long (10 years, like Istio's self-signed root); leaves are short.
const (
	DefaultRootValidity = 10 * 365 * 24 * time.Hour
	DefaultLeafValidity = 365 * 24 * time.Hour
	// backdate covers clock skew between this machine and the peers that verify.
	backdate = 5 * time.Minute
)

// CA is a root certificate and its key. It is immutable after construction and safe for
// concurrent use.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	now     func() time.Time
}

// Options for New and Load.
type Options struct {
	CommonName string           // default "meshlab root CA"
	Validity   time.Duration    // default DefaultRootValidity
	Now        func() time.Time // clock; default time.Now (tests set it)
}

func (o *Options) defaults() {
	if o.CommonName == "" {
		o.CommonName = "meshlab root CA"
	}
	if o.Validity == 0 {
		o.Validity = DefaultRootValidity
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// New creates a self-signed root.
func New(o Options) (*CA, error) {
	o.defaults()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: generating root key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := o.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.CommonName, Organization: []string{"meshlab"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(o.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // leaves only: no intermediates below this root
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ca: self-signing root: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parsing new root: %w", err)
	}
	return &CA{cert: cert, key: key, certPEM: encodeCert(der), now: o.Now}, nil
}

// Certificate is the root certificate.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// CertPEM is the root certificate in PEM: the caBundle of a webhook, a trust anchor for peers.
func (c *CA) CertPEM() []byte { return append([]byte(nil), c.certPEM...) }

// Pool is a cert pool holding just the root, for clients that verify leaves.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// Request asks for a leaf certificate.
type Request struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	URIs       []*url.URL // SPIFFE identities, for the workload CA
	Validity   time.Duration
	Server     bool // ExtKeyUsageServerAuth
	Client     bool // ExtKeyUsageClientAuth
}

// Leaf is an issued certificate with its key, in PEM and ready for crypto/tls.
type Leaf struct {
	CertPEM []byte // the leaf only; the root is CA.CertPEM
	KeyPEM  []byte
	TLS     tls.Certificate
}

// Issue signs a new leaf with a fresh P-256 key.
func (c *CA) Issue(r Request) (*Leaf, error) {
	if len(r.DNSNames) == 0 && len(r.IPs) == 0 && len(r.URIs) == 0 {
		return nil, errors.New("ca: a leaf needs at least one DNS name, IP or URI")
	}
	if !r.Server && !r.Client {
		return nil, errors.New("ca: a leaf must be for server or client authentication (or both)")
	}
	if r.Validity == 0 {
		r.Validity = DefaultLeafValidity
	}
	now := c.now()
	notAfter := now.Add(r.Validity)
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter // a leaf cannot outlive its root
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: generating leaf key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	if r.CommonName == "" && len(r.DNSNames) > 0 {
		r.CommonName = r.DNSNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: r.CommonName, Organization: []string{"meshlab"}},
		NotBefore:      now.Add(-backdate),
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		DNSNames:       r.DNSNames,
		IPAddresses:    r.IPs,
		URIs:           r.URIs,
		AuthorityKeyId: c.cert.SubjectKeyId,
	}
	if r.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if r.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("ca: signing leaf for %v: %w", r.DNSNames, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := encodeCert(der)
	tc, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: pairing leaf with its key: %w", err)
	}
	return &Leaf{CertPEM: certPEM, KeyPEM: keyPEM, TLS: tc}, nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("ca: serial number: %w", err)
	}
	return n, nil
}

// keyID is the SHA-256 of the public key, truncated to 20 bytes (RFC 7093 method 1).
func keyID(pub *ecdsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil // x509 fills a SHA-1 id itself when this is empty
	}
	sum := sha256.Sum256(der)
	return sum[:20]
}
