package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/identity"
	"github.com/meshlab/meshlab/mesh/spiffe"
)

// Certs is the sidecar's workload identity as the proxy's TLS reads it: the current certificate
// with its trust anchors, read at every handshake so that a renewed certificate is used at once
// (mesh/identity's Manager). What the control plane's xDS calls the "default" and "ROOTCA"
// secrets are these.
type Certs interface {
	Current() *identity.Bundle
	// Ready says why there is no usable certificate (nil when there is).
	Ready() error
}

// errNoCertificate is a handshake attempted before the first certificate arrived or after it
// expired; the sidecar is unready then, so this is rare.
var errNoCertificate = errors.New("no valid workload certificate")

// meshTLS makes the TLS configurations of the mesh's mutual TLS from the current certificate.
type meshTLS struct {
	certs    Certs
	server   *tls.Config
	clients  sync.Map // expected peer identity ("" = any in the trust domain) -> *tls.Config
	sessions tls.ClientSessionCache
}

func newMeshTLS(c Certs) *meshTLS {
	m := &meshTLS{certs: c, sessions: tls.NewLRUClientSessionCache(1024)}
	m.server = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return m.current() },
		// The client's certificate is required, and checked against the mesh root and trust
		// domain below (crypto/tls would check it against a fixed pool, not the current one).
		ClientAuth: tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := m.verifyPeer(cs.PeerCertificates, "", x509.ExtKeyUsageClientAuth)
			return err
		},
	}
	return m
}

func (m *meshTLS) current() (*tls.Certificate, error) {
	b := m.certs.Current()
	if b == nil {
		return nil, errNoCertificate
	}
	return &b.Certificate, nil
}

// client is the configuration for connecting to a sidecar whose certificate must carry
// expected (a SPIFFE ID), or any identity of the trust domain when expected is "".
func (m *meshTLS) client(expected string) *tls.Config {
	if c, ok := m.clients.Load(expected); ok {
		return c.(*tls.Config)
	}
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verified in VerifyConnection against the current root and the expected identity; the
		// peer has no DNS name to check (Istio's sidecars verify SPIFFE IDs the same way).
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return m.current()
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := m.verifyPeer(cs.PeerCertificates, expected, x509.ExtKeyUsageServerAuth)
			return err
		},
		ClientSessionCache: m.sessions,
	}
	got, _ := m.clients.LoadOrStore(expected, c)
	return got.(*tls.Config)
}

// verifyPeer checks a peer's chain against the current trust anchors for usage, and its SPIFFE
// ID: in our trust domain, and exactly expected when that is set.
func (m *meshTLS) verifyPeer(chain []*x509.Certificate, expected string, usage x509.ExtKeyUsage) (spiffe.ID, error) {
	b := m.certs.Current()
	if b == nil {
		return spiffe.ID{}, errNoCertificate
	}
	if len(chain) == 0 {
		return spiffe.ID{}, errors.New("the peer sent no certificate")
	}
	id, err := spiffe.VerifyChain(chain, b.Roots, usage, time.Time{})
	if err != nil {
		return spiffe.ID{}, fmt.Errorf("the peer's certificate: %w", err)
	}
	if id.TrustDomain != b.ID.TrustDomain {
		return spiffe.ID{}, fmt.Errorf("the peer %s is not in trust domain %s", id, b.ID.TrustDomain)
	}
	if expected != "" && id.String() != expected {
		return spiffe.ID{}, fmt.Errorf("the peer is %s, expected %s", id, expected)
	}
	return id, nil
}

// peerPrincipal is the SPIFFE ID of a verified TLS peer, for metrics and traces.
func peerPrincipal(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	id, err := spiffe.FromCertificate(cs.PeerCertificates[0])
	if err != nil {
		return ""
	}
	return id.String()
}

// ownPrincipal is this sidecar's SPIFFE ID, "" without a certificate.
func (m *meshTLS) ownPrincipal() string {
	if m == nil {
		return ""
	}
	if b := m.certs.Current(); b != nil {
		return b.ID.String()
	}
	return ""
}

