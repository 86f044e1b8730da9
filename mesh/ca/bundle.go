package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The files of a mesh CA, named as in Istio's cacerts Secret so that a CA made for Istio plugs
// in unchanged: the signing certificate and its key, the chain from the signing certificate up
// to the root, and the root (the trust anchor every workload gets).
const (
	BundleCACert    = "ca-cert.pem"
	BundleCAKey     = "ca-key.pem"
	BundleCertChain = "cert-chain.pem"
	BundleRootCert  = "root-cert.pem"
)

// Bundle is a mesh CA in PEM, as a cacerts-style Secret holds it. CertChain may be empty (a
// self-signed CA, or a signing certificate issued by the root directly).
type Bundle struct {
	CACert, CAKey, CertChain, RootCert []byte
}

// Files returns the bundle as Secret data (or a directory's files), by file name.
func (b Bundle) Files() map[string][]byte {
	return map[string][]byte{BundleCACert: b.CACert, BundleCAKey: b.CAKey, BundleCertChain: b.CertChain, BundleRootCert: b.RootCert}
}

// BundleFrom is Files' inverse.
func BundleFrom(files map[string][]byte) Bundle {
	return Bundle{CACert: files[BundleCACert], CAKey: files[BundleCAKey], CertChain: files[BundleCertChain], RootCert: files[BundleRootCert]}
}

// NewBundle makes a self-signed mesh root (what `mesh install` keeps in a Secret when the user
// brings no CA of their own).
func NewBundle(o Options) (Bundle, error) {
	if o.CommonName == "" {
		o.CommonName = "meshlab mesh root CA"
	}
	root, err := New(o)
	if err != nil {
		return Bundle{}, err
	}
	key, err := root.KeyPEM()
	if err != nil {
		return Bundle{}, err
	}
	return Bundle{CACert: root.CertPEM(), CAKey: key, RootCert: root.CertPEM()}, nil
}

// LoadBundle builds a CA from a bundle, checking that it holds together: the signing certificate
// is a CA whose key is the one given, and it chains up to the root through the chain's
// certificates. Errors name the file at fault.
func LoadBundle(b Bundle, o Options) (*CA, error) {
	o.defaults()
	certs, err := parseCerts(b.CACert)
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("ca: %s: %w", BundleCACert, orNoCert(err))
	}
	cert := certs[0]
	if !cert.IsCA {
		return nil, fmt.Errorf("ca: %s: %q is not a CA certificate", BundleCACert, cert.Subject)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("ca: %s: %q may not sign certificates (no certSign key usage)", BundleCACert, cert.Subject)
	}
	key, err := parseKey(b.CAKey)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", BundleCAKey, err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("ca: %s does not belong to the certificate in %s", BundleCAKey, BundleCACert)
	}
	roots, err := parseCerts(b.RootCert)
	if err != nil || len(roots) == 0 {
		return nil, fmt.Errorf("ca: %s: %w", BundleRootCert, orNoCert(err))
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	chain, err := parseCerts(b.CertChain)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", BundleCertChain, err)
	}
	// What follows a leaf: the signing certificate, then the chain's intermediates; the signing
	// certificate again (Istio's cert-chain.pem starts with it) and roots are left out.
	var chainDER [][]byte
	isRoot := func(c *x509.Certificate) bool {
		for _, r := range roots {
			if r.Equal(c) {
				return true
			}
		}
		return false
	}
	if !isRoot(cert) {
		chainDER = append(chainDER, cert.Raw)
	}
	inter := x509.NewCertPool()
	for _, c := range chain {
		if c.Equal(cert) || isRoot(c) {
			continue
		}
		chainDER = append(chainDER, c.Raw)
		inter.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: o.Now()}); err != nil {
		return nil, fmt.Errorf("ca: %s does not chain up to %s through %s: %w", BundleCACert, BundleRootCert, BundleCertChain, err)
	}
	c := &CA{cert: cert, key: key, certPEM: encodeCert(cert.Raw), chainDER: chainDER, root: roots[0], now: o.Now}
	for _, d := range chainDER {
		c.chainPEM = append(c.chainPEM, encodeCert(d)...)
	}
	for _, r := range roots {
		c.rootPEM = append(c.rootPEM, encodeCert(r.Raw)...)
	}
	return c, nil
}

// ErrNoBundle is LoadBundleDir's answer for a directory without a CA in it.
var ErrNoBundle = errors.New("ca: no CA bundle here")

// LoadBundleDir loads a bundle from a directory (a mounted Secret). A directory missing, or
// without ca-cert.pem and ca-key.pem, is ErrNoBundle, so a caller can try the next one the way
// Istio prefers a plugged-in cacerts over its own root.
func LoadBundleDir(dir string, o Options) (*CA, error) {
	files := map[string][]byte{}
	for _, name := range []string{BundleCACert, BundleCAKey, BundleCertChain, BundleRootCert} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case err == nil:
			files[name] = data
		case errors.Is(err, fs.ErrNotExist):
		default:
			return nil, fmt.Errorf("ca: %w", err)
		}
	}
	if len(files[BundleCACert]) == 0 && len(files[BundleCAKey]) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoBundle, dir)
	}
	c, err := LoadBundle(BundleFrom(files), o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return c, nil
}

func orNoCert(err error) error {
	if err == nil {
		return errors.New("no PEM CERTIFICATE block")
	}
	return err
}

// parseCerts reads every CERTIFICATE block; other blocks are an error.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out, nil
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("a PEM %q block where certificates were expected", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

// parseKey reads an ECDSA, RSA or Ed25519 private key in SEC 1, PKCS #1 or PKCS #8 form (Istio's
// own cert tooling writes RSA keys).
func parseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	var k any
	var err error
	switch b.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q, want EC PRIVATE KEY, RSA PRIVATE KEY or PRIVATE KEY", b.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("a %T key is not supported", k)
}
