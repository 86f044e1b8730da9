package pilot

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/meshlab/meshlab/mesh/ca"
)

// servingValidity is the life of the control plane's own TLS certificate; it is reissued in
// memory at half of it, so it never needs a restart or a Secret.
const servingValidity = 7 * 24 * time.Hour

// servingTLS is the secure port's TLS: a certificate from the mesh CA for the control plane's
// DNS names (the sidecars verify it against the mesh root), reissued before it gets old. A
// client certificate is asked for, not required: a sidecar presents its workload certificate
// once it has one, and the server checks it itself (ServeOptions.MeshRoots) for status only, so
// that a certificate of an old root never costs a sidecar its connection.
func servingTLS(c *ca.CA, names []string) *tls.Config {
	if len(names) == 0 {
		names = []string{"localhost"}
	}
	var mu sync.Mutex
	var current *tls.Certificate
	var renewAt time.Time
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2"},
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			mu.Lock()
			defer mu.Unlock()
			if current != nil && time.Now().Before(renewAt) {
				return current, nil
			}
			r := ca.Request{Server: true, Validity: servingValidity}
			for _, n := range names {
				if ip := net.ParseIP(n); ip != nil {
					r.IPs = append(r.IPs, ip)
				} else {
					r.DNSNames = append(r.DNSNames, n)
				}
			}
			leaf, err := c.Issue(r)
			if err != nil {
				return nil, fmt.Errorf("pilot: serving certificate: %w", err)
			}
			current = &leaf.TLS
			renewAt = time.Now().Add(servingValidity / 2)
			return current, nil
		},
	}
}
