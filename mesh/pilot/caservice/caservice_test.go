package caservice

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/identity"
	"github.com/meshlab/meshlab/mesh/pilot/authn"
	"github.com/meshlab/meshlab/mesh/spiffe"
)

type fixedCaller authn.Caller

func (f fixedCaller) Authenticate(context.Context) (authn.Caller, error) { return authn.Caller(f), nil }

// serve runs the service on loopback and returns a client connection to it.
func serve(t *testing.T, o Options) (*grpc.ClientConn, *ca.CA) {
	t.Helper()
	if o.CA == nil {
		c, err := ca.New(ca.Options{})
		if err != nil {
			t.Fatal(err)
		}
		o.CA = c
	}
	svc, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	svc.Register(g)
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, o.CA
}

// fetchOnce asks the CA once, as a sidecar starting up does.
func fetchOnce(t *testing.T, o identity.Options) (*identity.Bundle, error) {
	t.Helper()
	m, err := identity.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return m.Refresh(ctx)
}

var (
	productpage = spiffe.ID{TrustDomain: "cluster.local", Namespace: "bookinfo", ServiceAccount: "bookinfo-productpage"}
	ratings     = spiffe.ID{TrustDomain: "cluster.local", Namespace: "bookinfo", ServiceAccount: "bookinfo-ratings"}
)

func TestAuthenticatedCallerGetsItsOwnIdentityOnly(t *testing.T) {
	conn, root := serve(t, Options{Auth: fixedCaller{Namespace: "bookinfo", ServiceAccount: "bookinfo-productpage"}})
	b, err := fetchOnce(t, identity.Options{Conn: conn, ID: productpage, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != productpage || !b.Certificate.Leaf.NotAfter.After(time.Now().Add(59*time.Minute)) {
		t.Errorf("bundle %+v", b.ID)
	}
	if !strings.Contains(string(b.RootPEM), strings.TrimSpace(string(root.RootPEM()))) {
		t.Error("the bundle's trust anchor is not the CA's root")
	}
	_, err = fetchOnce(t, identity.Options{Conn: conn, ID: ratings})
	if status.Code(errors.Unwrap(err)) != codes.PermissionDenied {
		t.Errorf("productpage asking for ratings' identity: %v, want PermissionDenied", err)
	}
}

func TestWithoutKubernetesTheCSRsClaimIsSigned(t *testing.T) {
	conn, _ := serve(t, Options{})
	if _, err := fetchOnce(t, identity.Options{Conn: conn, ID: ratings}); err != nil {
		t.Fatal(err)
	}
	other := spiffe.ID{TrustDomain: "example.org", Namespace: "a", ServiceAccount: "b"}
	if _, err := fetchOnce(t, identity.Options{Conn: conn, ID: other}); err == nil || !strings.Contains(err.Error(), "trust domain") {
		t.Errorf("another trust domain: %v, want a refusal", err)
	}
}

func TestRefusalsAreGRPCStatuses(t *testing.T) {
	svc, err := New(Options{CA: mustCA(t), Auth: fixedCaller{Namespace: "a", ServiceAccount: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.CreateCertificate(context.Background(), nil)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty request: %v, want InvalidArgument", err)
	}
}

func mustCA(t *testing.T) *ca.CA {
	t.Helper()
	c, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
