package transport

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// TestForwardThroughSSH: a local port forwarded through a real sshd reaches a server that only
// the SSH host is asked to connect to (here on loopback, so no traffic leaves the machine), many
// requests over several connections; Close ends the port.
func TestForwardThroughSSH(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	s := dialT(t, configFor(srv))
	web := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello %s", r.URL.Path) })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go web.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { web.Close() })

	var d Dialer = s
	fw, err := Forward("127.0.0.1:0", func(ctx context.Context) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 5; i++ {
		resp, err := client.Get(fmt.Sprintf("http://%s/n%d", fw.Addr(), i))
		if err != nil {
			t.Fatalf("request %d through the forward: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != fmt.Sprintf("hello /n%d", i) {
			t.Errorf("request %d: %q", i, b)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get("http://" + fw.Addr() + "/"); err == nil {
		t.Error("the port still answers after Close")
	}
}

// TestDialRefusedBySSHD: an sshd that forbids forwarding gives an error that says so.
func TestDialRefusedBySSHD(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Config: []string{"AllowTcpForwarding no"}})
	s := dialT(t, configFor(srv))
	_, err := s.DialContext(testCtx(t), "tcp", "127.0.0.1:9")
	if err == nil || !strings.Contains(err.Error(), "AllowTcpForwarding") {
		t.Errorf("err = %v, want one naming AllowTcpForwarding", err)
	}
}
