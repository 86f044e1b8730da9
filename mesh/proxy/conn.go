package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// connInfo is what the proxy knows about a downstream connection before any request on it.
type connInfo struct {
	dst netip.AddrPort // original destination
	src netip.AddrPort
	// mtls is true when the connection is the mesh's mutual TLS, terminated here; peer is then
	// the client's SPIFFE ID ("spiffe://cluster.local/ns/default/sa/x") and sni the server name
	// it asked for (setTLSPeer fills them).
	mtls      bool
	peer, sni string
}

// proxyConn is an accepted connection with the bytes read while sniffing kept in front, and a
// Close that releases the listener's connection slot exactly once. When the connection is
// mutual TLS, sec terminates it and everything above reads and writes the plaintext.
type proxyConn struct {
	*net.TCPConn
	raw     *rawSocket    // Read and Write go through it (rawio.go); nil: through TCPConn
	br      *bufio.Reader // holds sniffed bytes of the current layer; nil when nothing was read ahead
	sec     *tls.Conn     // the TLS layer, nil for plaintext
	info    connInfo
	release func()
	once    sync.Once
	fast    atomic.Bool // served by serveH1 (h1server.go), not net/http
	// disallowed is set when a new inbound policy no longer admits the connection: the fast
	// path closes it after the request in flight.
	disallowed atomic.Bool
	// admitted is set (after info is final) once an inbound connection passed its policy:
	// admittedPlain or admittedMTLS; 0 while it is still being classified.
	admitted atomic.Uint32
}

const (
	admittedPlain = 1
	admittedMTLS  = 2
)

func (c *proxyConn) Read(b []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(b)
		}
		c.br = nil // drained: read the socket directly from now on
	}
	if c.sec != nil {
		return c.sec.Read(b)
	}
	if c.raw != nil {
		return c.raw.Read(b)
	}
	return c.TCPConn.Read(b)
}

func (c *proxyConn) Write(b []byte) (int, error) {
	if c.sec != nil {
		return c.sec.Write(b)
	}
	if c.raw != nil {
		return c.raw.Write(b)
	}
	return c.TCPConn.Write(b)
}

// layer is what the next sniff reads from: the TLS plaintext once terminated, else the socket.
func (c *proxyConn) layer() io.Reader {
	if c.sec != nil {
		return c.sec
	}
	return c.TCPConn
}

// terminateTLS puts a TLS server over the connection (the bytes already sniffed first) and
// completes the handshake within timeout.
func (c *proxyConn) terminateTLS(cfg *tls.Config, timeout time.Duration) error {
	inner := &sniffedConn{TCPConn: c.TCPConn, raw: c.raw, br: c.br}
	c.br = nil
	tc := tls.Server(inner, cfg)
	_ = c.TCPConn.SetDeadline(time.Now().Add(timeout))
	err := tc.Handshake()
	_ = c.TCPConn.SetDeadline(time.Time{})
	if err != nil {
		return err
	}
	c.sec = tc
	c.info.setTLSPeer(tc.ConnectionState())
	return nil
}

// CloseWrite ends the sending direction: with TLS a close_notify, which the peer reads as EOF.
func (c *proxyConn) CloseWrite() error {
	if c.sec != nil {
		return c.sec.CloseWrite()
	}
	return c.TCPConn.CloseWrite()
}

// ReadFrom copies r into the connection; without TLS the socket's own ReadFrom splices, with TLS
// everything must go through the TLS layer.
func (c *proxyConn) ReadFrom(r io.Reader) (int64, error) {
	if c.sec != nil {
		return io.Copy(c.sec, r)
	}
	return c.TCPConn.ReadFrom(r)
}

// sniffedConn is the socket under a TLS layer: the bytes read while detecting TLS come first.
type sniffedConn struct {
	*net.TCPConn
	raw *rawSocket
	br  *bufio.Reader
}

func (c *sniffedConn) Read(b []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(b)
		}
		c.br = nil
	}
	if c.raw != nil {
		return c.raw.Read(b)
	}
	return c.TCPConn.Read(b)
}

func (c *sniffedConn) Write(b []byte) (int, error) {
	if c.raw != nil {
		return c.raw.Write(b)
	}
	return c.TCPConn.Write(b)
}

// WriteTo sends the sniffed bytes, then lets the socket's own WriteTo splice the rest (io.Copy
// would otherwise find the embedded TCPConn's WriteTo and skip the sniffed bytes).
func (c *proxyConn) WriteTo(w io.Writer) (int64, error) {
	if c.sec != nil {
		return io.Copy(w, readerOnly{c})
	}
	var n int64
	if c.br != nil {
		if k := c.br.Buffered(); k > 0 {
			b, _ := c.br.Peek(k)
			m, err := w.Write(b)
			n += int64(m)
			if err != nil {
				return n, err
			}
		}
		c.br = nil
	}
	m, err := c.TCPConn.WriteTo(w)
	return n + m, err
}

func (c *proxyConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(c.release)
	return err
}

// sniffSize is how many bytes decide the protocol: "PRI " and every HTTP/1.x method but the
// longest ones (OPTIONS, CONNECT) are told apart by 4; bufio's minimum buffer is 16.
const sniffSize = 16

var httpPrefixes = [][]byte{
	[]byte("GET "), []byte("POST"), []byte("PUT "), []byte("HEAD"), []byte("DELE"), []byte("OPTI"),
	[]byte("PATC"), []byte("CONN"), []byte("TRAC"), []byte("PRI "),
}

// sniff reads a client's first bytes for at most timeout and reports whether they look like
// HTTP/1.x or the HTTP/2 preface. A client that sends nothing in time is treated as TCP (the
// server may speak first). eof is true when the client closed without sending anything.
func sniff(c *proxyConn, timeout time.Duration) (isHTTP, eof bool) {
	b, err := peek(c, 4, timeout)
	if len(b) == 0 {
		return false, err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	}
	for _, m := range httpPrefixes {
		if bytes.HasPrefix(m, b) || bytes.HasPrefix(b, m) {
			return true, false
		}
	}
	return false, false
}

// sniffTLS reports whether the client's first bytes are a TLS handshake record (type 22,
// version 3.x), waiting at most timeout; a client that sends nothing in time is plaintext (a
// server-first protocol).
func sniffTLS(c *proxyConn, timeout time.Duration) (isTLS, eof bool) {
	b, err := peek(c, 3, timeout)
	if len(b) == 0 {
		return false, err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	}
	return len(b) >= 2 && b[0] == 0x16 && b[1] == 0x03, false
}

// peek reads up to n bytes ahead on the current layer (keeping what an earlier sniff of the same
// layer read), waiting at most timeout.
func peek(c *proxyConn, n int, timeout time.Duration) ([]byte, error) {
	if c.br == nil {
		c.br = bufio.NewReaderSize(c.layer(), sniffSize)
	}
	_ = c.TCPConn.SetReadDeadline(time.Now().Add(timeout))
	b, err := c.br.Peek(n)
	_ = c.TCPConn.SetReadDeadline(time.Time{})
	return b, err
}

// readerOnly hides a reader's WriteTo, so io.Copy does the copy with a buffer.
type readerOnly struct{ io.Reader }

// chanListener hands connections the proxy has already accepted and classified as HTTP to an
// http.Server, so one server handles every HTTP connection of a listener.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// push gives c to the server; false when the listener is closed (the caller closes c).
func (l *chanListener) push(ctx context.Context, c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	case <-ctx.Done():
		return false
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
