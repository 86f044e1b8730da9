package identity

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	securityv1alpha1 "istio.io/api/security/v1alpha1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/spiffe"
)

var reviews = spiffe.ID{TrustDomain: "cluster.local", Namespace: "bookinfo", ServiceAccount: "bookinfo-reviews"}

// testCA is a certificate service over a real CA that can be switched off.
type testCA struct {
	securityv1alpha1.UnimplementedIstioCertificateServiceServer
	ca    *ca.CA
	down  atomic.Bool
	calls atomic.Int32
	mu    sync.Mutex
	sign  func(csr []byte, ttl time.Duration) ([]byte, error) // default: sign for reviews
}

func (s *testCA) CreateCertificate(_ context.Context, r *securityv1alpha1.IstioCertificateRequest) (*securityv1alpha1.IstioCertificateResponse, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return nil, status.Error(codes.Unavailable, "switched off")
	}
	s.mu.Lock()
	sign := s.sign
	s.mu.Unlock()
	chain, err := sign([]byte(r.Csr), time.Duration(r.ValidityDuration)*time.Second)
	if err != nil {
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	var out []string
	for rest := chain; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		out = append(out, string(pem.EncodeToMemory(b)))
	}
	return &securityv1alpha1.IstioCertificateResponse{CertChain: out}, nil
}

func startCA(t *testing.T) (*testCA, *grpc.ClientConn) {
	t.Helper()
	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &testCA{ca: root}
	s.sign = func(csr []byte, ttl time.Duration) ([]byte, error) { return root.SignCSR(csr, reviews, ttl) }
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	securityv1alpha1.RegisterIstioCertificateServiceServer(g, s)
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return s, conn
}

func TestRenewInIsHalfLifeWithJitter(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := &Bundle{Received: now, NotAfter: now.Add(24 * time.Hour)}
	for u, want := range map[float64]time.Duration{0: 11*time.Hour + 45*time.Minute + 36*time.Second, 0.5: 12 * time.Hour, 0.9999999: 12*time.Hour + 14*time.Minute + 24*time.Second} {
		if got := renewIn(b, now, u); (got - want).Abs() > time.Second {
			t.Errorf("u=%v: renew in %s, want %s", u, got, want)
		}
	}
	if got := renewIn(b, now.Add(13*time.Hour), 0.5); got != 0 {
		t.Errorf("past the renewal time: %s, want now", got)
	}
}

func TestRotationKeepsTheIdentityAndChangesTheKey(t *testing.T) {
	s, conn := startCA(t)
	m, err := New(Options{Conn: conn, ID: reviews, TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(); err == nil || !strings.Contains(err.Error(), "no workload certificate") {
		t.Errorf("before the first certificate: Ready = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := m.Changed()
	go func() { _ = m.Run(ctx) }()
	<-changed
	first := m.Current()
	if err := m.Ready(); err != nil {
		t.Fatalf("with a certificate: %v", err)
	}
	changed = m.Changed()
	select {
	case <-changed: // renewed at about half of 2 s
	case <-time.After(5 * time.Second):
		t.Fatalf("not renewed within 5 s of a 2 s certificate (%d CA calls)", s.calls.Load())
	}
	second := m.Current()
	if second.ID != reviews || second.Certificate.Leaf.SerialNumber.Cmp(first.Certificate.Leaf.SerialNumber) == 0 {
		t.Error("the renewed certificate is the same certificate")
	}
	if second.Certificate.PrivateKey == first.Certificate.PrivateKey {
		t.Error("the key was not renewed")
	}
}

// TestCADownKeepsTheCertificateUntilItExpires: the current certificate stays in use while the
// CA is away; once it expires the sidecar is not ready, saying why; rotation resumes when the
// CA is back.
func TestCADownKeepsTheCertificateUntilItExpires(t *testing.T) {
	s, conn := startCA(t)
	m, err := New(Options{Conn: conn, ID: reviews, TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := m.Changed()
	go func() { _ = m.Run(ctx) }()
	<-changed
	first := m.Current()
	s.down.Store(true)
	for time.Now().Before(first.NotAfter) {
		if m.Current() != first || m.Ready() != nil {
			t.Fatalf("with the CA down before expiry: current changed or not ready (%v)", m.Ready())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if err := m.Ready(); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("after expiry with the CA down: Ready = %v, want expired", err)
	}
	changed = m.Changed()
	s.down.Store(false)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("rotation did not resume within 5 s of the CA coming back")
	}
	if err := m.Ready(); err != nil {
		t.Errorf("after the CA came back: %v", err)
	}
}

func TestRefusesWhatTheCAShouldNotHaveSigned(t *testing.T) {
	s, conn := startCA(t)
	other, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Conn: conn, ID: reviews, Root: other.RootPEM()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("a chain to another root than the configured one: %v", err)
	}
	ratings := spiffe.ID{TrustDomain: "cluster.local", Namespace: "bookinfo", ServiceAccount: "bookinfo-ratings"}
	s.mu.Lock()
	s.sign = func(csr []byte, ttl time.Duration) ([]byte, error) { return s.ca.SignCSR(csr, reviews, ttl) }
	s.mu.Unlock()
	m2, err := New(Options{Conn: conn, ID: ratings})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m2.Refresh(context.Background())
	if err == nil || status.Code(errors.Unwrap(err)) != codes.PermissionDenied {
		t.Errorf("the CA refusing: %v", err)
	}
	if err := m2.Ready(); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Ready after a refusal: %v, want the reason", err)
	}
}
