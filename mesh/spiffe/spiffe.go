// Package spiffe is the mesh's naming of workloads: SPIFFE IDs of the form
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, as Istio names them (one identity
// per Kubernetes ServiceAccount, trust domain cluster.local unless configured). The control
// plane's CA writes them into certificates; sidecars read them back from their peers'.
//
// It imports nothing of the mesh, so both the control plane and the sidecar link it.
package spiffe

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultTrustDomain is Istio's default and meshlab's.
const DefaultTrustDomain = "cluster.local"

// Scheme is the URI scheme of SPIFFE IDs.
const Scheme = "spiffe"

// ID is one workload identity.
type ID struct {
	TrustDomain    string
	Namespace      string
	ServiceAccount string
}

// String is the SPIFFE ID as a URI: spiffe://td/ns/NS/sa/SA.
func (id ID) String() string {
	return Scheme + "://" + id.TrustDomain + "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount
}

// URL is the ID as a URI SAN for a certificate.
func (id ID) URL() *url.URL {
	return &url.URL{Scheme: Scheme, Host: id.TrustDomain, Path: "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount}
}

// Validate checks every part: a trust domain of lower-case letters, digits, dots, dashes and
// underscores (the SPIFFE spec's set), and a namespace and ServiceAccount that are Kubernetes
// names (lower-case DNS labels or subdomains, which cannot hold a slash).
func (id ID) Validate() error {
	if err := ValidateTrustDomain(id.TrustDomain); err != nil {
		return err
	}
	if !isName(id.Namespace) {
		return fmt.Errorf("spiffe: namespace %q is not a Kubernetes name", id.Namespace)
	}
	if !isName(id.ServiceAccount) {
		return fmt.Errorf("spiffe: service account %q is not a Kubernetes name", id.ServiceAccount)
	}
	return nil
}

// ValidateTrustDomain checks a trust domain name (SPIFFE spec: [a-z0-9._-], at most 255 bytes).
func ValidateTrustDomain(td string) error {
	if td == "" || len(td) > 255 {
		return fmt.Errorf("spiffe: trust domain %q: want 1 to 255 characters", td)
	}
	for _, c := range td {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("spiffe: trust domain %q: only lower-case letters, digits, '.', '-' and '_' are allowed", td)
		}
	}
	return nil
}

func isName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '.') && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// Parse reads a SPIFFE ID of the mesh's form; anything else (another scheme, another path shape,
// a query or fragment) is an error.
func Parse(s string) (ID, error) {
	u, err := url.Parse(s)
	if err != nil {
		return ID{}, fmt.Errorf("spiffe: %q: %w", s, err)
	}
	return FromURL(u)
}

// FromURL reads a URI SAN as a SPIFFE ID of the mesh's form.
func FromURL(u *url.URL) (ID, error) {
	if u.Scheme != Scheme || u.User != nil || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return ID{}, fmt.Errorf("spiffe: %q is not a SPIFFE ID (spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/SERVICE-ACCOUNT)", u)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 4 || parts[0] != "ns" || parts[2] != "sa" {
		return ID{}, fmt.Errorf("spiffe: %q: want the path /ns/NAMESPACE/sa/SERVICE-ACCOUNT", u)
	}
	id := ID{TrustDomain: u.Host, Namespace: parts[1], ServiceAccount: parts[3]}
	if err := id.Validate(); err != nil {
		return ID{}, err
	}
	return id, nil
}

// FromCertificate returns the SPIFFE ID of a workload certificate: its one URI SAN. A
// certificate with none, several, or a URI that is not a SPIFFE ID has no identity.
func FromCertificate(c *x509.Certificate) (ID, error) {
	if c == nil {
		return ID{}, errors.New("spiffe: no certificate")
	}
	if len(c.URIs) != 1 {
		return ID{}, fmt.Errorf("spiffe: the certificate has %d URI SANs, want exactly one SPIFFE ID", len(c.URIs))
	}
	return FromURL(c.URIs[0])
}

// VerifyChain checks a peer's certificates (leaf first, then any intermediates) against roots
// for usage at now (zero: the current time) and returns the leaf's SPIFFE ID: what a sidecar
// checks of its mTLS peer and the control plane of a certificate a sidecar presents.
func VerifyChain(chain []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage, now time.Time) (ID, error) {
	if len(chain) == 0 {
		return ID{}, errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return ID{}, err
	}
	return FromCertificate(chain[0])
}
