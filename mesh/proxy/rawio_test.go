package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var s net.Conn
	select {
	case s = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no accept")
	}
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestRawSocketBehavesLikeNetConn checks the semantics the proxy relies on: data both ways
// (including a write larger than the socket buffers), read deadlines reported as timeouts, EOF
// on a peer's close, and net.ErrClosed after a local close.
func TestRawSocketBehavesLikeNetConn(t *testing.T) {
	c, s := tcpPair(t)
	raw, err := newRawSocket(s)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: the write must wait for the reader
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(c, int64(len(big))))
		got <- b
	}()
	if n, err := raw.Write(big); n != len(big) || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, big) {
			t.Fatalf("peer read %d bytes, not what was written", len(b))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("peer did not receive the write")
	}

	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := raw.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read: %q %v", buf[:n], err)
	}

	s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = raw.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Errorf("error %v is not a net.OpError with Op read (net/http classifies by it)", err)
	}
	s.SetReadDeadline(time.Time{})

	c.Close()
	if _, err := raw.Read(buf); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want io.EOF", err)
	}
	s.Close()
	if _, err := raw.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v, want net.ErrClosed", err)
	}
}
