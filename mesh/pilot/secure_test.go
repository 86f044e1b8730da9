package pilot

import (
	"context"
	"crypto/tls"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	securityv1alpha1 "istio.io/api/security/v1alpha1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/identity"
	"github.com/meshlab/meshlab/mesh/pilot/authn"
	"github.com/meshlab/meshlab/mesh/pilot/model"
	"github.com/meshlab/meshlab/mesh/pilot/server"
	"github.com/meshlab/meshlab/mesh/spiffe"
	"github.com/meshlab/meshlab/mesh/xds"
)

// staticRegistry pushes one State and keeps it.
type staticRegistry model.State

func (r staticRegistry) Run(ctx context.Context, push func(model.State)) error {
	push(model.State(r))
	<-ctx.Done()
	return nil
}

// tokens authenticates a fixed set of bearer tokens.
type tokens map[string]authn.Caller

func (m tokens) Authenticate(ctx context.Context) (authn.Caller, error) {
	tok, err := authn.BearerToken(ctx)
	if err != nil {
		return authn.Caller{}, err
	}
	c, ok := m[tok]
	if !ok {
		return authn.Caller{}, status.Error(codes.Unauthenticated, "unknown token")
	}
	return c, nil
}

func shopState() model.State {
	frontend := model.Pod{Name: "frontend-1", Namespace: "shop", Workload: "frontend", ServiceAccount: "frontend",
		UID: "uid-1", Labels: map[string]string{"app": "frontend"}, IP: netip.MustParseAddr("10.0.0.5")}
	return model.State{
		Services: []config.Service{{Name: "payments", Namespace: "shop", Ports: []config.Port{{Name: "http", Port: 8080}},
			Endpoints: []config.Endpoint{{Address: netip.MustParseAddr("10.0.0.6")}}}},
		Pods: map[netip.Addr]model.Pod{frontend.IP: frontend},
	}
}

// runShopPilot runs the control plane until the test ends: root as its CA, the shop's state,
// the frontend pod's token, a secure port, and a plaintext port too when plain is set.
func runShopPilot(t *testing.T, root *ca.CA, plain bool) (secureAddr, plainAddr, debugAddr string) {
	t.Helper()
	secureAddr, debugAddr = freeAddr(t), freeAddr(t)
	if plain {
		plainAddr = freeAddr(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{SecureAddr: secureAddr, GRPCAddr: plainAddr, DebugAddr: debugAddr, CA: root,
			Registry:     staticRegistry(shopState()),
			Auth:         tokens{"tok-frontend": {Namespace: "shop", ServiceAccount: "frontend", Pod: "frontend-1", PodUID: "uid-1"}},
			ServingNames: []string{"127.0.0.1"}})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pilot: %v", err)
		}
	})
	return secureAddr, plainAddr, debugAddr
}

