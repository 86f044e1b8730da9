package phases

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/engine"
)

// fakeCluster is an HTTPS server on loopback with a certificate from its own CA for the names an
// API server's certificate has ("kubernetes", "localhost"), and the admin kubeconfig trusting it.
type fakeCluster struct {
	admin []byte
	addr  string // 127.0.0.1:port
	port  int
}

func newFakeCluster(t *testing.T, ip string) *fakeCluster {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"kubernetes", "localhost"}, IPAddresses: []net.IP{net.ParseIP(ip)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", net.JoinHostPort(ip, "0"), &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.Path) }),
		ErrorLog: log.New(io.Discard, "", 0)} // refused handshakes are the point of some tests
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	admin := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster: {certificate-authority-data: %s, server: "https://192.168.56.10:6443"}
  name: kubernetes
contexts:
- context: {cluster: kubernetes, user: admin}
  name: admin@kubernetes
current-context: admin@kubernetes
users:
- name: admin
  user: {token: x}
`, base64.StdEncoding.EncodeToString(caPEM))
	port := ln.Addr().(*net.TCPAddr).Port
	return &fakeCluster{admin: []byte(admin), addr: ln.Addr().String(), port: port}
}

// sshHost is a fake control-plane connection whose tunnels reach the fake API server: the SSH
// host's view of its own node address, here the loopback server.
type sshHost struct {
	*fakeHost
	to     string
	mu     sync.Mutex
	dialed []string
}

func (s *sshHost) dials() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.dialed...)
}

func (s *sshHost) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	s.dialed = append(s.dialed, addr)
	s.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, s.to)
}

func accessRun(t *testing.T, c *fakeCluster, sshAddress string, attached bool) (*engine.Run, *plan, *sshHost) {
	t.Helper()
	cp := &sshHost{fakeHost: newFake("cp1"), to: c.addr}
	r, _, p := threeHostRun(t, newFake("cp1"), newFake("worker1"), newFake("worker2"))
	r.Hosts[0].Transport, r.Hosts[0].Address, r.Hosts[0].Port, r.Hosts[0].User = cp, sshAddress, 2222, "vagrant"
	p.apiPort = c.port
	p.attached = func(netip.Addr) bool { return attached }
	t.Cleanup(func() { r.OnClose(func() {}); runClosers(r) })
	return r, p, cp
}

// runClosers ends what the run kept open, as Execute does at its end.
func runClosers(r *engine.Run) { _ = engine.Execute(context.Background(), r, nil) }

func TestAccessDirectAtTheHostsFileAddress(t *testing.T) {
	c := newFakeCluster(t, "127.0.0.1")
	r, p, cp := accessRun(t, c, "localhost", false)
	a, err := p.decideAccess(context.Background(), r, r.Hosts[0], c.admin, NodeNet{IP: netip.MustParseAddr("10.0.2.15")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Server != "https://localhost:"+strconv.Itoa(c.port) || a.TLSServerName != "" || a.Host != "localhost" || a.Hint() != "" || len(cp.dials()) != 0 {
		t.Errorf("access = %+v, tunnels %v", a, cp.dials())
	}
	if got, _ := (&Set{p: p}).NodePort(context.Background(), 30080); got != "localhost:30080" {
		t.Errorf("NodePort = %s", got)
	}
}

// TestAccessThroughSSH: a forwarded SSH port (127.0.0.1) and a node address this machine is not
// attached to: the API server is reached through the control plane's SSH connection, on a local
// port the kubeconfig names with the certificate's "kubernetes" SAN; the NodePorts too. A second
// run keeps the port.
func TestAccessThroughSSH(t *testing.T) {
	c := newFakeCluster(t, "127.0.0.1")
	r, p, cp := accessRun(t, c, "127.0.0.1", false)
	node := NodeNet{IP: netip.MustParseAddr("10.0.2.15")}
	a, err := p.decideAccess(context.Background(), r, r.Hosts[0], c.admin, node, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.Server, "https://127.0.0.1:") || a.TLSServerName != "kubernetes" || a.Host != "" ||
		len(cp.dials()) == 0 || cp.dials()[0] != "10.0.2.15:"+strconv.Itoa(c.port) {
		t.Fatalf("access = %+v, tunnels %v", a, cp.dialed)
	}
	if h := a.Hint(); !strings.Contains(h, "ssh -p 2222 vagrant@127.0.0.1 -N -L "+strings.TrimPrefix(a.Server, "https://")+":10.0.2.15:") {
		t.Errorf("hint = %q", h)
	}
	// The kubeconfig's server and name work for a client, as they will for the later phases.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: a.TLSServerName, RootCAs: caOf(t, c.admin)}}}
	resp, err := client.Get(a.Server + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok /healthz" {
		t.Errorf("through the tunnel: %q", b)
	}
	np, err := (&Set{p: p}).NodePort(context.Background(), 30080)
	if err != nil || !strings.HasPrefix(np, "127.0.0.1:") {
		t.Fatalf("NodePort = %s, %v", np, err)
	}
	conn, err := net.Dial("tcp", np) // a connection makes the forward dial through SSH
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		d := cp.dials()
		if d[len(d)-1] == "10.0.2.15:30080" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the NodePort was not forwarded to the node's 30080: dialed %v", d)
		}
	}
	kc := []byte(strings.Replace(string(c.admin), "https://192.168.56.10:6443", a.Server, 1))
	runClosers(r) // the first run ends: its ports close
	r2, p2, _ := accessRun(t, c, "127.0.0.1", false)
	again, err := p2.decideAccess(context.Background(), r2, r2.Hosts[0], c.admin, node, kc)
	if err != nil || again.Server != a.Server {
		t.Errorf("second run: %+v, %v; want the port of the first (%s)", again, err, a.Server)
	}
}

// TestAccessOnAnAttachedNetwork: SSH on a forwarded port, the node address on a network this
// machine is attached to (VirtualBox's host-only network): the API server is reached there,
// directly; a node address not attached is never tried (the tunnel is used instead).
func TestAccessOnAnAttachedNetwork(t *testing.T) {
	c := newFakeCluster(t, "127.0.0.2") // the node address, in this test
	node := NodeNet{IP: netip.MustParseAddr("127.0.0.2")}
	r, p, cp := accessRun(t, c, "127.0.0.1", true)
	a, err := p.decideAccess(context.Background(), r, r.Hosts[0], c.admin, node, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Server != "https://127.0.0.2:"+strconv.Itoa(c.port) || a.Host != "127.0.0.2" || a.tunnel != nil || len(cp.dials()) != 0 {
		t.Errorf("access = %+v, tunnels %v", a, cp.dials())
	}
	r, p, cp = accessRun(t, c, "127.0.0.1", false)
	if a, err = p.decideAccess(context.Background(), r, r.Hosts[0], c.admin, node, nil); err != nil || a.tunnel == nil || len(cp.dials()) != 1 {
		t.Errorf("not attached: %+v, %v, dialed %v; want the tunnel", a, err, cp.dials())
	}
}

// TestAccessRefusesAnotherClustersServer: something answering TLS on the hosts file's address with
// a certificate of another CA is not the lab's API server.
func TestAccessRefusesAnotherClustersServer(t *testing.T) {
	ours, other := newFakeCluster(t, "127.0.0.1"), newFakeCluster(t, "127.0.0.1")
	r, p, _ := accessRun(t, other, "localhost", false)
	p.apiPort = other.port
	a, err := p.decideAccess(context.Background(), r, r.Hosts[0], ours.admin, NodeNet{IP: netip.MustParseAddr("10.0.2.15")}, nil)
	if err == nil {
		t.Fatalf("took %+v for the lab's API server", a)
	}
	if !strings.Contains(err.Error(), "localhost:"+strconv.Itoa(other.port)) {
		t.Errorf("err = %v: it should say what was tried", err)
	}
}

func caOf(t *testing.T, admin []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, l := range strings.Split(string(admin), "\n") {
		if i := strings.Index(l, "certificate-authority-data: "); i >= 0 {
			v := strings.TrimSuffix(strings.Fields(l[i+len("certificate-authority-data: "):])[0], ",")
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatal(err)
			}
			pool.AppendCertsFromPEM(b)
		}
	}
	return pool
}
