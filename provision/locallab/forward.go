package locallab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshlab/meshlab/provision/event"
)

// In the VirtualBox topology SSH is reached as Vagrant reaches it: on a port of 127.0.0.1 that
// VirtualBox forwards to the guest's NAT address. Here one forwarder process per lab listens on
// those ports (127.0.0.1 only) and opens each connection from inside the machine's network
// namespace to its NAT address, port 22, so sshd sees what it sees under VirtualBox. The process
// outlives `meshlab lab create` (it is the lab's "VirtualBox"); destroy stops it, and create on an
// existing lab starts it again when it is gone.

// ForwarderEnv marks the forwarder process: `meshlab lab forward`, or a test binary that serves
// forwards when it finds it set (the argv is the same in both).
const ForwarderEnv = "MESHLAB_LAB_FORWARDER"

// natSSH is where a forwarded connection goes inside the machine.
const natSSH = "10.0.2.15:22"

// forwarderArgs is the argv of the forwarder of a lab; destroy recognises its process by it.
func forwarderArgs(base, lab string) []string {
	return []string{"lab", "forward", "--name", lab, "--log-dir", base}
}

// freeLoopbackPorts picks n free TCP ports on 127.0.0.1.
func freeLoopbackPorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a port for SSH: %w", err)
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// startForwarder starts the lab's forwarder unless it runs, and waits until every machine's sshd
// answers through it.
func (m *Manager) startForwarder(ctx context.Context, st *State, p labPaths, timeout time.Duration) error {
	if pid := m.forwarderPID(st.Name, p); pid == 0 {
		exe := m.opts.Executable
		if exe == "" {
			var err error
			if exe, err = os.Executable(); err != nil {
				return fmt.Errorf("the SSH forwarder: %w", err)
			}
		}
		logf, err := os.OpenFile(p.forwardLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer logf.Close()
		cmd := exec.Command(exe, forwarderArgs(m.opts.BaseDir, st.Name)...)
		cmd.Env = append(os.Environ(), ForwarderEnv+"=1")
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // not in the creating command's process group
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start the SSH forwarder %s: %w", exe, err)
		}
		if err := writeFileAtomic(p.forwardPID(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
			return err
		}
		go cmd.Wait() //nolint:errcheck // reaps it, should it end while this process lives
		m.emit(event.Log, st.Name, "", fmt.Sprintf("SSH forwarder (pid %d) listens on 127.0.0.1 for the machines", cmd.Process.Pid))
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, node := range st.Nodes {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(node.SSHPort))
		for {
			err := sshBanner(wctx, addr)
			if err == nil {
				break
			}
			if sleepCtx(wctx, pollInterval) != nil {
				tail, _ := tailFile(p.forwardLog(), 2048)
				return fmt.Errorf("%s: sshd does not answer through the forwarded port %s: %w (forwarder log %s: %s)",
					node.Name, addr, err, p.forwardLog(), strings.TrimSpace(tail))
			}
		}
	}
	return nil
}

// forwarderPID is the pid of the lab's running forwarder, or 0.
func (m *Manager) forwarderPID(lab string, p labPaths) int {
	b, err := os.ReadFile(p.forwardPID())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0
	}
	// Only this lab's forwarder: a pid the kernel gave to another process since is left alone.
	if !strings.Contains(string(cmdline), strings.Join(forwarderArgs(m.opts.BaseDir, lab), "\x00")) {
		return 0
	}
	return pid
}

// stopForwarder ends the lab's forwarder, if it runs.
func (m *Manager) stopForwarder(lab string, p labPaths) error {
	pid := m.forwarderPID(lab, p)
	if pid == 0 {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop the SSH forwarder (pid %d): %w", pid, err)
	}
	for i := 0; i < 50 && m.forwarderPID(lab, p) != 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if m.forwarderPID(lab, p) != 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = os.Remove(p.forwardPID())
	return nil
}

// ServeSSHForwards is the forwarder of a lab (`meshlab lab forward`): it listens on each
// machine's SSH port on 127.0.0.1 and carries every connection to the machine's NAT address,
// port 22, from inside the machine's network namespace, until ctx ends.
func (m *Manager) ServeSSHForwards(ctx context.Context, lab string) error {
	if err := ValidateName(lab); err != nil {
		return err
	}
	st, err := readState(m.paths(lab).state())
	if err != nil {
		return fmt.Errorf("lab %s: %w", lab, err)
	}
	n := namesFor(lab)
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for _, node := range st.Nodes {
		if node.SSHPort == 0 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(node.SSHPort)))
		if err != nil {
			return fmt.Errorf("lab %s: %s's SSH port: %w", lab, node.Name, err)
		}
		lns = append(lns, l)
	}
	var wg sync.WaitGroup
	for i, l := range lns {
		ns := netnsPath(n.machineID(st.Nodes[i].Name))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go forwardInto(ctx, c, ns)
			}
		}()
	}
	fmt.Fprintf(os.Stderr, "lab %s: forwarding SSH for %d machines\n", lab, len(lns))
	<-ctx.Done()
	for _, l := range lns {
		l.Close()
	}
	wg.Wait()
	return nil
}

// forwardInto connects c to natSSH inside the namespace at nsPath and copies both ways.
func forwardInto(ctx context.Context, c net.Conn, nsPath string) {
	defer c.Close()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	remote, err := dialInNetns(dctx, nsPath, natSSH)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "forward to %s in %s: %v\n", natSSH, filepath.Base(nsPath), err)
		return
	}
	defer remote.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(remote, c)
	go pipe(c, remote)
	<-done
	<-done
}

// dialInNetns opens a TCP connection from inside the network namespace at nsPath: the socket is
// made on a thread that joined the namespace and stays there. The thread is never switched back;
// it ends with its goroutine, so no other goroutine can inherit the namespace.
func dialInNetns(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: fmt.Errorf("open %s: %w", nsPath, err)}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("enter %s: %w", nsPath, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