// userTLS is the configuration of a DestinationRule's SIMPLE or MUTUAL tls towards a server
// outside the mesh, from the files it names (read when the config is applied).
func userTLS(t clientTLSFiles) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.SNI, InsecureSkipVerify: t.Insecure}
	caPEM, certPEM, keyPEM := []byte(nil), []byte(nil), []byte(nil)
	if cr := t.credential; cr != nil {
		caPEM, certPEM, keyPEM = cr.CA, cr.Cert, cr.Key
	} else {
		var err error
		if t.CA != "" {
			if caPEM, err = os.ReadFile(t.CA); err != nil {
				return nil, fmt.Errorf("caCertificates: %w", err)
			}
		}
		if t.Cert != "" || t.Key != "" {
			if certPEM, err = os.ReadFile(t.Cert); err != nil {
				return nil, fmt.Errorf("clientCertificate: %w", err)
			}
			if keyPEM, err = os.ReadFile(t.Key); err != nil {
				return nil, fmt.Errorf("privateKey: %w", err)
			}
		}
	}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("the trust anchors hold no PEM certificate")
		}
		c.RootCAs = pool
	}
	if len(certPEM) > 0 {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("the client certificate and key: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	if len(t.SANs) > 0 && !t.Insecure {
		// The server must present one of the names; crypto/tls checks only ServerName.
		sans := t.SANs
		roots := c.RootCAs
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, ic := range cs.PeerCertificates[1:] {
				inter.AddCert(ic)
			}
			var last error
			for _, name := range sans {
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name})
				if err == nil {
					return nil
				}
				last = err
			}
			return fmt.Errorf("the server's certificate matches none of %v: %w", sans, last)
		}
	}
	return c, nil
}

// clientTLSFiles is what userTLS needs of a cluster's settings: files, or a Secret's credential.
type clientTLSFiles struct {
	SNI, CA, Cert, Key string
	SANs               []string
	Insecure           bool
	credential         *config.Credential // in place of the files when set
}

// upstreamTLS is the TLS of each endpoint address of cl (nil entries are plaintext) and a key
// that changes whenever any of it does: the mesh's mutual TLS expecting the endpoint's identity
// where auto mTLS or ISTIO_MUTUAL asks for it, the user's files for SIMPLE and MUTUAL.
func (cs *clusterSet) upstreamTLS(cl *config.Cluster, creds map[string]config.Credential) (map[string]*tls.Config, string) {
	var b strings.Builder
	var out map[string]*tls.Config
	set := func(addr string, c *tls.Config) {
		if out == nil {
			out = map[string]*tls.Config{}
		}
		out[addr] = c
	}
	switch cl.TLS.Mode {
	case config.TLSSimple, config.TLSMutual:
		t := cl.TLS
		files := clientTLSFiles{SNI: t.SNI, CA: t.CACertificates, Cert: t.ClientCertificate, Key: t.PrivateKey, SANs: t.SubjectAltNames, Insecure: t.InsecureSkipVerify}
		var c *tls.Config
		var err error
		if t.CredentialName != "" {
			cred, ok := creds[t.CredentialName]
			if !ok {
				err = fmt.Errorf("credentialName %s: no such Secret", t.CredentialName)
			}
			files.credential = &cred
			fmt.Fprintf(&b, "%x|%x|%x|", sha256.Sum256(cred.Cert), sha256.Sum256(cred.Key), sha256.Sum256(cred.CA))
		}
		if err == nil {
			c, err = userTLS(files)
		}
		if err != nil {
			cs.p.opts.Logger.Error("proxy: the cluster's TLS credentials cannot be used; its connections will fail", "cluster", cl.Name, "err", err)
			c = failingTLS(err)
		}
		fmt.Fprintf(&b, "%s|%s|%s|%s|%s|%s|%v|%v", t.Mode, t.SNI, t.CACertificates, t.ClientCertificate, t.PrivateKey, t.CredentialName, t.SubjectAltNames, t.InsecureSkipVerify)
		for _, e := range cl.Endpoints {
			set(e.Addr.String(), c)
		}
		return out, b.String()
	}
	for _, e := range cl.Endpoints {
		if !cl.MeshTLSTo(e) {
			continue
		}
		fmt.Fprintf(&b, "%s=%s;", e.Addr, e.Identity)
		set(e.Addr.String(), cs.meshClient(cl, e.Identity))
	}
	return out, b.String()
}

