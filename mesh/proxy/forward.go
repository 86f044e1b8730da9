package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strings"

	"github.com/meshlab/meshlab/mesh/telemetry"
)

// forwarder sends a request on to its upstream and copies the answer back: the last step of both
// the outbound and the inbound handler.
//
// Requests that the fast path serves (h1server.go: bodyless HTTP/1.1 without Upgrade) take
// forwardSimple, which rewrites the request in place and copies the response with only the work
// the exchange needs. Everything else goes through httputil.ReverseProxy: bodies streaming full
// duplex, WebSocket upgrades, HTTP/2 and gRPC clients, anything unusual. Why: in the two-hop
// benchmark a third of each sidecar's allocations were ReverseProxy's copy of every request
// (header map, URL, context, client trace) and its per-response media-type parse, and the
// garbage collections they cost were the p99 tail: with the collector off, the added p99 fell
// from 0.89 to 0.57 ms. forwardSimple keeps ReverseProxy's rules for what it takes (hop-by-hop
// headers, User-Agent, trailers, when to flush) and hands it anything where they get involved.
type forwarder struct {
	transport http.RoundTripper
	rp        *httputil.ReverseProxy
}

func newForwarder(transport http.RoundTripper) *forwarder {
	return &forwarder{transport: transport, rp: &httputil.ReverseProxy{
		Rewrite:      rewrite,
		Transport:    transport,
		BufferPool:   bufferPool{},
		ErrorHandler: errorHandler,
	}}
}

// forward sends r, whose context carries its reqState, and writes the response to sw.
func (f *forwarder) forward(sw *statusWriter, r *http.Request, st *reqState) {
	if simpleForward(sw, r) {
		f.forwardSimple(sw, r, st)
		return
	}
	f.rp.ServeHTTP(sw, r)
}

// onFastPath reports whether w is the fast path's writer (h1server.go), which serves only
// bodyless HTTP/1.1 requests without Upgrade.
func onFastPath(w http.ResponseWriter) bool {
	_, ok := w.(*h1Writer)
	return ok
}

// withContext returns r with ctx. A fast-path request is the proxy's own (serveH1 read it and
// does not look at it again), so it gets the context in place rather than in a copy; net/http's
// requests belong to its server and are copied.
func withContext(w http.ResponseWriter, r *http.Request, ctx context.Context) *http.Request {
	if onFastPath(w) {
		*r = *r.WithContext(ctx) // the copy WithContext makes does not escape: no allocation
		return r
	}
	return r.WithContext(ctx)
}

// simpleForward reports whether forwardSimple takes r: a fast-path request (bodyless, without
// Upgrade: serveH1 takes no other) whose query has no semicolon (ReverseProxy drops such
// parameters) and that asks for no TE (ReverseProxy keeps "trailers" out of the hop-by-hop
// headers it removes).
func simpleForward(sw *statusWriter, r *http.Request) bool {
	_, te := r.Header["Te"]
	return onFastPath(sw.ResponseWriter) && !te && strings.IndexByte(r.URL.RawQuery, ';') < 0
}

// errUnexpectedSwitch is a 101 answer to a request that asked for no upgrade.
var errUnexpectedSwitch = errors.New("upstream switched protocols without an Upgrade request")

func (f *forwarder) forwardSimple(w *statusWriter, out *http.Request, st *reqState) {
	// The request is the proxy's own (the fast path read it), so it is changed in place rather
	// than copied: the handlers' telemetry afterwards reads only its method, URI, Host and
	// Content-Type, which stay as they were.
	out.Body = nil
	out.Close = false
	out.RequestURI = ""
	dropHopByHop(out.Header)
	rewriteOut(out, st)
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // the transport adds none: a sidecar makes none up
	}
	res, err := f.transport.RoundTrip(out)
	if err != nil {
		errorHandler(w, out, err)
		return
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		res.Body.Close()
		errorHandler(w, out, errUnexpectedSwitch)
		return
	}
	dropHopByHop(res.Header)
	// res is dropped after this request, so its header map and slices can be kept.
	if hw := w.ResponseWriter.(*h1Writer); !hw.adoptHeader(res.Header) {
		for k, vv := range res.Header {
			hw.header[k] = append(hw.header[k], vv...)
		}
	}
	h := w.Header()
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)
	if err := copyBody(w, res.Body, flushEachWrite(res)); err != nil {
		res.Body.Close()
		panic(http.ErrAbortHandler) // as ReverseProxy: the response is cut off, the connection closed
	}
	res.Body.Close() // fills in res.Trailer
	if len(res.Trailer) == 0 {
		return
	}
	w.Flush()
	if len(res.Trailer) == announced {
		for k, vv := range res.Trailer {
			h[k] = vv
		}
		return
	}
	for k, vv := range res.Trailer { // trailers the upstream did not announce
		for _, v := range vv {
			h.Add(http.TrailerPrefix+k, v)
		}
	}
}

// hopByHop are the headers of one connection that a proxy does not forward (RFC 9110 §7.6.1),
// in canonical form, as ReverseProxy removes them.
var hopByHop = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// dropHopByHop removes the hop-by-hop headers and those the Connection header names.
func dropHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}

// flushEachWrite is ReverseProxy's rule for streaming responses: one of unknown length or a
// server-sent event stream is flushed after every write; others are written as buffered.
func flushEachWrite(res *http.Response) bool {
	if res.ContentLength == -1 {
		return true
	}
	ct := res.Header["Content-Type"]
	if len(ct) == 0 {
		return false
	}
	const sse = "text/event-stream"
	v := strings.TrimLeft(ct[0], " \t")
	return len(v) >= len(sse) && strings.EqualFold(v[:len(sse)], sse) &&
		(len(v) == len(sse) || v[len(sse)] == ';' || v[len(sse)] == ' ' || v[len(sse)] == '\t')
}

// copyBody copies a response body to w with a pooled buffer.
func copyBody(w *statusWriter, body io.Reader, flush bool) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			if flush {
				if err := http.NewResponseController(w.ResponseWriter).Flush(); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// rewrite is ReverseProxy's Rewrite hook: the outgoing copy goes where rewriteOut says, and the
// X-Forwarded-* headers ReverseProxy strips are put back, since a sidecar is transparent and
// neither drops nor adds them.
func rewrite(pr *httputil.ProxyRequest) {
	st, _ := pr.Out.Context().Value(reqStateKey{}).(*reqState)
	rewriteOut(pr.Out, st)
	for _, h := range forwardingHeaders {
		if v, ok := pr.In.Header[h]; ok {
			pr.Out.Header[h] = v
		}
	}
}

// forwardingHeaders are restored after ReverseProxy strips them.
var forwardingHeaders = [...]string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// rewriteOut points an outgoing request at the original destination (for routed requests the
// transport then picks the endpoint) and carries the trace on. The Host header stays what the
// application sent.
func rewriteOut(out *http.Request, st *reqState) {
	out.URL.Scheme = "http"
	if st != nil {
		out.URL.Host = st.dst.String()
		if st.traced {
			telemetry.Inject(out.Header, st.span)
		}
	}
}
