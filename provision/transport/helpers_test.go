package transport

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// testCtx bounds every test: nothing may wait forever.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// configFor is the SSHConfig that logs in to srv with its generated key.
func configFor(srv *sshtest.Server) SSHConfig {
	return SSHConfig{
		Name:           "sshd-" + strconv.Itoa(srv.Port),
		Address:        srv.Host,
		Port:           srv.Port,
		User:           srv.User,
		KeyPaths:       []string{srv.KeyPath},
		KnownHostsPath: srv.KnownHostsPath,
		ConnectTimeout: 10 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func dialT(t testing.TB, cfg SSHConfig) *SSH {
	t.Helper()
	s, err := DialSSH(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("DialSSH %s: %v", cfg.target(), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustRun(t testing.TB, tr Transport, cmd Cmd) Result {
	t.Helper()
	res, err := tr.Run(testCtx(t), cmd)
	if err != nil {
		t.Fatalf("%s: %q: %v (stderr %q)", tr.Name(), cmd.Command, err, res.Stderr)
	}
	return res
}

// lines collects callback lines safely from the session goroutines.
type lines struct {
	mu  sync.Mutex
	all []string
	ch  chan string // every line, for tests that wait for one
}

func newLines() *lines { return &lines{ch: make(chan string, 1024)} }

func (l *lines) add(s string) {
	l.mu.Lock()
	l.all = append(l.all, s)
	l.mu.Unlock()
	select {
	case l.ch <- s:
	default:
	}
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

// waitLine waits (with a deadline) for a line with the given prefix and returns it. The
// deadline is generous: a loaded CI machine can take seconds to start a login shell.
func (l *lines) waitLine(t testing.TB, prefix string) string {
	t.Helper()
	deadline := time.After(90 * time.Second)
	for {
		select {
		case s := <-l.ch:
			if strings.HasPrefix(s, prefix) {
				return s
			}
		case <-deadline:
			t.Fatalf("no line starting with %q within 90s; got %q", prefix, l.get())
		}
	}
}

// waitGone polls until /proc/<pid> is gone (the process ran on this machine: sshd is local).
func waitGone(t testing.TB, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		// A zombie waiting for its reaper is gone for our purpose: it runs nothing.
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running 30s after the command was stopped: %s", pid, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
