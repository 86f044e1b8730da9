package sidecarcmd

import (
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/meshlab/meshlab/mesh/identity"
	"github.com/meshlab/meshlab/mesh/spiffe"
	"github.com/meshlab/meshlab/mesh/xds"
)

// securityFlags are the sidecar's identity and control-plane TLS settings.
type securityFlags struct {
	mtls           bool
	rootCert       string
	token          string
	trustDomain    string
	serviceAccount string
	certTTL        time.Duration
}

func (s *securityFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&s.mtls, "mtls", false, "with --xds: get a workload certificate from the control plane's CA and take part in the mesh's mutual TLS (the injector sets it)")
	fl.StringVar(&s.rootCert, "xds-root-cert", "", "with --xds: connect over TLS, trusting this mesh root (the injected meshlab-ca-root-cert ConfigMap); without it the connection is plaintext")
	fl.StringVar(&s.token, "token", "", "with --xds: the pod's projected ServiceAccount token (audience meshlab-ca), sent to prove who this sidecar is")
	fl.StringVar(&s.trustDomain, "trust-domain", spiffe.DefaultTrustDomain, "with --mtls: the trust domain of this sidecar's SPIFFE ID")
	fl.StringVar(&s.serviceAccount, "service-account", "", "with --mtls: this pod's ServiceAccount (default $SERVICE_ACCOUNT, else default)")
	fl.DurationVar(&s.certTTL, "cert-ttl", 0, "with --mtls: the certificate lifetime to ask for (0: the CA's default, 24h); renewed at half of it")
}

// workloadCerts is the control-plane connection shared by xDS and the CA client, and the
// certificate manager when --mtls asks for one.
type workloadCerts struct {
	conn      *grpc.ClientConn
	tokenPath string
	identity  *identity.Manager
}

// setUp dials the control plane as the flags say and prepares the certificate manager.
func (s *securityFlags) setUp(addr, namespace string, getenv func(string) string, log *slog.Logger) (*workloadCerts, error) {
	var root []byte
	if s.rootCert != "" {
		var err error
		if root, err = os.ReadFile(s.rootCert); err != nil {
			return nil, fmt.Errorf("--xds-root-cert: %w", err)
		}
	}
	if s.token != "" {
		if _, err := os.Stat(s.token); err != nil {
			return nil, fmt.Errorf("--token: %w", err)
		}
	}
	var manager atomic.Pointer[identity.Manager]
	conn, err := xds.Dial(addr, root, identity.CertificateOf(&manager))
	if err != nil {
		return nil, err
	}
	out := &workloadCerts{conn: conn, tokenPath: s.token}
	if !s.mtls {
		return out, nil
	}
	sa := s.serviceAccount
	if sa == "" {
		sa = getenv("SERVICE_ACCOUNT")
	}
	if sa == "" {
		sa = "default"
	}
	id := spiffe.ID{TrustDomain: s.trustDomain, Namespace: namespace, ServiceAccount: sa}
	m, err := identity.New(identity.Options{Conn: conn, ID: id, TokenPath: s.token, TTL: s.certTTL, Root: root, Logger: log})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("--mtls: %w", err)
	}
	manager.Store(m)
	out.identity = m
	return out, nil
}
