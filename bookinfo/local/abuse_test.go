package local

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshlab/meshlab/mesh/localmesh/localmeshtest"

	"github.com/meshlab/meshlab/mesh/localmesh"
)

// TestSidecarSurvivesAbuse complements mesh/proxy's in-process robustness tests with the real
// thing: the productpage pod's sidecar process, behind real inbound capture, gets malformed
// HTTP, a slowloris crowd and 10 000 idle connections from this host while a well-behaved client
// keeps loading the page. Afterwards the sidecar must be back to its file descriptors, its peak
// memory bounded, and (from a goroutine dump) no more goroutines than an untouched sidecar.
func TestSidecarSurvivesAbuse(t *testing.T) {
	localmeshtest.Require(t)
	// Inherited by the sidecars: SIGQUIT then dumps every goroutine, not only the running one.
	t.Setenv("GOTRACEBACK", "all")
	dir := localmeshtest.Dir(t, "meshlab-bookinfo-abuse-")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := Start(ctx, localmesh.Options{Name: "bab", Binary: meshlabBinary, Dir: filepath.Join(dir, "mesh"),
		PodNet: netip.MustParsePrefix("10.219.0.0/24"), SvcNet: netip.MustParsePrefix("10.219.1.0/24")})
	if err != nil {
		t.Fatalf("start Bookinfo: %v", err)
	}
	t.Cleanup(func() { m.Stop(context.Background()) })
	b := &bookinfo{t: t, mesh: m, url: ProductpageURL(m)}
	target := netip.AddrPortFrom(m.PodAddr("productpage-v1"), Port).String()

	pid := sidecarPID(t, m.Netns("productpage-v1"))
	b.get(anonymous())
	baseFDs := openFDs(t, pid)

	t.Run("malformed HTTP", func(t *testing.T) {
		for _, junk := range []string{
			"GET / HTTP/1.1\r\nHost: productpage\r\nNo colon here\r\n\r\n",
			"GET / HTTP/9.9\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: productpage\r\nContent-Length: -5\r\n\r\n",
			"POST / HTTP/1.1\r\nHost: productpage\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
			"GET / HTTP/1.1\r\nHost: productpage\r\nX: " + strings.Repeat("a", 100<<10) + "\r\n\r\n",
			"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + strings.Repeat("\x00", 64), // a TLS hello
			"\r\n\r\n\r\n",
		} {
			conn, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			_, _ = io.WriteString(conn, junk)
			// Whatever it is, the sidecar must answer it as the client's error (4xx) or just
			// close, and then close: the stream's framing is lost, so any further bytes on this
			// connection cannot be trusted to start a request.
			status, err := bufio.NewReader(conn).ReadString('\n')
			if err == nil && !regexp.MustCompile(`^HTTP/1\.[01] (4\d\d|505) `).MatchString(status) {
				t.Errorf("junk %.40q answered %q, want a 4xx (or 505)", junk, strings.TrimSpace(status))
			}
			if _, err := io.Copy(io.Discard, conn); err != nil && !isReset(err) {
				t.Errorf("junk %.40q: the connection stayed open after the answer: %v", junk, err)
			}
			conn.Close()
			b.get(anonymous())
		}
	})

	t.Run("slowloris clients are cut off while others are served", func(t *testing.T) {
		const n = 200
		var wg sync.WaitGroup
		cut := make(chan time.Duration, n)
		for range n {
			conn, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				start := time.Now()
				_, _ = io.WriteString(conn, "GET /productpage HTTP/1.1\r\nHost: productpage\r\nX-Slow: ")
				for time.Since(start) < 60*time.Second { // far beyond the sidecar's 10 s header timeout
					if _, err := conn.Write([]byte("a")); err != nil {
						cut <- time.Since(start)
						return
					}
					time.Sleep(500 * time.Millisecond)
				}
			}()
		}
		for range 5 {
			b.get(anonymous())
		}
		wg.Wait()
		close(cut)
		if len(cut) != n {
			t.Fatalf("%d of %d slowloris connections were still open after 60 s", n-len(cut), n)
		}
	})

	t.Run("10 000 idle connections", func(t *testing.T) {
		const n = 10000
		conns := make([]net.Conn, 0, n)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range n {
			c, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				t.Fatalf("after %d connections: %v", len(conns), err)
			}
			conns = append(conns, c)
		}
		t.Logf("%d idle connections open; sidecar has %d file descriptors (baseline %d)", n, openFDs(t, pid), baseFDs)
		for range 5 {
			b.get(anonymous())
		}
	})

	t.Run("afterwards: descriptors released, memory bounded, no goroutines left behind", func(t *testing.T) {
		deadline := time.Now().Add(60 * time.Second)
		for fds := openFDs(t, pid); fds > baseFDs+10; fds = openFDs(t, pid) {
			if time.Now().After(deadline) {
				t.Fatalf("sidecar holds %d file descriptors 60 s after the abuse, baseline %d", fds, baseFDs)
			}
			time.Sleep(500 * time.Millisecond)
		}
		peak, rss := memoryOf(t, pid)
		t.Logf("sidecar memory: peak %d MiB, now %d MiB", peak>>20, rss>>20)
		// A bound, not a figure: 10 000 connections at a few tens of KiB each, plus the binary.
		if peak > 512<<20 {
			t.Errorf("sidecar peak RSS %d MiB during the abuse, want at most 512 MiB", peak>>20)
		}
		b.get(anonymous())
		abused := goroutinesOf(t, pid, filepath.Join(m.LogDir("productpage-v1"), "proxy.log"))
		calm := goroutinesOf(t, sidecarPID(t, m.Netns("details-v1")), filepath.Join(m.LogDir("details-v1"), "proxy.log"))
		t.Logf("goroutines: abused sidecar %d, untouched sidecar %d", abused, calm)
		if abused > calm+25 {
			t.Errorf("the abused sidecar has %d goroutines, an untouched one %d: goroutines left behind", abused, calm)
		}
	})
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// sidecarPID finds the sidecar in a pod's namespace: the process running as UID 1337.
func sidecarPID(t *testing.T, netns string) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "pids", netns).Output()
	if err != nil {
		t.Fatalf("ip netns pids %s: %v", netns, err)
	}
	for _, f := range strings.Fields(string(out)) {
		status, err := os.ReadFile("/proc/" + f + "/status")
		if err != nil {
			continue
		}
		if regexp.MustCompile(`(?m)^Uid:\s+1337\s`).Match(status) {
			pid, _ := strconv.Atoi(f)
			return pid
		}
	}
	t.Fatalf("no process of UID 1337 in %s", netns)
	return 0
}

func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("sidecar %d: %v", pid, err)
	}
	return len(entries)
}

// memoryOf returns VmHWM (peak RSS) and VmRSS in bytes.
func memoryOf(t *testing.T, pid int) (peak, rss int64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[2] == "kB" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			switch fields[0] {
			case "VmHWM:":
				peak = kb << 10
			case "VmRSS:":
				rss = kb << 10
			}
		}
	}
	return peak, rss
}

// goroutinesOf ends the sidecar with SIGQUIT (GOTRACEBACK=all: the Go runtime dumps every
// goroutine to its log) and counts the goroutines in that dump.
func goroutinesOf(t *testing.T, pid int, logPath string) int {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatalf("SIGQUIT sidecar %d: %v", pid, err)
	}
	// The dump is complete once the process is gone (localmesh reaps it).
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("sidecar %d still runs 20 s after SIGQUIT", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.LastIndex(text, "SIGQUIT: quit")
	if i < 0 {
		t.Fatalf("sidecar %d wrote no goroutine dump to %s", pid, logPath)
	}
	return len(regexp.MustCompile(`(?m)^goroutine \d+ [^\n]*\[`).FindAllString(text[i:], -1))
}
