package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// tcpEcho is a real TCP server that echoes; banner, if set, is sent first (a server-first protocol).
func tcpEcho(t *testing.T, banner string) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if banner != "" {
					io.WriteString(c, banner)
				}
				io.Copy(c, c)
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func emptyProxy(t *testing.T, tweak func(*Options)) *testProxy {
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{}, nil)}
	return startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, tweak)
}

func TestTCPPassthroughClientFirst(t *testing.T) {
	tp := emptyProxy(t, nil)
	tp.setDst(tcpEcho(t, ""))
	c := dialRaw(t, tp.out, 10*time.Second)
	msg := "\x00\x01binary, not HTTP\n"
	io.WriteString(c, msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo through the proxy: %q, %v", got, err)
	}
	// Half-close: the echo server sees EOF, closes, and we see EOF.
	c.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Errorf("after half-close: %q, %v", rest, err)
	}
}

func TestTCPServerFirstAfterSniffTimeout(t *testing.T) {
	tp := emptyProxy(t, func(o *Options) { o.SniffTimeout = 50 * time.Millisecond })
	tp.setDst(tcpEcho(t, "220 smtp ready\r\n"))
	c := dialRaw(t, tp.out, 10*time.Second)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "220 smtp ready\r\n" {
		t.Fatalf("banner: %q, %v", line, err)
	}
}

func TestWebSocketUpgradePassthrough(t *testing.T) {
	up := newBackend(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo frames (opaque bytes here)
	})
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{"chat": {up}}, nil)}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, nil)
	c := dialRaw(t, tp.out, 10*time.Second)
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: chat:9080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(c, "frame-1")
	got := make([]byte, 7)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "frame-1" {
		t.Fatalf("after upgrade: %q %v", got, err)
	}
}

func h2cClient(addr string) *http.Client {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		Protocols: &protos,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		DialTLSContext:  func(context.Context, string, string) (net.Conn, error) { return nil, fmt.Errorf("no TLS") },
		TLSClientConfig: &tls.Config{},
	}}
}

// TestH2CWithTrailers sends HTTP/2 cleartext through the proxy to an h2c server, checking the
// upstream hop is HTTP/2 too and trailers (what gRPC's status rides on) come back.
func TestH2CWithTrailers(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Grpc-Status")
		w.Header().Set("Content-Type", "application/grpc")
		fmt.Fprintf(w, "proto=%s", r.Proto)
		w.Header().Set("Grpc-Status", "0")
	}))
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &protos
	srv.Start()
	t.Cleanup(srv.Close)
	b := &backend{Server: srv, name: "v1"}
	reg := strings.Replace(registry(map[string][]*backend{"grpc": {b}}, nil), "{name: http, port: 9080}", "{name: grpc, port: 9080}", 1)
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": reg}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, nil)
	req, _ := http.NewRequest(http.MethodPost, "http://grpc:9080/pkg.Svc/Method", strings.NewReader("x"))
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := h2cClient(tp.out).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || string(body) != "proto=HTTP/2.0" || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("client proto %s, body %q, trailer %v", resp.Proto, body, resp.Trailer)
	}
}

func TestInboundForwardsFrom127006AndStripsPeer(t *testing.T) {
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s|%s", r.RemoteAddr, r.Header.Get(PeerHeader), r.Header.Get("X-B3-Spanid"))
	})
	tp := emptyProxy(t, nil)
	tp.setDst(app.addr())
	_, body := get(t, clientVia(tp.in), "http://app:9080/", map[string]string{
		PeerHeader: "reviews-v2.default;app=reviews;version=v2", "X-B3-Traceid": "463ac35c9f6413ad", "X-B3-Spanid": "a2fb4a1d1a96d312", "X-B3-Sampled": "1"})
	parts := strings.Split(body, "|")
	if len(parts) != 3 {
		t.Fatalf("body %q", body)
	}
	if !strings.HasPrefix(parts[0], "127.0.0.6:") {
		t.Errorf("app saw the connection from %s, want 127.0.0.6", parts[0])
	}
	if parts[1] != "" {
		t.Errorf("peer header leaked to the app: %q", parts[1])
	}
	if parts[2] == "" || parts[2] == "a2fb4a1d1a96d312" {
		t.Errorf("app saw span %q, want a new server span as the parent of its calls", parts[2])
	}
}

// TestChunkedBothWays streams a chunked request body through and gets a streamed chunked
// response back: the first response chunk must arrive while the request is still open, so
// nothing in the proxy buffers whole bodies.
func TestChunkedBothWays(t *testing.T) {
	echo := newBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		buf := make([]byte, 64)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				http.NewResponseController(w).Flush()
			}
			if err != nil {
				return
			}
		}
	})
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{"echo": {echo}}, nil)}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, nil)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://echo:9080/", pr)
	req.ContentLength = -1 // chunked
	respc := make(chan *http.Response, 1)
	errc := make(chan error, 1)
	go func() {
		resp, err := clientVia(tp.out).Do(req)
		if err != nil {
			errc <- err
			return
		}
		respc <- resp
	}()
	io.WriteString(pw, "first;")
	var resp *http.Response
	select {
	case resp = <-respc:
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("no response headers while the request body is still open")
	}
	defer resp.Body.Close()
	got := make([]byte, len("first;"))
	if _, err := io.ReadFull(resp.Body, got); err != nil || string(got) != "first;" {
		t.Fatalf("first chunk: %q %v", got, err)
	}
	io.WriteString(pw, "second")
	pw.Close()
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" || len(resp.TransferEncoding) == 0 {
		t.Errorf("rest %q, transfer encoding %v", rest, resp.TransferEncoding)
	}
}
