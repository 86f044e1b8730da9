package xds

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Dial connects to the control plane at addr: over TLS, verifying its certificate against
// rootPEM (the mesh's trust anchor) for the host name in addr, when rootPEM is given, else in
// plaintext. The xDS client and the CA client share the connection. workload, when set, gives
// the certificate to present on a new TLS connection (nil: none yet), so that a control plane
// that restarted knows the certificate's expiry without having signed it.
func Dial(addr string, rootPEM []byte, workload func() *tls.Certificate) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if len(rootPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(rootPEM) {
			return nil, errors.New("xds: the control plane's root certificate holds no PEM certificate")
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("xds: control plane address %q: %w", addr, err)
		}
		cfg := &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
		if workload != nil {
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if c := workload(); c != nil {
					return c, nil
				}
				return &tls.Certificate{}, nil // none to present
			}
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("xds: control plane %s: %w", addr, err)
	}
	return conn, nil
}
