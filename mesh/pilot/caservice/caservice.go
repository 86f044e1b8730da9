// Package caservice is the control plane's certificate service: Istio's
// istio.v1.auth.IstioCertificateService (CreateCertificate), so a sidecar sends a CSR for its
// SPIFFE ID and gets back its certificate chain. With Kubernetes, the caller is authenticated
// by its pod's projected ServiceAccount token (mesh/pilot/authn) and gets only that
// ServiceAccount's identity. Without Kubernetes (a local lab from files) there is nothing to
// check a claim against, and the CSR's own identity is signed as asked; that mode is only for
// labs on one machine and says so in its logs.
package caservice

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"time"

	securityv1alpha1 "istio.io/api/security/v1alpha1"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/pilot/authn"
	"github.com/meshlab/meshlab/mesh/spiffe"
)

// Options configure a Service.
type Options struct {
	CA          *ca.CA
	TrustDomain string // default spiffe.DefaultTrustDomain
	// Auth authenticates callers; nil trusts the identity a CSR asks for (no Kubernetes).
	Auth       authn.Authenticator
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: a private registry
	// Signed, when set, hears of every certificate signed for a pod (the caller's pod, known
	// with Kubernetes), for the control plane's status.
	Signed func(namespace, pod string, notAfter time.Time)
}

// Service implements IstioCertificateService.
type Service struct {
	securityv1alpha1.UnimplementedIstioCertificateServiceServer
	opts    Options
	signed  prometheus.Counter
	refused *prometheus.CounterVec
}

// New checks opts and builds the service.
func New(opts Options) (*Service, error) {
	if opts.CA == nil {
		return nil, errors.New("caservice: a CA is required")
	}
	if opts.TrustDomain == "" {
		opts.TrustDomain = spiffe.DefaultTrustDomain
	}
	if err := spiffe.ValidateTrustDomain(opts.TrustDomain); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	s := &Service{opts: opts,
		// Istio's citadel_server_* names, so its dashboards' CA panels read them.
		signed: prometheus.NewCounter(prometheus.CounterOpts{Name: "citadel_server_success_cert_issuance_count",
			Help: "Workload certificates signed."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshlab_ca_refused_total",
			Help: "Certificate requests refused, by gRPC code."}, []string{"code"}),
	}
	for _, c := range []prometheus.Collector{s.signed, s.refused} {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("caservice: metrics: %w", err)
		}
	}
	if opts.Auth == nil {
		opts.Logger.Warn("caservice: no authenticator: certificates are signed for whatever identity a CSR asks (local labs without Kubernetes only)")
	}
	return s, nil
}

// Register adds the service to a gRPC server.
func (s *Service) Register(g *grpc.Server) {
	securityv1alpha1.RegisterIstioCertificateServiceServer(g, s)
}

// CreateCertificate signs the caller's CSR.
func (s *Service) CreateCertificate(ctx context.Context, req *securityv1alpha1.IstioCertificateRequest) (*securityv1alpha1.IstioCertificateResponse, error) {
	resp, err := s.create(ctx, req)
	if err != nil {
		code := status.Code(err)
		s.refused.WithLabelValues(code.String()).Inc()
		s.opts.Logger.Warn("caservice: certificate request refused", "code", code, "err", err)
		return nil, err
	}
	s.signed.Inc()
	return resp, nil
}

func (s *Service) create(ctx context.Context, req *securityv1alpha1.IstioCertificateRequest) (*securityv1alpha1.IstioCertificateResponse, error) {
	var id spiffe.ID
	var caller authn.Caller
	if s.opts.Auth != nil {
		c, err := s.opts.Auth.Authenticate(ctx)
		if err != nil {
			return nil, err
		}
		caller = c
		id = spiffe.ID{TrustDomain: s.opts.TrustDomain, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount}
	} else {
		claimed, err := csrIdentity(req.GetCsr())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		if claimed.TrustDomain != s.opts.TrustDomain {
			return nil, status.Errorf(codes.PermissionDenied, "caservice: %s is not in trust domain %s", claimed, s.opts.TrustDomain)
		}
		id = claimed
	}
	ttl := time.Duration(req.GetValidityDuration()) * time.Second
	chain, err := s.opts.CA.SignCSR([]byte(req.GetCsr()), id, ttl)
	if errors.Is(err, ca.ErrIdentityMismatch) {
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	resp := &securityv1alpha1.IstioCertificateResponse{}
	for rest := chain; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if len(resp.CertChain) == 0 && s.opts.Signed != nil && caller.Pod != "" {
			if leaf, err := x509.ParseCertificate(b.Bytes); err == nil {
				s.opts.Signed(caller.Namespace, caller.Pod, leaf.NotAfter)
			}
		}
		resp.CertChain = append(resp.CertChain, string(pem.EncodeToMemory(b)))
	}
	return resp, nil
}

// csrIdentity reads the SPIFFE ID a CSR asks for (its signature is checked when it is signed).
func csrIdentity(csrPEM string) (spiffe.ID, error) {
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil {
		return spiffe.ID{}, errors.New("caservice: CSR: no PEM block")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return spiffe.ID{}, fmt.Errorf("caservice: CSR: %w", err)
	}
	if len(csr.URIs) != 1 {
		return spiffe.ID{}, fmt.Errorf("caservice: CSR asks for %d URIs, want one SPIFFE ID", len(csr.URIs))
	}
	return spiffe.FromURL(csr.URIs[0])
}