// meshClient is the mesh's client TLS expecting identity, or, for a sidecar without a workload
// identity, plaintext under auto mTLS (the server decides whether it takes it) and a failing
// handshake where ISTIO_MUTUAL is asked for.
func (cs *clusterSet) meshClient(cl *config.Cluster, identity string) *tls.Config {
	if cs.p.mtls != nil {
		return cs.p.mtls.client(identity)
	}
	if cl.TLS.Mode == config.TLSIstioMutual {
		return failingTLS(errNoCertificate)
	}
	return nil
}

// pinnedTLS is the passthrough pools' TLS: a request to a pod address of the registry (pinned
// to that endpoint) gets the mutual TLS its service's cluster would give it.
func (cs *clusterSet) pinnedTLS(addr string) *tls.Config {
	t := cs.p.table.Load()
	ap, err := netip.ParseAddrPort(addr)
	if t == nil || err != nil {
		return nil
	}
	cl, e, ok := t.PodEndpoint(ap)
	if !ok || !cl.MeshTLSTo(e) {
		return nil
	}
	return cs.meshClient(cl, e.Identity)
}

// failingTLS makes every handshake fail with err, for settings that cannot be honoured:
// sending plaintext instead would be worse.
func failingTLS(err error) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify:   true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return nil, err },
		VerifyConnection:     func(tls.ConnectionState) error { return err },
	}
}

// CertStatus is what /certs reports (Envoy's admin has a /certs too): the sidecar's identity and
// its certificate's validity, and the inbound policy in force, for `meshlab mesh describe`.
type CertStatus struct {
	Identity   string    `json:"identity,omitempty"`
	Serial     string    `json:"serialNumber,omitempty"`
	NotBefore  time.Time `json:"notBefore,omitzero"`
	NotAfter   time.Time `json:"notAfter,omitzero"`
	Root       string    `json:"root,omitempty"`
	Error      string    `json:"error,omitempty"` // why there is no usable certificate
	InboundTLS string    `json:"inboundMTLS,omitempty"`
	// Outbound is, per cluster, its TLS mode and how many of its endpoints get mutual TLS.
	Outbound []ClusterTLS `json:"outbound,omitempty"`
}

// ClusterTLS is one cluster's upstream TLS.
type ClusterTLS struct {
	Cluster   string `json:"cluster"`
	Mode      string `json:"mode"` // auto, DISABLE, ISTIO_MUTUAL, SIMPLE, MUTUAL
	MTLS      int    `json:"mtlsEndpoints"`
	Endpoints int    `json:"endpoints"`
}

// CertStatus describes the current certificate; an empty Identity means the sidecar has no
// workload identity (plaintext only).
func (p *Proxy) CertStatus() CertStatus {
	var st CertStatus
	if t := p.table.Load(); t != nil {
		st.InboundTLS = t.Inbound.String()
		for _, name := range slices.Sorted(maps.Keys(t.Clusters)) {
			cl := t.Clusters[name]
			ct := ClusterTLS{Cluster: name, Mode: string(cl.TLS.Mode), Endpoints: len(cl.Endpoints)}
			if ct.Mode == "" {
				ct.Mode = "auto"
			}
			for _, e := range cl.Endpoints {
				if cl.MeshTLSTo(e) && p.mtls != nil {
					ct.MTLS++
				}
			}
			st.Outbound = append(st.Outbound, ct)
		}
	}
	if p.opts.Certs == nil {
		return st
	}
	if err := p.opts.Certs.Ready(); err != nil {
		st.Error = err.Error()
	}
	if b := p.opts.Certs.Current(); b != nil {
		st.Identity, st.NotBefore, st.NotAfter = b.ID.String(), b.NotBefore, b.NotAfter
		if leaf := b.Certificate.Leaf; leaf != nil {
			st.Serial = leaf.SerialNumber.Text(16)
		}
		if pool := b.RootPEM; len(pool) > 0 {
			if blk, _ := pem.Decode(pool); blk != nil {
				if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
					st.Root = c.Subject.String()
				}
			}
		}
	}
	return st
}
