package capture

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The real tests run the installer and the traffic inside network namespaces created here.
// They enter a namespace with setns(2) on a goroutine locked to its OS thread rather than
// re-executing the test binary under `ip netns exec`: the iptables tools the installer starts
// inherit the thread's namespace, sockets created on it stay in it after the thread is gone,
// and per-thread setfsuid(2) lets one connection be opened "as UID 1337" (iptables' owner match
// looks at the socket file's fsuid/fsgid) without dropping root for the whole test process.
// The locked thread is never unlocked, so the Go runtime discards it instead of reusing a
// thread that sits in another namespace.

// needRoot skips unless the test can create namespaces and the named tools exist.
func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, iptables): run as root or via .ci/run")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s in PATH (apt-get install iptables iproute2)", tool)
		}
	}
}

var nsCounter atomic.Int64

// newNetns creates a network namespace with lo up and removes it when the test ends.
func newNetns(t *testing.T, role string) string {
	t.Helper()
	name := fmt.Sprintf("meshlab-h4-%d-%d-%s", os.Getpid(), nsCounter.Add(1), role)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("remove netns %s: %v: %s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// identity is who a socket is opened as (0 = root, unchanged).
type identity struct{ fsuid, fsgid int }

// inNetns runs fn on a fresh OS thread that has joined the namespace ns (and taken id).
func inNetns(ns string, id identity, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see the comment at the top of this file
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		if err := takeIdentity(id); err != nil {
			done <- err
			return
		}
		done <- fn()
	}()
	return <-done
}

// accepted is one connection a test listener took: which listener, the client's token, and
// what SO_ORIGINAL_DST said (if asked).
type accepted struct {
	listener string
	token    string
	origDst  netip.AddrPort
	origErr  error
}

// listen opens a dual-stack TCP listener on port inside ns. Every connection's first line is
// a token; the listener reports it on events.
func listen(t *testing.T, ns, name string, port int, events chan<- accepted) {
	t.Helper()
	var ln net.Listener
	err := inNetns(ns, identity{}, func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("listen %s :%d in %s: %v", name, port, ns, err)
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
				ev := accepted{listener: name}
				ev.origDst, ev.origErr = OriginalDst(c.(*net.TCPConn))
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				ev.token = strings.TrimSpace(line)
				_, _ = c.Write([]byte("ok\n"))
				events <- ev
			}()
		}
	}()
}

// dial connects from ns (optionally from source src) to dst as id, sends token, waits for the
// listener's answer and returns; the connection is closed afterwards.
func dial(ns string, id identity, src netip.Addr, dst netip.AddrPort, token string) error {
	return inNetns(ns, id, func() error {
		d := net.Dialer{Timeout: 5 * time.Second}
		if src.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		}
		c, err := d.Dial("tcp", dst.String())
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(token + "\n")); err != nil {
			return err
		}
		_, err = bufio.NewReader(c).ReadString('\n')
		return err
	})
}

// waitFor returns the event carrying token, failing the test after a deadline.
func waitFor(t *testing.T, events <-chan accepted, token string) accepted {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.token == token {
				return ev
			}
			t.Logf("ignoring connection %+v while waiting for %q", ev, token)
		case <-deadline:
			t.Fatalf("no listener saw connection %q within 15s", token)
		}
	}
}

// takeIdentity sets this thread's fsuid/fsgid (setfsuid(2) is per thread) and checks it took:
// the calls report the previous value, so a second call shows whether the first one worked.
func takeIdentity(id identity) error {
	if id.fsgid != 0 {
		_, _ = unix.SetfsgidRetGid(id.fsgid)
		if now, _ := unix.SetfsgidRetGid(id.fsgid); now != id.fsgid {
			return fmt.Errorf("setfsgid(%d) did not take: fsgid is %d", id.fsgid, now)
		}
	}
	if id.fsuid != 0 {
		_, _ = unix.SetfsuidRetUid(id.fsuid)
		if now, _ := unix.SetfsuidRetUid(id.fsuid); now != id.fsuid {
			return fmt.Errorf("setfsuid(%d) did not take: fsuid is %d", id.fsuid, now)
		}
	}
	return nil
}
