package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/pilot/authn"
	"github.com/meshlab/meshlab/mesh/spiffe"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

// ServeOptions shape one listener of the control plane.
type ServeOptions struct {
	// TLS, when set, serves over TLS (the secure port, Istio's 15012); nil serves plaintext.
	TLS *tls.Config
	// Auth, when set, authenticates every ADS stream, and the proxy's node identity (namespace,
	// workload, labels, address) is then the authenticated pod's, whatever the proxy claims.
	Auth authn.Authenticator
	// Register adds more services to the listener's gRPC server (the CA).
	Register []func(*grpc.Server)
	// MeshRoots, with Auth and TLS, are the mesh's trust anchors: a workload certificate the
	// caller presents on the connection (a sidecar that has one does) is checked against them,
	// and its expiry is shown in status when it is the caller's own identity. It authenticates
	// nothing (the token does); it is how the control plane knows a certificate it did not sign
	// itself, as after its own restart.
	MeshRoots *x509.CertPool
}

type callerKey struct{}

// streamCaller is what an authenticated ADS stream carries to the tracker: the caller, and the
// expiry of the valid certificate of the caller's own identity it presented (zero for none).
type streamCaller struct {
	authn.Caller
	certExpiry time.Time
}

// authenticateStreams is a stream interceptor that refuses a stream whose caller Auth does not
// accept and hands the caller to the tracker through the stream's context.
func (s *Server) authenticateStreams(o ServeOptions) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != adsMethod {
			return handler(srv, ss) // other streaming services authenticate themselves
		}
		c, err := o.Auth.Authenticate(ss.Context())
		if err != nil {
			return err
		}
		id := spiffe.ID{TrustDomain: s.opts.TrustDomain, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount}
		sc := streamCaller{Caller: c, certExpiry: presentedExpiry(ss.Context(), o.MeshRoots, id, time.Now())}
		return handler(srv, &callerStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), callerKey{}, sc)})
	}
}

// presentedExpiry is the NotAfter of the client certificate on ctx's TLS connection when it
// chains to roots for client use at now and names id; zero otherwise (none presented, another
// root, another identity, expired). A certificate that fails is ignored, never refused: the
// connection's authentication is the token.
func presentedExpiry(ctx context.Context, roots *x509.CertPool, id spiffe.ID, now time.Time) time.Time {
	p, ok := peer.FromContext(ctx)
	if !ok || roots == nil {
		return time.Time{}
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return time.Time{}
	}
	got, err := spiffe.VerifyChain(info.State.PeerCertificates, roots, x509.ExtKeyUsageClientAuth, now)
	if err != nil || got != id {
		return time.Time{}
	}
	return info.State.PeerCertificates[0].NotAfter
}

const adsMethod = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"

type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *callerStream) Context() context.Context { return s.ctx }

func callerFrom(ctx context.Context) (streamCaller, bool) {
	c, ok := ctx.Value(callerKey{}).(streamCaller)
	return c, ok
}

// authenticatedNode is the node an authenticated caller gets: its pod as the registry knows it.
// The claimed node is ignored, so no proxy can take another workload's name or config.
func (s *Server) authenticatedNode(c authn.Caller) (*corev3.Node, string, error) {
	if c.Pod == "" {
		return nil, "", status.Errorf(codes.Unauthenticated, "the token of %s/%s is not bound to a pod: send the pod's projected ServiceAccount token", c.Namespace, c.ServiceAccount)
	}
	s.mu.Lock()
	pod, ok := s.podsByName[c.Namespace+"/"+c.Pod]
	s.mu.Unlock()
	switch {
	case !ok:
		// Informers lag the apiserver a little; the proxy reconnects with backoff.
		return nil, "", status.Errorf(codes.Unavailable, "pod %s/%s is not known to the control plane yet", c.Namespace, c.Pod)
	case c.PodUID != "" && pod.UID != "" && c.PodUID != pod.UID:
		return nil, "", status.Errorf(codes.Unauthenticated, "the token is of an earlier pod named %s/%s", c.Namespace, c.Pod)
	case pod.ServiceAccount != "" && pod.ServiceAccount != c.ServiceAccount:
		return nil, "", status.Errorf(codes.PermissionDenied, "pod %s/%s runs as %s, the token is of %s", c.Namespace, c.Pod, pod.ServiceAccount, c.ServiceAccount)
	}
	p := config.Proxy{ID: pod.Name + "." + pod.Namespace, Namespace: pod.Namespace, Workload: pod.Workload, Labels: pod.Labels, IP: pod.IP}
	id := spiffe.ID{TrustDomain: s.opts.TrustDomain, Namespace: c.Namespace, ServiceAccount: c.ServiceAccount}
	return xdsnames.NodeFor(p), id.String(), nil
}
