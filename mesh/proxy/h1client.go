package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Transport is the upstream HTTP/1.1 client of the request path. It exists because profiling
// showed net/http.Transport's design to be the proxy's main latency cost: every round trip hands
// the request to a writer goroutine and the response back from a reader goroutine (and waits on a
// third hand-off when the body ends), so one request wakes four goroutines per hop; on a loaded
// machine each wake-up is a chance to wait for a CPU. h1Transport writes the request and reads the
// response in the caller's goroutine, so a request costs one write and one (netpoller) read.
//
// It takes only the simple, common exchange: requests without a body and without Upgrade.
// Everything else (bodies, which a full-duplex proxy must stream while the response flows;
// WebSocket upgrades; pools with a connection limit) goes to fallback, the standard Transport.
type h1Transport struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	fallback    *http.Transport
	maxIdle     int           // idle connections kept per upstream address
	idleTimeout time.Duration // idle connections older than this are not reused

	mu     sync.Mutex
	idle   map[string][]*h1Conn // by upstream host:port, most recently used last
	closed bool
}

// h1Conn is one upstream connection with its read buffer, which outlives each response.
type h1Conn struct {
	net.Conn
	addr      string     // the pool key: the request URL's host:port
	lim       *headLimit // under br: bounds each response head
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

// aLongTimeAgo is a deadline in the past: setting it makes blocked reads and writes return at once.
var aLongTimeAgo = time.Unix(1, 0)

// neverStopped stands for the stop function of a watcher that was never needed: it reports
// that the watcher had not fired.
func neverStopped() bool { return true }

// errServerClosedIdle is a pooled connection's peer having closed it before answering: the
// request never reached the application, so it is sent again on a new connection.
var errServerClosedIdle = errors.New("upstream closed an idle connection")

func newH1Transport(dial func(ctx context.Context, network, addr string) (net.Conn, error), fallback *http.Transport, idleTimeout time.Duration) *h1Transport {
	return &h1Transport{dial: dial, fallback: fallback, maxIdle: maxIdlePerHost, idleTimeout: idleTimeout, idle: map[string][]*h1Conn{}}
}

// simple reports whether h1Transport handles req itself. A Host net/http would refuse to send
// goes to the fallback, which refuses it.
func (t *h1Transport) simple(req *http.Request) bool {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	return (req.Body == nil || req.Body == http.NoBody) && req.ContentLength == 0 &&
		req.Header.Get("Upgrade") == "" && req.URL.Scheme == "http" && req.Method != http.MethodConnect &&
		t.fallback.MaxConnsPerHost == 0 && httpguts.ValidHostHeader(host)
}

// max1xxResponses bounds the informational responses before the final one, as net/http's
// Transport does (5): an upstream sending 103s forever must not hold the request forever.
const max1xxResponses = 5

// errHeadTooLarge ends a response head longer than the fallback's MaxResponseHeaderBytes.
var errHeadTooLarge = errors.New("upstream response head too large")

// headLimit counts what the connection's reader takes while a response head is read and fails
// the read once the limit is spent (net/http's readLimit); during bodies it is off.
type headLimit struct {
	r    io.Reader
	left int64 // < 0: no limit
}

func (l *headLimit) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.left == 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// maxHead is the response head limit: the fallback's, or net/http's default of 10 MiB.
func (t *h1Transport) maxHead() int64 {
	if n := t.fallback.MaxResponseHeaderBytes; n > 0 {
		return n
	}
	return 10 << 20
}

func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.simple(req) {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	addr := req.URL.Host
	for fresh := false; ; fresh = true {
		var c *h1Conn
		var reused bool
		if !fresh {
			c, reused = t.get(addr)
		}
		if c == nil {
			nc, err := t.dial(ctx, "tcp", addr)
			if err != nil {
				if ctx.Err() != nil {
					return nil, context.Cause(ctx)
				}
				return nil, err
			}
			var rw io.ReadWriter = nc
			if tc, ok := nc.(*net.TCPConn); ok {
				if raw, err := newRawSocket(tc); err == nil {
					rw = raw // see rawio.go
				}
			}
			lim := &headLimit{r: rw, left: -1}
			c = &h1Conn{Conn: nc, addr: addr, lim: lim, br: bufio.NewReaderSize(lim, 4<<10), bw: bufio.NewWriterSize(rw, 4<<10)}
		}
		resp, err := t.exchange(ctx, c, req, reused)
		if errors.Is(err, errServerClosedIdle) && replayable(req) {
			continue // nobody read the request: send it again, on a new connection this time
		}
		return resp, err
	}
}

// exchange sends req on c and reads the response head; the body streams from c afterwards and
// gives c back to the pool when it ends cleanly.
func (t *h1Transport) exchange(ctx context.Context, c *h1Conn, req *http.Request, reused bool) (*http.Response, error) {
	// A canceled or expired context (client gone, route or per-try timeout) interrupts whatever
	// read or write is blocked, without a goroutine watching each request. A context that can
	// never end (no route timeout on the fast path) needs no watcher.
	stop := neverStopped
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { _ = c.SetDeadline(aLongTimeAgo) })
	}
	fail := func(err error) (*http.Response, error) {
		stop()
		c.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	writeRequestHead(c.bw, req)
	if err := c.bw.Flush(); err != nil {
		if reused {
			return fail(errServerClosedIdle)
		}
		return fail(err)
	}
	// The first byte tells a pooled connection the upstream had already closed (nothing comes
	// back) from a response that breaks off (ReadResponse reports both as ErrUnexpectedEOF).
	if _, err := c.br.Peek(1); err != nil {
		if reused && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			return fail(errServerClosedIdle)
		}
		return fail(err)
	}
	for informational := 0; ; informational++ {
		c.lim.left = t.maxHead()
		resp, err := http.ReadResponse(c.br, req)
		c.lim.left = -1
		if errors.Is(err, errHeadTooLarge) {
			return fail(fmt.Errorf("%w: more than %d bytes", errHeadTooLarge, t.maxHead()))
		}
		if err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			if resp.StatusCode == http.StatusSwitchingProtocols {
				return fail(errUnexpectedSwitch)
			}
			if informational == max1xxResponses {
				return fail(fmt.Errorf("upstream sent more than %d informational (1xx) responses", max1xxResponses))
			}
			continue // 1xx informational (103 Early Hints): not forwarded, as Transport does by default
		}
		reuse := !resp.Close && !req.Close
		resp.Body = &h1Body{ReadCloser: resp.Body, t: t, c: c, stop: stop, reuse: reuse, eof: resp.Body == http.NoBody}
		return resp, nil
	}
}

