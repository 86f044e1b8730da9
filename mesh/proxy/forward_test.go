package proxy

import (
	"bufio"
	"io"
	"net/http"
	"testing"
	"time"
)

// startForwardProxy runs an outbound proxy in front of one backend service, "echo".
func startForwardProxy(t *testing.T, h http.HandlerFunc) *testProxy {
	b := newBackend(t, "v1", h)
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{"echo": {b}}, nil)}
	return startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, nil)
}

// TestForwardSimpleHeaders: a fast-path request loses its hop-by-hop headers (and those its
// Connection header names) in both directions, keeps X-Forwarded-For as sent, gets no
// User-Agent the client did not send, and carries the trace on.
func TestForwardSimpleHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	tp := startForwardProxy(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=9")
		w.Header().Set("X-Resp", "ok")
		io.WriteString(w, "body")
	})
	conn := dialRaw(t, tp.out, 20*time.Second)
	io.WriteString(conn, "GET /x?a=1 HTTP/1.1\r\nHost: echo:9080\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"+
		"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nX-Forwarded-For: 10.1.1.1\r\nX-Keep: yes\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "body" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	for _, k := range []string{"X-Resp-Hop", "Keep-Alive"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("response carries hop-by-hop %s: %q", k, v)
		}
	}
	if resp.Header.Get("X-Resp") != "ok" {
		t.Errorf("response header X-Resp %q, want ok", resp.Header.Get("X-Resp"))
	}
	h := <-got
	for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Connection", "User-Agent"} {
		if v, ok := h[k]; ok {
			t.Errorf("upstream got %s: %q", k, v)
		}
	}
	if h.Get("X-Forwarded-For") != "10.1.1.1" || h.Get("X-Keep") != "yes" {
		t.Errorf("upstream X-Forwarded-For %q X-Keep %q, want them as sent", h.Get("X-Forwarded-For"), h.Get("X-Keep"))
	}
	if h.Get("X-B3-Traceid") == "" || h.Get("Traceparent") == "" || h.Get("X-Request-Id") == "" {
		t.Errorf("upstream got no trace or request ID headers: %v", h)
	}
	if n := tp.outboundServer().fastReqs.Load(); n != 1 {
		t.Errorf("fast path served %d requests, want 1", n)
	}
}

// TestForwardSimpleTrailersAndStreaming: trailers reach the client, announced or not, and a
// response of unknown length is flushed at every write (the backend waits for the client to
// see the first part before it sends the rest).
func TestForwardSimpleTrailersAndStreaming(t *testing.T) {
	seen := make(chan struct{})
	tp := startForwardProxy(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/trailers":
			w.Header().Set("Trailer", "Grpc-Status")
			io.WriteString(w, "x")
			w.Header().Set("Grpc-Status", "0")
			w.Header().Set(http.TrailerPrefix+"X-Late", "1")
		case "/stream":
			io.WriteString(w, "first")
			http.NewResponseController(w).Flush()
			select {
			case <-seen:
				io.WriteString(w, "second")
			case <-time.After(10 * time.Second):
				io.WriteString(w, "-never-flushed")
			}
		}
	})
	c := clientVia(tp.out)
	resp, err := c.Get("http://echo:9080/trailers")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "x" || resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("X-Late") != "1" {
		t.Errorf("body %q trailers %v; want x with Grpc-Status 0 and X-Late 1", b, resp.Trailer)
	}

	resp, err = c.Get("http://echo:9080/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("first"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first" {
		t.Fatalf("first part %q, %v", first, err)
	}
	close(seen)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" {
		t.Errorf("rest %q, want second (the first part was not flushed on its own)", rest)
	}
	if n := tp.outboundServer().fastReqs.Load(); n != 2 {
		t.Errorf("fast path served %d requests, want 2", n)
	}
}
