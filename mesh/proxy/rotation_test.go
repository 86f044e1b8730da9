package proxy

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/identity"
	"github.com/meshlab/meshlab/mesh/pilot/caservice"
	"github.com/meshlab/meshlab/mesh/spiffe"
)

// managedCerts runs a real certificate manager against a CA service on loopback, with a short
// lifetime so that it renews during the test.
func managedCerts(t *testing.T, conn *grpc.ClientConn, sa string, ttl time.Duration) *identity.Manager {
	t.Helper()
	m, err := identity.New(identity.Options{Conn: conn, ID: spiffe.ID{TrustDomain: "cluster.local", Namespace: "default", ServiceAccount: sa}, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	changed := m.Changed()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatalf("no first certificate for %s: %v", sa, m.Ready())
	}
	return m
}

// TestRotationUnderLoadLosesNoRequest keeps a request stream going through a client and a
// server sidecar under STRICT while both renew their 4 s certificates twice or more, on fresh
// connections and kept-alive ones alike, and requires every request to succeed.
func TestRotationUnderLoadLosesNoRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 10 s")
	}
	root, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := caservice.New(caservice.Options{CA: root})
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
	const ttl = 4 * time.Second
	clientCerts, serverCerts := managedCerts(t, conn, "bookinfo-productpage", ttl), managedCerts(t, conn, "bookinfo-reviews", ttl)
	firstClient, firstServer := clientCerts.Current(), serverCerts.Current()

	app := newBackend(t, "v1", nil)
	strict := "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: default}\nspec:\n  mtls: {mode: STRICT}\n"
	p := startPair(t, clientCerts, serverCerts, app.Listener.Addr().String(), "HTTP", reviewsID, strict)

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(2*ttl + 2*time.Second)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kept := clientVia(p.client.out) // keep-alive: connections live across renewals
			for time.Now().Before(deadline) {
				c := kept
				if w%2 == 1 {
					c = clientVia(p.client.out)
					c.Transport.(*http.Transport).DisableKeepAlives = true // a new handshake each time
				}
				resp, err := c.Get("http://reviews:9080/")
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					if err == nil {
						err = errStatus(resp.StatusCode)
					}
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed across certificate renewals; first: %v", n, n+ok.Load(), firstErr.Load())
	}
	cc, sc := clientCerts.Current(), serverCerts.Current()
	if cc.Certificate.Leaf.SerialNumber.Cmp(firstClient.Certificate.Leaf.SerialNumber) == 0 ||
		sc.Certificate.Leaf.SerialNumber.Cmp(firstServer.Certificate.Leaf.SerialNumber) == 0 {
		t.Error("a certificate was not renewed during the test")
	}
	if time.Now().Before(firstClient.NotAfter) {
		t.Error("the first certificate has not expired: the stream did not outlive a whole certificate")
	}
	t.Logf("%d requests, all through mutual TLS across renewals", ok.Load())
}

type errStatus int

func (e errStatus) Error() string { return http.StatusText(int(e)) }
