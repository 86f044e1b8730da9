// Package identity is the sidecar's workload identity: it makes a private key (in memory only:
// it never touches a disk), asks the control plane's CA to certify it with a CSR for the pod's
// SPIFFE ID, proving who it is with the pod's projected ServiceAccount token, and renews the
// certificate at half its life (with jitter, as Istio's agent does), keeping the current one
// while the CA is away. The proxy's TLS reads the current certificate and trust anchor through
// Current for every handshake; what the control plane's xDS names the "default" and "ROOTCA"
// secrets resolve to these (the role of Istio's agent-side SDS: the key stays in the pod).
package identity

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	securityv1alpha1 "istio.io/api/security/v1alpha1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/meshlab/meshlab/mesh/spiffe"
)

// Rotation: at GraceRatio of a certificate's remaining life, give or take JitterRatio of it
// (Istio's SECRET_GRACE_PERIOD_RATIO 0.5 and its 0.01 jitter).
const (
	GraceRatio  = 0.5
	JitterRatio = 0.01
	// Retry backoff while the CA cannot be reached or refuses.
	BackoffMin = 200 * time.Millisecond
	BackoffMax = 30 * time.Second
)

// Options configure a Manager.
type Options struct {
	// Conn reaches the control plane's certificate service.
	Conn grpc.ClientConnInterface
	// ID is the identity to ask for (its trust domain, namespace and ServiceAccount).
	ID spiffe.ID
	// TokenPath is the projected ServiceAccount token sent with every request; "" sends none (a
	// local lab without Kubernetes, whose control plane trusts the CSR).
	TokenPath string
	// TTL is the lifetime asked for; 0 leaves it to the CA (24 h).
	TTL time.Duration
	// Root, when set, is the trust anchor configured for the pod; the chain the CA returns must
	// end at it. Without it the root the CA returns is trusted (only over a connection that is
	// itself authenticated, or in a local lab).
	Root   []byte
	Logger *slog.Logger
	// Now and After replace the clock in tests.
	Now func() time.Time
}

// Bundle is one certificate with everything a handshake needs.
type Bundle struct {
	ID          spiffe.ID
	Certificate tls.Certificate // leaf and chain (without the root), with the private key
	Roots       *x509.CertPool  // the trust anchors peers must chain to
	RootPEM     []byte
	NotBefore   time.Time
	NotAfter    time.Time
	Received    time.Time
}

// Valid reports whether b is usable at t.
func (b *Bundle) Valid(t time.Time) bool {
	return b != nil && !t.Before(b.NotBefore) && t.Before(b.NotAfter)
}

// Manager keeps a current workload certificate. Start it with Run.
type Manager struct {
	opts    Options
	client  securityv1alpha1.IstioCertificateServiceClient
	current atomic.Pointer[Bundle]

	mu      sync.Mutex
	lastErr error
	changed chan struct{} // closed and replaced whenever a new bundle is stored
}

// New checks opts.
func New(opts Options) (*Manager, error) {
	if opts.Conn == nil {
		return nil, errors.New("identity: a connection to the CA is required")
	}
	if err := opts.ID.Validate(); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if len(opts.Root) > 0 {
		if _, err := rootPool(opts.Root); err != nil {
			return nil, fmt.Errorf("identity: configured root: %w", err)
		}
	}
	return &Manager{opts: opts, client: securityv1alpha1.NewIstioCertificateServiceClient(opts.Conn), changed: make(chan struct{})}, nil
}

// Current is the certificate in use, nil before the first one. It may have expired if the CA
// has been away for a whole lifetime: check Valid, or Ready.
func (m *Manager) Current() *Bundle { return m.current.Load() }

// CertificateOf gives the current certificate of the Manager m comes to hold, for the
// control-plane connection (xds.Dial), which is dialled before its Manager exists because the
// Manager gets its certificates over it: nil until m is set and has a certificate.
func CertificateOf(m *atomic.Pointer[Manager]) func() *tls.Certificate {
	return func() *tls.Certificate {
		if mm := m.Load(); mm != nil {
			if b := mm.Current(); b != nil {
				return &b.Certificate
			}
		}
		return nil
	}
}

