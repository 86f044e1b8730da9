package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
)

// statusWriter records the status and body size a handler writes, for metrics and spans. It
// unwraps to the server's writer so http.ResponseController can flush and hijack (streaming,
// gRPC, WebSocket upgrades).
type statusWriter struct {
	http.ResponseWriter
	code int
	n    int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush is found by ResponseController through Unwrap too; having it here keeps plain
// http.Flusher callers working.
func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// errorHandler turns upstream failures into Envoy's answers, so applications and tests see the
// statuses and bodies they would behind Istio.
func errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st, _ := r.Context().Value(reqStateKey{}).(*reqState)
	setFlag := func(f string) {
		if st != nil && (st.flags == "" || st.flags == "URX") {
			st.flags = f
		}
	}
	switch {
	case st != nil && st.body != nil && st.body.err != nil:
		// The client's own body was malformed (bad chunk framing, short body): its fault, not
		// the upstream's, and the connection's framing is lost, so answer 400 and close it.
		setFlag("DPE")
		w.Header().Set("Connection", "close")
		http.Error(w, "bad request: malformed request body", http.StatusBadRequest)
	case errors.Is(r.Context().Err(), context.Canceled):
		setFlag("DC") // the client went away; nothing to write
		w.WriteHeader(499)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(r.Context().Err(), context.DeadlineExceeded):
		setFlag("UT")
		http.Error(w, "upstream request timeout", http.StatusGatewayTimeout)
	case errors.Is(err, errOverflow):
		setFlag("UO")
		http.Error(w, "upstream connect error or disconnect/reset before headers. reset reason: overflow", http.StatusServiceUnavailable)
	case errors.Is(err, errNoHealthyUpstream):
		setFlag("UH")
		http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
	default:
		setFlag("UF")
		http.Error(w, "upstream connect error or disconnect/reset before headers. reset reason: "+reasonOf(err), http.StatusServiceUnavailable)
	}
}

func reasonOf(err error) string {
	if isConnectError(err) {
		return "connection failure"
	}
	return "connection termination"
}

// bufferPool lends the reverse proxy 32 KiB copy buffers instead of allocating one per request.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

// downstreamBody wraps a client's request body and remembers a read error other than EOF, so
// that a failed forward can be blamed on the client when it was the client's framing that broke.
type downstreamBody struct {
	io.ReadCloser
	err error
}

func (b *downstreamBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// watchBody puts a downstreamBody around r's body and records it in st.
func watchBody(r *http.Request, st *reqState) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	st.body = &downstreamBody{ReadCloser: r.Body}
	r.Body = st.body
}