// TestSecurePortTakesTheNodeFromTheAuthenticatedPod: on the TLS port a proxy that claims to be
// another workload is served as the pod its token is bound to; an unknown token gets nothing; the
// plaintext port, when an authenticator is set, offers no CA.
func TestSecurePortTakesTheNodeFromTheAuthenticatedPod(t *testing.T) {
	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secureAddr, plainAddr, debugAddr := runShopPilot(t, root, true)
	conn, err := xds.Dial(secureAddr, root.RootPEM(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tokenPath := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenPath, []byte("tok-frontend\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	claimed := config.Proxy{ID: "payments-1.shop", Namespace: "shop", Workload: "payments", Labels: map[string]string{"app": "payments"},
		IP: netip.MustParseAddr("10.0.0.6")}
	cctx, ccancel := context.WithCancel(context.Background())
	cdone := make(chan struct{})
	go func() {
		defer close(cdone)
		_ = xds.Run(cctx, xds.Options{Addr: secureAddr, Conn: conn, TokenPath: tokenPath, Proxy: claimed, Apply: func(*config.Snapshot) error { return nil }})
	}()
	defer func() { ccancel(); <-cdone }()
	var st []server.ProxyStatus
	waitFor(t, 10*time.Second, "the proxy SYNCED", func() bool {
		st, _ = FetchStatus(context.Background(), debugAddr)
		return len(st) == 1 && st[0].State == server.StateSynced
	})
	got := st[0]
	if got.ID != "frontend-1.shop" || got.Workload != "frontend" || got.IP != "10.0.0.5" ||
		got.Identity != "spiffe://cluster.local/ns/shop/sa/frontend" {
		t.Errorf("status %+v: want the token's pod frontend-1.shop (10.0.0.5, spiffe://cluster.local/ns/shop/sa/frontend), not the claimed payments", got)
	}

	if got.InboundMTLS != "PERMISSIVE" {
		t.Errorf("status inbound mTLS %q, want PERMISSIVE (no policy)", got.InboundMTLS)
	}
	m, err := identity.New(identity.Options{Conn: conn, ID: spiffe.ID{TrustDomain: "cluster.local", Namespace: "shop", ServiceAccount: "frontend"},
		TokenPath: tokenPath, Root: root.RootPEM()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Refresh(context.Background())
	if err != nil {
		t.Fatalf("certificate over the secure port: %v", err)
	}
	st, _ = FetchStatus(context.Background(), debugAddr)
	if len(st) != 1 || !st[0].CertExpiry.Equal(b.NotAfter) {
		t.Errorf("status certificate expiry %v, want %v", st, b.NotAfter)
	}

	t.Run("unknown token", func(t *testing.T) {
		code := adsRefusal(t, conn, "tok-stolen")
		if code != codes.Unauthenticated {
			t.Errorf("stream with an unknown token: %v, want Unauthenticated", code)
		}
	})
	t.Run("no CA on the plaintext port", func(t *testing.T) {
		plain, err := xds.Dial(plainAddr, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		_, err = securityv1alpha1.NewIstioCertificateServiceClient(plain).CreateCertificate(context.Background(), &securityv1alpha1.IstioCertificateRequest{})
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("CA on the plaintext port: %v, want Unimplemented", err)
		}
	})
	t.Run("another root", func(t *testing.T) {
		other, _ := ca.New(ca.Options{})
		bad, err := xds.Dial(secureAddr, other.RootPEM(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close()
		if code := adsRefusal(t, bad, "tok-frontend"); code != codes.Unavailable {
			t.Errorf("a client trusting another root: %v, want the handshake to fail (Unavailable)", code)
		}
	})
}

// adsRefusal opens an ADS stream with token and returns the code the stream ends with.
func adsRefusal(t *testing.T, conn *grpc.ClientConn, token string) codes.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return status.Code(err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "x"}, TypeUrl: resource.ClusterType}); err != nil {
		return status.Code(err)
	}
	_, err = stream.Recv()
	return status.Code(err)
}

// TestStatusShowsThePresentedCertificate: a control plane that did not sign a sidecar's
// certificate (it restarted since) learns its expiry from the certificate the sidecar presents
// on its connection, and only from a valid one of the sidecar's own identity; a certificate it
// cannot accept costs the sidecar nothing.
func TestStatusShowsThePresentedCertificate(t *testing.T) {
	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secureAddr, _, debugAddr := runShopPilot(t, root, false)
	tokenPath := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenPath, []byte("tok-frontend\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	issue := func(c *ca.CA, sa string, validity time.Duration) *tls.Certificate {
		t.Helper()
		id := spiffe.ID{TrustDomain: "cluster.local", Namespace: "shop", ServiceAccount: sa}
		leaf, err := c.Issue(ca.Request{URIs: []*url.URL{id.URL()}, Validity: validity, Server: true, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		return &leaf.TLS
	}
	for _, c := range []struct {
		name string
		cert *tls.Certificate
		want bool // the expiry shows
	}{
		{"its own certificate", issue(root, "frontend", 5*time.Hour), true},
		{"none yet", nil, false},
		{"another identity", issue(root, "payments", 6*time.Hour), false},
		{"another root", issue(other, "frontend", 7*time.Hour), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := xds.Dial(secureAddr, root.RootPEM(), func() *tls.Certificate { return c.cert })
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cctx, ccancel := context.WithCancel(context.Background())
			cdone := make(chan struct{})
			go func() {
				defer close(cdone)
				_ = xds.Run(cctx, xds.Options{Addr: secureAddr, Conn: conn, TokenPath: tokenPath, Proxy: config.Proxy{ID: "x"}, Apply: func(*config.Snapshot) error { return nil }})
			}()
			defer func() { ccancel(); <-cdone }()
			var st []server.ProxyStatus
			waitFor(t, 10*time.Second, "the proxy SYNCED", func() bool {
				st, _ = FetchStatus(context.Background(), debugAddr)
				return len(st) == 1 && st[0].State == server.StateSynced
			})
			switch {
			case c.want && !st[0].CertExpiry.Equal(c.cert.Leaf.NotAfter):
				t.Errorf("certificate expiry %v, want the presented certificate's %v", st[0].CertExpiry, c.cert.Leaf.NotAfter)
			case !c.want && !st[0].CertExpiry.IsZero():
				t.Errorf("certificate expiry %v from a certificate the control plane cannot accept, want none", st[0].CertExpiry)
			}
		})
		waitFor(t, 10*time.Second, "the proxy gone", func() bool {
			st, _ := FetchStatus(context.Background(), debugAddr)
			return len(st) == 0
		})
	}
}