// replayable is net/http's rule for sending a request again after a pooled connection turned
// out closed: idempotent methods, or a caller's idempotency key.
func replayable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// h1Body is a response body that returns its connection to the pool once read to the end.
type h1Body struct {
	io.ReadCloser
	t     *h1Transport
	c     *h1Conn
	stop  func() bool
	reuse bool
	eof   bool
	done  bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		if b.eof {
			return 0, io.EOF
		}
		return 0, net.ErrClosed
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
		b.release()
	}
	return n, err
}

func (b *h1Body) Close() error {
	b.release()
	return nil
}

// release ends the exchange once: a connection whose body was read to the end, whose deadline
// watcher had not fired and that neither side asked to close is kept; anything else is closed.
func (b *h1Body) release() {
	if b.done {
		return
	}
	b.done = true
	if b.stop() && b.eof && b.reuse {
		b.t.put(b.c)
		return
	}
	b.c.Close()
}

// get returns an idle connection to addr, if any still fresh; reused is true when it returns one.
func (t *h1Transport) get(addr string) (c *h1Conn, reused bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.idle[addr]
	for len(list) > 0 {
		c = list[len(list)-1]
		list = list[:len(list)-1]
		if time.Since(c.idleSince) < t.idleTimeout {
			t.idle[addr] = list
			return c, true
		}
		c.Close() // the most recent is stale, so all older ones are too
		for _, o := range list {
			o.Close()
		}
		list = nil
	}
	delete(t.idle, addr)
	return nil, false
}

func (t *h1Transport) put(c *h1Conn) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.idle[c.addr]
	// Connections idle too long are closed here too (the oldest are first), so an address that
	// is still used does not keep stale sockets open.
	for len(list) > 0 && now.Sub(list[0].idleSince) >= t.idleTimeout {
		list[0].Close()
		list = list[1:]
	}
	if t.closed || len(list) >= t.maxIdle || c.br.Buffered() > 0 {
		t.idle[c.addr] = list
		c.Close()
		return
	}
	c.idleSince = now
	t.idle[c.addr] = append(list, c)
}

// close closes every pooled connection (and the fallback's); connections in use are closed when
// their response ends. The pool is not used after close.
func (t *h1Transport) close() {
	t.mu.Lock()
	for _, list := range t.idle {
		for _, c := range list {
			c.Close()
		}
	}
	t.idle = map[string][]*h1Conn{}
	t.closed = true
	t.mu.Unlock()
	t.fallback.CloseIdleConnections()
}

// writeRequestHead writes a bodyless request as http.Request.Write would (the same request line,
// Host, User-Agent and Content-Length rules), without sorting the header keys.
func writeRequestHead(bw *bufio.Writer, req *http.Request) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	_, _ = bw.WriteString(req.Method)
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(req.URL.RequestURI())
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = bw.WriteString(host)
	_, _ = bw.WriteString("\r\n")
	ua := "Go-http-client/1.1"
	if _, ok := req.Header["User-Agent"]; ok {
		ua = req.Header.Get("User-Agent") // present but empty: no User-Agent, as the app sent
	}
	if ua != "" {
		writeHeaderLine(bw, "User-Agent", ua)
	}
	for k, vv := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !isTokenString(k) {
			continue
		}
		for _, v := range vv {
			writeHeaderLine(bw, k, v)
		}
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != "" {
		_, _ = bw.WriteString("Content-Length: 0\r\n") // net/http's rule for bodyless requests
	}
	if req.Close && !hasToken(req.Header["Connection"], "close") {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}
