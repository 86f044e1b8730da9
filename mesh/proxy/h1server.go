package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The HTTP/1.1 fast path. Profiling showed that net/http's server costs the proxy more latency
// than its routing: for every request it starts a goroutine that keeps reading the connection
// (to notice a client going away) and stops it again when the handler returns, which adds a
// goroutine, a failed read, a timer and two wake-ups per request and hop. serveH1 reads requests
// and writes responses in the connection's own goroutine and calls the same handlers, so routing,
// retries, timeouts, faults, metrics and tracing are shared with the net/http path.
//
// It takes only requests it can serve exactly as net/http would: well-formed HTTP/1.1 requests in
// origin form with one Host and no body, Upgrade or Expect. At the first other request (bodies,
// which must stream full duplex; WebSocket; h2c; HTTP/1.0; anything malformed, oversized or
// unusual) the connection, with the bytes already read, goes to the net/http server for the rest
// of its life, which answers exactly as before. Unlike net/http, a client that disconnects while
// its bodyless request is in flight is noticed when the response is written (as HAProxy does
// without abortonclose), not at once.

// h1ReadBuffer bounds the request head the fast path takes; larger heads go to net/http, which
// allows up to Options.MaxHeaderBytes.
const h1ReadBuffer = 4 << 10

// bufferBeforeChunking is how much body a handler may write before the response is committed
// with chunked encoding; a handler that finishes within it gets a Content-Length (net/http's rule).
const bufferBeforeChunking = 2 << 10

// h1Writers lends response write buffers to fast-path connections for one response at a time.
var h1Writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}

// serveH1 serves c's requests until it closes (handoff false) or until a request needs the
// net/http server (handoff true: c's unread bytes are in c.br for it).
func (s *server) serveH1(c *proxyConn) (handoff bool) {
	br := bufio.NewReaderSize(c, h1ReadBuffer)
	c.fast.Store(true)
	ctx := context.WithValue(context.Background(), connInfoKey{}, c.info)
	remote := c.RemoteAddr().String()
	w := &h1Writer{c: c}
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler { // ReverseProxy's way to abort a response mid-body
				s.log.Error("proxy: panic serving a request", "remote", remote, "panic", v)
			}
			c.Close()
			handoff = false
		}
	}()
	// Read deadlines are timers in Go's netpoller, and moving one can wake a sleeping thread, so
	// they are moved as little as possible: the idle deadline is pushed out only when less than
	// IdleTimeout is left (an idle connection closes after between 1 and 1.5 IdleTimeouts), and
	// the header deadline is set only when a head does not arrive in one read (slowloris).
	idle, header := s.p.opts.IdleTimeout, s.p.opts.ReadHeaderTimeout
	var deadline time.Time // the read deadline in force
	setDeadline := func(t time.Time) {
		deadline = t
		_ = c.SetReadDeadline(t)
	}
	setDeadline(time.Now().Add(header)) // the first request's bytes are already arriving
	for first := true; ; first = false {
		if !first {
			// Between requests: wait for the next one as long as the idle timeout allows.
			if now := time.Now(); deadline.Sub(now) < idle {
				setDeadline(now.Add(idle + idle/2))
			}
			if s.draining.Load() || c.disallowed.Load() {
				c.Close()
				return false
			}
			if _, err := br.Peek(1); err != nil {
				c.Close()
				return false
			}
		}
		head, err := peekHead(br, func() {
			if t := time.Now().Add(header); t.Before(deadline) {
				setDeadline(t) // the slowloris bound: the rest of the head must come in time
			}
		})
		if err != nil {
			c.Close() // timeout or EOF in the middle of a head: net/http closes silently too
			return false
		}
		if head == nil || !simpleRequest(head) {
			c.fast.Store(false)
			_ = c.SetReadDeadline(time.Time{})
			c.br = br
			return true
		}
		req, err := http.ReadRequest(br)
		if err != nil { // the scan accepted it, so this should not happen; answer as net/http does
			_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
			c.Close()
			return false
		}
		req.RemoteAddr = remote
		*req = *req.WithContext(ctx) // in place: the copy WithContext makes does not escape
		w.reset(req)
		w.bw = h1Writers.Get().(*bufio.Writer)
		w.bw.Reset(c)
		s.fastReqs.Add(1)
		s.http.Handler.ServeHTTP(w, req)
		err = w.finish()
		w.bw.Reset(nil)
		h1Writers.Put(w.bw) // idle connections hold no write buffer
		if err != nil || w.close {
			c.Close()
			return false
		}
	}
}

// peekHead returns the request head (through the blank line) buffered in br without consuming
// it; nil when it does not fit in the buffer. incomplete is called once if the head needs more
// than the bytes already buffered.
func peekHead(br *bufio.Reader, incomplete func()) ([]byte, error) {
	for waited := false; ; waited = true {
		b, _ := br.Peek(br.Buffered())
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			return b[:i+4], nil
		}
		if br.Buffered() == br.Size() {
			return nil, nil
		}
		if !waited {
			incomplete()
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return nil, err
		}
	}
}

// simpleRequest reports whether head is a request the fast path serves exactly as net/http
// would: an HTTP/1.1 request line in origin form, header lines of token names and printable
// values, exactly one valid Host, and no body, Upgrade or Expect. Anything else goes to net/http.
func simpleRequest(head []byte) bool {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	method, rest1, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(method) == 0 || !isToken(method) {
		return false
	}
	target, proto, ok := bytes.Cut(rest1, []byte(" "))
	if !ok || len(target) == 0 || target[0] != '/' || string(proto) != "HTTP/1.1" || !printable(target) {
		return false
	}
	hosts := 0
	for len(rest) > 2 { // the head ends with the blank line's CRLF
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok || len(name) == 0 || !isToken(name) || !printable(value) {
			return false // includes obsolete line folding (a line starting with a space)
		}
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			// A Host net/http would refuse (400) is answered by net/http, not forwarded.
			if !httpguts.ValidHostHeader(string(bytes.Trim(value, " \t"))) {
				return false
			}
			hosts++
		case bytes.EqualFold(name, []byte("Content-Length")):
			if string(bytes.TrimSpace(value)) != "0" {
				return false
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")), bytes.EqualFold(name, []byte("Upgrade")),
			bytes.EqualFold(name, []byte("Expect")):
			return false
		}
	}
	return hosts == 1
}

func isTokenString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func isToken(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}

// printable rejects control characters (tab aside) and DEL; bytes >= 0x80 are allowed in values,
// as net/http allows them.
func printable(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
