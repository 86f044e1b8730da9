// Package ca is meshlab's certificate authority. It has two users:
//
//   - the webhooks: a self-signed ECDSA P-256 root issues their serving certificates (Issue), and
//     the apiserver trusts it through the webhooks' caBundle;
//   - the mesh: the control plane signs workload certificates (SignCSR) whose one URI SAN is the
//     workload's SPIFFE ID, with a root generated at `mesh install` or the user's own CA plugged
//     in the way Istio's cacerts Secret does it (bundle.go).
//
// A CA is a signing certificate and key, the chain from it up to the root, and the root: for a
// self-signed CA the three are one certificate.
package ca

import (
	"crypto"
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
	cert    *x509.Certificate // the signing certificate
	key     crypto.Signer
	certPEM []byte
	// chainPEM is what follows a leaf in the chains the CA hands out: the signing certificate
	// and its intermediates up to, not including, the root; empty for a self-signed CA.
	chainPEM []byte
	chainDER [][]byte
	root     *x509.Certificate
	rootPEM  []byte
	now      func() time.Time
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
	pemCert := encodeCert(der)
	return &CA{cert: cert, key: key, certPEM: pemCert, root: cert, rootPEM: pemCert, now: o.Now}, nil
}

// Certificate is the signing certificate (the root, for a self-signed CA).
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// CertPEM is the signing certificate in PEM: for a self-signed CA the root, the caBundle of a
// webhook.
func (c *CA) CertPEM() []byte { return append([]byte(nil), c.certPEM...) }

// Root is the trust anchor: the root certificate the chains end at.
func (c *CA) Root() *x509.Certificate { return c.root }

// RootPEM is the trust anchor in PEM, what peers and sidecars trust.
func (c *CA) RootPEM() []byte { return append([]byte(nil), c.rootPEM...) }

// Pool is a cert pool holding just the root, for clients that verify leaves.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.root)
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
	CertPEM []byte // the leaf only; the root is CA.RootPEM
	KeyPEM  []byte
	TLS     tls.Certificate // the leaf and the CA's chain up to the root, as a server presents it
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
		notAfter = c.cert.NotAfter // a leaf cannot outlive the certificate that signs it
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
	tc, err := tls.X509KeyPair(append(append([]byte(nil), certPEM...), c.chainPEM...), keyPEM)
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
