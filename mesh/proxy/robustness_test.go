package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// servedProxy is a proxy routing host "web" to a healthy backend, for checking that other
// clients keep being served while one misbehaves.
func servedProxy(t *testing.T, tweak func(*Options)) (*testProxy, *http.Client) {
	web := newBackend(t, "v1", nil)
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{"web": {web}}, nil)}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, tweak)
	return tp, clientVia(tp.out)
}

func mustServe(t *testing.T, c *http.Client) {
	t.Helper()
	if code, body := get(t, c, "http://web:9080/", nil); code != 200 || body != "v1" {
		t.Fatalf("a well-behaved client got %d %q", code, body)
	}
}

func TestMalformedHTTP(t *testing.T) {
	tp, c := servedProxy(t, nil)
	for _, junk := range []string{
		"GET / HTTP/1.1\r\nHost: web:9080\r\nNo colon here\r\n\r\n",
		"GET / HTTP/9.9\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: web:9080\r\nContent-Length: -5\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: web:9080\r\nX: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", // over MaxHeaderBytes
	} {
		conn, err := net.Dial("tcp", tp.out)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, junk)
		line, _ := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if !strings.Contains(line, " 400 ") && !strings.Contains(line, " 431 ") && !strings.Contains(line, " 505 ") {
			t.Errorf("junk %.40q answered %q, want a 4xx/505", junk, line)
		}
		mustServe(t, c)
	}
}

func TestSlowlorisIsCutOff(t *testing.T) {
	tp, c := servedProxy(t, func(o *Options) { o.ReadHeaderTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", tp.out)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: web:9080\r\nX-Slow: ")
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for range 400 { // up to 20 s of trickling, far beyond the header timeout
			if _, err := conn.Write([]byte("a")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	mustServe(t, c) // served while the slow client trickles
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the slowloris connection was never closed")
	}
}

func TestUpstreamResets(t *testing.T) {
	resetter := newBackend(t, "reset", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
		conn.Close()
	})
	web := newBackend(t, "v1", nil)
	files := map[string]string{"proxy.yaml": testProxyDoc,
		"registry.yaml": registry(map[string][]*backend{"web": {web}, "flaky": {resetter}}, nil)}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, nil)
	c := clientVia(tp.out)
	for range 3 {
		code, body := get(t, c, "http://flaky:9080/", nil)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "reset before headers") {
			t.Errorf("reset upstream: %d %q, want 503 upstream ... reset", code, body)
		}
		mustServe(t, c)
	}
}

func TestGracefulDrain(t *testing.T) {
	release := make(chan struct{})
	slow := newBackend(t, "v1", func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "finished")
	})
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{"web": {slow}}, nil)}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, func(o *Options) { o.DrainTimeout = 10 * time.Second })
	c := clientVia(tp.out)
	result := make(chan string, 1)
	go func() {
		resp, err := c.Get("http://web:9080/")
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	eventually(t, "the request to reach the backend", func() bool { return slow.hits.Load() == 1 })
	tp.cancel() // SIGTERM
	eventually(t, "the listener to stop accepting", func() bool {
		conn, err := net.DialTimeout("tcp", tp.out, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	close(release)
	if got := <-result; got != "finished" {
		t.Errorf("in-flight request during drain: %q, want finished", got)
	}
}

// TestManyIdleConnections holds 10 000 idle client connections (from a child process, since
// both ends in one process would exceed the file limit), checks that the proxy still serves,
// then that connections, goroutines and memory go back down once they close.
func TestManyIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 10 000 connections; skipped with -short")
	}
	const n = 10000
	tp, c := servedProxy(t, func(o *Options) { o.SniffTimeout = 5 * time.Minute })
	mustServe(t, c)
	c.CloseIdleConnections()
	baseG := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse

	child := exec.Command(os.Args[0], "-test.run=^TestHelperHoldConnections$")
	child.Env = append(os.Environ(), "MESHLAB_HOLD_ADDR="+tp.out, "MESHLAB_HOLD_N="+strconv.Itoa(n))
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); child.Process.Kill(); child.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "held" {
		t.Fatalf("child: %q %v", line, err)
	}
	srv := tp.outboundServer()
	eventually(t, "the proxy to hold every connection", func() bool { return srv.active.Load() >= n })
	mustServe(t, c)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("%d idle connections: %d goroutines, heap in use +%d KiB", n, runtime.NumGoroutine()-baseG, (ms.HeapInuse-baseHeap)>>10)

	stdin.Close() // the child closes its connections and exits
	child.Wait()
	c.CloseIdleConnections()
	eventually(t, "connections to be released", func() bool { return srv.active.Load() == 0 })
	eventually(t, "goroutines to return to the baseline", func() bool { return runtime.NumGoroutine() <= baseG+5 })
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grown := int64(ms.HeapInuse) - int64(baseHeap); grown > 16<<20 {
		t.Errorf("heap in use grew by %d MiB after the connections closed", grown>>20)
	}
}

