package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File names in a CA directory. The key is written 0600.
const (
	CertFile = "ca.crt"
	KeyFile  = "ca.key"
)

// Load rebuilds a CA from PEM: a certificate that is a CA and its matching EC private key
// (SEC 1 "EC PRIVATE KEY" or PKCS#8 "PRIVATE KEY").
func Load(certPEM, keyPEM []byte, o Options) (*CA, error) {
	o.defaults()
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("ca: certificate: no PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("ca: certificate %q is not a CA", cert.Subject.CommonName)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("ca: key: no PEM block")
	}
	var key *ecdsa.PrivateKey
	switch kb.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	case "PRIVATE KEY":
		var k any
		k, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err == nil {
			var ok bool
			if key, ok = k.(*ecdsa.PrivateKey); !ok {
				err = fmt.Errorf("a %T, want ECDSA", k)
			}
		}
	default:
		err = fmt.Errorf("PEM block %q, want EC PRIVATE KEY or PRIVATE KEY", kb.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("ca: the key does not belong to the certificate")
	}
	pemCert := encodeCert(cb.Bytes)
	return &CA{cert: cert, key: key, certPEM: pemCert, root: cert, rootPEM: pemCert, now: o.Now}, nil
}

// KeyPEM is the signing key in PEM (SEC 1 for ECDSA, PKCS #8 otherwise). Handle with care.
func (c *CA) KeyPEM() ([]byte, error) {
	if k, ok := c.key.(*ecdsa.PrivateKey); ok {
		return encodeKey(k)
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		return nil, fmt.Errorf("ca: encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// LoadOrCreate loads the CA kept in dir, or creates one and writes it there (dir 0700, key
// 0600), so a restarted webhook keeps the root the apiserver already trusts.
func LoadOrCreate(dir string, o Options) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	certPEM, errC := os.ReadFile(certPath)
	keyPEM, errK := os.ReadFile(keyPath)
	switch {
	case errC == nil && errK == nil:
		c, err := Load(certPEM, keyPEM, o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		return c, nil
	case errors.Is(errC, fs.ErrNotExist) && errors.Is(errK, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("ca: %s: need both %s and %s: %w", dir, CertFile, KeyFile, errors.Join(errC, errK))
	}
	c, err := New(o)
	if err != nil {
		return nil, err
	}
	keyPEM, err = c.KeyPEM()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	// Key first: a crash between the writes leaves a key without a cert, which the next run
	// reports instead of silently making a second root.
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	if err := os.WriteFile(certPath, c.certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	return c, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("ca: encoding key: %w", err)
	}
	var b bytes.Buffer
	if err := pem.Encode(&b, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}); err != nil {
		return nil, fmt.Errorf("ca: encoding key: %w", err)
	}
	return b.Bytes(), nil
}
