package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strings"
	"time"
)

// h1Writer is the fast path's http.ResponseWriter. It writes the head lazily so that a short body
// gets a Content-Length and a longer or flushed one is chunked, and it supports Flush (for
// ReverseProxy's streaming) and trailers; it cannot hijack (upgrades never take the fast path).
type h1Writer struct {
	c   *proxyConn
	bw  *bufio.Writer
	req *http.Request

	header    http.Header
	status    int  // 0 until WriteHeader
	committed bool // the head is written
	chunked   bool
	length    int64 // declared Content-Length, -1 if none
	written   int64
	pending   []byte // body held back before the head is committed
	close     bool   // close the connection after this response
	err       error
}

func (w *h1Writer) reset(req *http.Request) {
	*w = h1Writer{c: w.c, bw: w.bw, req: req, header: make(http.Header), length: -1, pending: w.pending[:0], close: req.Close}
}

func (w *h1Writer) Header() http.Header { return w.header }

// adoptHeader makes h the response's header, instead of copying it entry by entry, when the
// handler has set no header yet; it reports whether it did.
func (w *h1Writer) adoptHeader(h http.Header) bool {
	if len(w.header) != 0 || w.committed || h == nil {
		return false
	}
	w.header = h
	return true
}

func (w *h1Writer) WriteHeader(code int) {
	if w.status != 0 || w.committed {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.status = code
}

// writeInformational sends a 1xx response (such as 103 Early Hints) at once, as net/http does.
func (w *h1Writer) writeInformational(code int) {
	w.writeStatusLine(code)
	writeHeaderLines(w.bw, w.header, true)
	_, _ = w.bw.WriteString("\r\n")
	w.err = errors.Join(w.err, w.bw.Flush())
}

func (w *h1Writer) writeStatusLine(code int) {
	var b [16]byte
	_, _ = w.bw.WriteString("HTTP/1.1 ")
	_, _ = w.bw.Write(appendInt(b[:0], code))
	_ = w.bw.WriteByte(' ')
	_, _ = w.bw.WriteString(http.StatusText(code))
	_, _ = w.bw.WriteString("\r\n")
}

func appendInt(b []byte, n int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// bodyAllowed is false for HEAD and for statuses without a body.
func (w *h1Writer) bodyAllowed() bool {
	return w.req.Method != http.MethodHead && w.status != http.StatusNoContent && w.status != http.StatusNotModified
}

func (w *h1Writer) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.bodyAllowed() {
		return 0, http.ErrBodyNotAllowed
	}
	if !w.committed {
		if cl := w.header.Get("Content-Length"); cl == "" && len(w.pending)+len(p) <= bufferBeforeChunking {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	return w.writeBody(p)
}

func (w *h1Writer) writeBody(p []byte) (int, error) {
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.chunked {
		n, err := w.bw.Write(p)
		w.err = err
		return n, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var b [20]byte
	_, _ = w.bw.Write(appendHex(b[:0], len(p)))
	_, _ = w.bw.WriteString("\r\n")
	_, _ = w.bw.Write(p)
	_, err := w.bw.WriteString("\r\n")
	w.err = err
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func appendHex(b []byte, n int) []byte {
	const digits = "0123456789abcdef"
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = digits[n&15]
		n >>= 4
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// commit writes the head. final is true when the handler has finished, so a body held back
// entirely in pending can be sent with a Content-Length.
func (w *h1Writer) commit(final bool) {
	if w.committed {
		return
	}
	w.committed = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	h := w.header
	allowed := w.bodyAllowed()
	if _, ok := h["Content-Type"]; !ok && allowed && len(w.pending) > 0 {
		h.Set("Content-Type", http.DetectContentType(w.pending))
	}
	if _, ok := h["Date"]; !ok {
		var b [len(http.TimeFormat)]byte
		h["Date"] = []string{string(time.Now().UTC().AppendFormat(b[:0], http.TimeFormat))}
	}
	h.Del("Transfer-Encoding") // the framing is this writer's to choose
	switch cl := h.Get("Content-Length"); {
	case cl != "":
		if n, ok := parseLength(cl); ok {
			w.length = n
		} else {
			h.Del("Content-Length")
			w.close = true // unknown framing: end the body by closing, as net/http does
		}
	case !allowed:
	case final && h["Trailer"] == nil:
		h["Content-Length"] = []string{string(appendInt(nil, len(w.pending)))}
		w.length = int64(len(w.pending))
	default:
		w.chunked = true
		h["Transfer-Encoding"] = []string{"chunked"}
	}
	if hasToken(h["Connection"], "close") {
		w.close = true
	}
	if w.close {
		h["Connection"] = []string{"close"}
	}
	w.writeStatusLine(w.status)
	// Trailer values are written after the body; the Trailer header itself announces them.
	writeHeaderLines(w.bw, h, true)
	_, w.err = w.bw.WriteString("\r\n")
	if len(w.pending) > 0 && allowed {
		_, _ = w.writeBody(w.pending)
	}
	w.pending = w.pending[:0]
}

// hasToken reports whether a comma-separated header value list contains token (any case, with
// spaces and tabs around it), as net/http decides Connection: close; it allocates nothing.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(t, " \t"), token) {
				return true
			}
		}
	}
	return false
}

func parseLength(s string) (int64, bool) {
	var n int64
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// writeHeaderLines writes h as header lines, skipping http.TrailerPrefix keys when skipTrailers.
// Unlike http.Header.Write it does not sort the keys (the profile showed the sort and its
// allocations on every response; HTTP gives header order no meaning across names) and it
// replaces CR and LF in values only when there are any.
func writeHeaderLines(bw *bufio.Writer, h http.Header, skipTrailers bool) {
	for k, vv := range h {
		if skipTrailers && strings.HasPrefix(k, http.TrailerPrefix) || k == "" || !isTokenString(k) {
			continue // trailers come after the body; invalid names are dropped, as net/http does
		}
		for _, v := range vv {
			writeHeaderLine(bw, k, v)
		}
	}
}

// writeHeaderLine writes "k: v" with CR and LF in v replaced by spaces, as net/http does.
func writeHeaderLine(bw *bufio.Writer, k, v string) {
	_, _ = bw.WriteString(k)
	_, _ = bw.WriteString(": ")
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	_, _ = bw.WriteString(strings.TrimSpace(v))
	_, _ = bw.WriteString("\r\n")
}

// FlushError commits the head and sends what is buffered; http.ResponseController and the
// statusWriter find it.
func (w *h1Writer) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.commit(false)
	if w.err != nil {
		return w.err
	}
	w.err = w.bw.Flush()
	return w.err
}

// EnableFullDuplex succeeds at once: fast-path requests have no body that a response could have
// to overtake. (Without it, http.ResponseController builds an error on every request.)
func (w *h1Writer) EnableFullDuplex() error { return nil }

// Flush is http.Flusher for callers that do not use http.ResponseController.
func (w *h1Writer) Flush() { _ = w.FlushError() }

// finish ends the response after the handler returns: the last chunk and trailers, or the held
// back body with its length; then everything goes out in one write. A body shorter than its
// declared length leaves the connection's framing broken, so w.close is set.
func (w *h1Writer) finish() error {
	w.commit(true)
	if w.chunked {
		_, _ = w.bw.WriteString("0\r\n")
		w.writeTrailers()
		_, _ = w.bw.WriteString("\r\n")
	}
	if w.length >= 0 && w.written != w.length && w.bodyAllowed() {
		w.close = true
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	return w.err
}

// writeTrailers writes the trailers the handler announced in the Trailer header or set with
// http.TrailerPrefix.
func (w *h1Writer) writeTrailers() {
	t := http.Header{}
	for _, v := range w.header.Values("Trailer") {
		for _, k := range bytes.Split([]byte(v), []byte(",")) {
			key := http.CanonicalHeaderKey(string(bytes.TrimSpace(k)))
			if vv, ok := w.header[key]; ok && key != "" {
				t[key] = vv
			}
		}
	}
	for k, vv := range w.header {
		if len(k) > len(http.TrailerPrefix) && k[:len(http.TrailerPrefix)] == http.TrailerPrefix {
			t[k[len(http.TrailerPrefix):]] = vv
		}
	}
	writeHeaderLines(w.bw, t, false)
}