// TestHelperHoldConnections is the child process of TestManyIdleConnections.
func TestHelperHoldConnections(t *testing.T) {
	addr := os.Getenv("MESHLAB_HOLD_ADDR")
	if addr == "" {
		return // only a helper process started by another test; nothing to do as a test
	}
	n, _ := strconv.Atoi(os.Getenv("MESHLAB_HOLD_N"))
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	os.Exit(0)
}

// TestNoGoroutinesLeftAfterStop runs HTTP, TCP and upgrade traffic, stops the proxy, and checks
// that every goroutine it started is gone.
func TestNoGoroutinesLeftAfterStop(t *testing.T) {
	web := newBackend(t, "v1", nil)
	echo := tcpEcho(t, "")
	base := runtime.NumGoroutine()
	files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{"web": {web}}, nil)}
	tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, nil)
	c := clientVia(tp.out)
	for range 20 {
		mustServe(t, c)
	}
	tp.setDst(echo)
	conn, err := net.Dial("tcp", tp.out)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "\x00tcp")
	buf := make([]byte, 4)
	io.ReadFull(conn, buf)
	tp.stop() // the TCP connection is still open: the drain must close it
	conn.Close()
	c.CloseIdleConnections()
	eventually(t, "the proxy's goroutines to exit", func() bool { return runtime.NumGoroutine() <= base+2 })
}

// TestMalformedHostIsNotForwarded: a Host header net/http would refuse gets net/http's 400 on
// the fast path too, and never reaches an upstream.
func TestMalformedHostIsNotForwarded(t *testing.T) {
	tp, c := servedProxy(t, nil)
	for _, host := range []string{"web:9080 evil", "web:9080/x", `web:9080"<x>`, "web:9080\\x"} {
		conn, err := net.Dial("tcp", tp.out)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
		line, _ := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if !strings.Contains(line, " 400 ") {
			t.Errorf("Host %q answered %q, want 400", host, line)
		}
		mustServe(t, c)
	}
}

// rawBackend is an upstream that answers every request with the given raw bytes.
func rawBackend(t *testing.T, response string) *backend {
	return newBackend(t, "raw", func(w http.ResponseWriter, _ *http.Request) {
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		bw.WriteString(response)
		bw.Flush()
	})
}

// TestUpstreamHeadLimits: on the fast path an upstream's response head is bounded as net/http's
// Transport bounds it: no more than MaxResponseHeaderBytes (1 MiB here), no more than five 1xx
// responses before the final one. Either way the client gets the 503 of a failed upstream.
func TestUpstreamHeadLimits(t *testing.T) {
	for _, tc := range []struct {
		name, response string
		want           int
	}{
		{"five 103s", strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 5) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200},
		{"six 103s", strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 6) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 503},
		{"a 2 MiB head", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\nContent-Length: 2\r\n\r\nok", 503},
		{"a head under the limit", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 512<<10) + "\r\nContent-Length: 2\r\n\r\nok", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := rawBackend(t, tc.response)
			files := map[string]string{"proxy.yaml": testProxyDoc, "registry.yaml": registry(map[string][]*backend{"web": {up}}, nil)}
			tp := startProxy(t, files, []string{"proxy.yaml", "registry.yaml"}, nil)
			code, _ := get(t, clientVia(tp.out), "http://web:9080/", nil)
			if code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
		})
	}
}