// Ready says why the sidecar cannot do mutual TLS yet: no certificate, or an expired one.
func (m *Manager) Ready() error {
	b := m.current.Load()
	now := m.opts.Now()
	switch {
	case b == nil:
		m.mu.Lock()
		err := m.lastErr
		m.mu.Unlock()
		if err != nil {
			return fmt.Errorf("no workload certificate yet for %s: %w", m.opts.ID, err)
		}
		return fmt.Errorf("no workload certificate yet for %s", m.opts.ID)
	case !b.Valid(now):
		return fmt.Errorf("the workload certificate of %s expired at %s and could not be renewed", m.opts.ID, b.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// Changed returns a channel closed at the next change of the current certificate.
func (m *Manager) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// Run fetches a certificate, then renews it at half-life until ctx ends. Failures are retried
// with backoff; the current certificate stays in use meanwhile.
func (m *Manager) Run(ctx context.Context) error {
	backoff := BackoffMin
	for {
		wait := backoff
		b, err := m.Refresh(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			m.opts.Logger.Warn("identity: certificate not renewed; keeping the current one", "id", m.opts.ID, "err", err, "retry_in", backoff)
			backoff = min(backoff*2, BackoffMax)
			if cur := m.current.Load(); cur != nil {
				// Do not retry past the end of the current certificate's life by much.
				wait = min(wait, max(time.Until(cur.NotAfter)/4, BackoffMin))
			}
		} else {
			backoff = BackoffMin
			wait = renewIn(b, m.opts.Now(), mrand.Float64())
			m.opts.Logger.Info("identity: workload certificate", "id", b.ID, "expires", b.NotAfter.Format(time.RFC3339), "renew_in", wait.Round(time.Second))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// renewIn is when to renew b, from now: at GraceRatio of its remaining life at receipt, moved
// by up to ±JitterRatio of that life (u is uniform in [0,1)).
func renewIn(b *Bundle, now time.Time, u float64) time.Duration {
	life := b.NotAfter.Sub(b.Received)
	at := b.Received.Add(time.Duration(float64(life) * (GraceRatio + JitterRatio*(2*u-1))))
	return max(at.Sub(now), 0)
}

// Refresh gets a new certificate now and makes it current; on failure the current one stays
// and the error is what Ready reports until a later success.
func (m *Manager) Refresh(ctx context.Context) (*Bundle, error) {
	b, err := m.fetch(ctx)
	if err != nil {
		m.mu.Lock()
		m.lastErr = err
		m.mu.Unlock()
		return nil, err
	}
	m.store(b)
	return b, nil
}

func (m *Manager) store(b *Bundle) {
	m.current.Store(b)
	m.mu.Lock()
	m.lastErr = nil
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// fetch makes a new key and has the CA certify it.
func (m *Manager) fetch(ctx context.Context) (*Bundle, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generating a key: %w", err)
	}
	csr, err := CSR(key, m.opts.ID)
	if err != nil {
		return nil, err
	}
	if m.opts.TokenPath != "" {
		tok, err := os.ReadFile(m.opts.TokenPath)
		if err != nil {
			return nil, fmt.Errorf("identity: the ServiceAccount token: %w", err)
		}
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := m.client.CreateCertificate(ctx, &securityv1alpha1.IstioCertificateRequest{
		Csr: string(csr), ValidityDuration: int64(m.opts.TTL / time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("identity: the CA refused or could not be reached: %w", err)
	}
	return m.bundle(key, resp.GetCertChain())
}

// CSR is the certificate signing request for id, signed with key.
func CSR(key *ecdsa.PrivateKey, id spiffe.ID) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{id.URL()}}, key)
	if err != nil {
		return nil, fmt.Errorf("identity: CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// bundle checks what the CA returned (leaf for our key and identity, chaining to the root) and
// makes it a Bundle.
func (m *Manager) bundle(key *ecdsa.PrivateKey, chain []string) (*Bundle, error) {
	if len(chain) < 2 {
		return nil, fmt.Errorf("identity: the CA returned %d certificates, want the leaf and the root at least", len(chain))
	}
	var certs []*x509.Certificate
	for i, p := range chain {
		b, _ := pem.Decode([]byte(p))
		if b == nil || b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("identity: the CA's chain[%d] is not a PEM certificate", i)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("identity: the CA's chain[%d]: %w", i, err)
		}
		certs = append(certs, c)
	}
	leaf, rootCert := certs[0], certs[len(certs)-1]
	rootPEM := []byte(chain[len(chain)-1])
	if len(m.opts.Root) > 0 {
		rootPEM = m.opts.Root
	}
	roots, err := rootPool(rootPEM)
	if err != nil {
		return nil, err
	}
	if len(m.opts.Root) > 0 && !bytes.Contains(m.opts.Root, []byte(strings.TrimSpace(chain[len(chain)-1]))) {
		m.opts.Logger.Warn("identity: the CA's root differs from the configured one; verifying against the configured root", "ca_root", rootCert.Subject)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1 : len(certs)-1] {
		inter.AddCert(c)
	}
	now := m.opts.Now()
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, fmt.Errorf("identity: the certificate the CA returned does not verify: %w", err)
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("identity: the CA certified another key than ours")
	}
	id, err := spiffe.FromCertificate(leaf)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if id != m.opts.ID {
		return nil, fmt.Errorf("identity: the CA certified %s, we asked for %s", id, m.opts.ID)
	}
	tc := tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range certs[:len(certs)-1] {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return &Bundle{ID: id, Certificate: tc, Roots: roots, RootPEM: rootPEM, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Received: now}, nil
}

func rootPool(pemData []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemData) {
		return nil, errors.New("identity: no certificate in the root PEM")
	}
	return p, nil
}
