package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/config"
)

// writeThrough runs handler on an h1Writer for req (a raw request head) and parses what it wrote.
func writeThrough(t *testing.T, rawReq string, handler http.HandlerFunc) (*http.Response, string, *h1Writer) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(rawReq)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := &h1Writer{bw: bufio.NewWriter(&out)}
	w.reset(req)
	handler(w, req)
	if err := w.finish(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out.Bytes())), req)
	if err != nil {
		t.Fatalf("response does not parse: %v\n%s", err, out.String())
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil && !w.close { // a closing connection may end a body short
		t.Fatalf("body: %v\n%s", err, out.String())
	}
	return resp, string(body), w
}

const getHead = "GET / HTTP/1.1\r\nHost: web\r\n\r\n"

func TestH1WriterFraming(t *testing.T) {
	long := strings.Repeat("y", 3<<10)
	for _, tc := range []struct {
		name, req   string
		h           http.HandlerFunc
		wantLen     int64 // -1: chunked
		wantBody    string
		wantClose   bool
		wantTrailer string
	}{
		{"short body gets a length", getHead, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
		}, int64(len("no healthy upstream\n")), "no healthy upstream\n", false, ""},
		{"long body is chunked", getHead, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, long)
		}, -1, long, false, ""},
		{"flushed body is chunked", getHead, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "a")
			http.NewResponseController(w).Flush()
			io.WriteString(w, "b")
		}, -1, "ab", false, ""},
		{"declared length is kept", getHead, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}, 5, "hello", false, ""},
		{"short of its length closes", getHead, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(200)
		}, 5, "", true, ""},
		{"no body for HEAD", "HEAD / HTTP/1.1\r\nHost: web\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1024")
		}, 1024, "", false, ""},
		{"trailers end a chunked body", getHead, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "Grpc-Status")
			io.WriteString(w, "x")
			w.Header().Set("Grpc-Status", "0")
		}, -1, "x", false, "0"},
		{"client asked to close", "GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "bye")
		}, 3, "bye", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, w := writeThrough(t, tc.req, tc.h)
			if resp.ContentLength != tc.wantLen || body != tc.wantBody || w.close != tc.wantClose {
				t.Errorf("length %d body %.20q close %v; want %d %.20q %v", resp.ContentLength, body, w.close, tc.wantLen, tc.wantBody, tc.wantClose)
			}
			if got := resp.Trailer.Get("Grpc-Status"); got != tc.wantTrailer {
				t.Errorf("trailer Grpc-Status %q, want %q", got, tc.wantTrailer)
			}
			if resp.Header.Get("Date") == "" {
				t.Error("no Date header (net/http always sends one)")
			}
		})
	}
}

func TestSimpleRequest(t *testing.T) {
	for head, want := range map[string]bool{
		getHead: true,
		"DELETE /a?b=c HTTP/1.1\r\nHost: web\r\nContent-Length: 0\r\nX-B3-Sampled: 1\r\n\r\n": true,
		"POST / HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\n\r\n":                           false, // a body
		"POST / HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n":                  false,
		"GET / HTTP/1.1\r\nHost: web\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n":    false,
		"GET / HTTP/1.1\r\nHost: web\r\nExpect: 100-continue\r\n\r\n":                         false,
		"GET / HTTP/1.0\r\nHost: web\r\n\r\n":                                                 false,
		"PRI * HTTP/2.0\r\n\r\n":                                                              false, // h2c preface
		"GET http://web/ HTTP/1.1\r\nHost: web\r\n\r\n":                                       false, // absolute form
		"GET / HTTP/1.1\r\n\r\n":                                                              false, // no Host
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n":                                        false,
		"GET / HTTP/1.1\r\nHost: web\r\nNo colon here\r\n\r\n":                                false,
		"GET / HTTP/1.1\r\nHost : web\r\n\r\n":                                                false,
		"GET / HTTP/1.1\r\nHost: web\r\nX: a\r\n folded\r\n\r\n":                              false,
		"GET / HTTP/1.1\r\nHost: web\r\nX: a\x00b\r\n\r\n":                                    false,
	} {
		if got := simpleRequest([]byte(head)); got != want {
			t.Errorf("simpleRequest(%q) = %v, want %v", head, got, want)
		}
	}
}

// TestFastPathHandsOffMidConnection pipelines a bodyless GET, a POST with a body and another GET
// on one connection: the first is served on the fast path, then the connection, with the
// pipelined bytes it has already read, goes to net/http, which serves the other two.
func TestFastPathHandsOffMidConnection(t *testing.T) {
	echo := newBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	})
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{"echo": {echo}}, nil)}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, nil)
	conn := dialRaw(t, tp.out, 20*time.Second)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: echo:9080\r\n\r\n"+
		"POST / HTTP/1.1\r\nHost: echo:9080\r\nContent-Length: 5\r\n\r\nhello"+
		"GET / HTTP/1.1\r\nHost: echo:9080\r\n\r\n")
	br := bufio.NewReader(conn)
	for _, want := range []string{"GET ", "POST hello", "GET "} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the response for %q: %v", want, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != want {
			t.Errorf("got %d %q, want 200 %q", resp.StatusCode, b, want)
		}
	}
	if n := tp.outboundServer().fastReqs.Load(); n != 1 {
		t.Errorf("fast path served %d requests, want 1 (the rest after the hand-off)", n)
	}
}

// TestFastPathStreamsResponse checks that a streamed upstream response reaches the client chunk
// by chunk through both hops' fast paths, before the upstream has finished.
func TestFastPathStreamsResponse(t *testing.T) {
	release := make(chan struct{})
	stream := newBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first;")
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, "second")
	})
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{"stream": {stream}}, nil)}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, nil)
	resp, err := clientVia(tp.out).Get("http://stream:9080/")
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make([]byte, len("first;"))
	_, err = io.ReadFull(resp.Body, got)
	close(release)
	if err != nil || string(got) != "first;" {
		t.Fatalf("first chunk: %q %v", got, err)
	}
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" {
		t.Errorf("rest %q", rest)
	}
	if tp.outboundServer().fastReqs.Load() == 0 {
		t.Error("the GET was not served on the fast path")
	}
}

// oneShotUpstream answers one request per connection and then closes it without saying so
// (no Connection: close), as a server whose idle timeout has just expired does.
func oneShotUpstream(t *testing.T) (netip.AddrPort, *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), &conns
}

func TestH1ClientResendsWhenAPooledConnectionWasClosed(t *testing.T) {
	addr, conns := oneShotUpstream(t)
	tr := newPools(config.Pool{}, nil, nil).h1
	defer tr.close()
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr.String()+"/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("request %d: %q", i, b)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("upstream saw %d connections, want 3 (one per request)", n)
	}
}
