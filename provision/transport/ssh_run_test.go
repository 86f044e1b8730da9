package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

func TestSSHRunExitStatusAndOutput(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	s := dialT(t, configFor(srv))
	res, err := s.Run(testCtx(t), Cmd{Command: "echo out; echo err >&2; exit 3"})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.ExitStatus != 3 || exit.Stderr != "err\n" {
		t.Fatalf("err = %#v, want ExitError status 3 with stderr", err)
	}
	if res.ExitStatus != 3 || res.Stdout != "out\n" || res.Stderr != "err\n" {
		t.Fatalf("result = %+v", res)
	}
	// Stdin reaches the command; the PID marker never shows in the output.
	res = mustRun(t, s, Cmd{Command: "cat; echo $'x'", Stdin: strings.NewReader("in\n")})
	if res.Stdout != "in\n$x\n" || strings.Contains(res.Stdout, pidMarker) {
		t.Fatalf("stdout = %q", res.Stdout)
	}
}

// Lines reach the callback while the command is still running, in order.
func TestSSHStreaming(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	s := dialT(t, configFor(srv))
	got := newLines()
	release, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(testCtx(t), Cmd{
			// Prints 1..200, then waits for a line on stdin before the last line.
			Command: "i=1; while [ $i -le 200 ]; do echo line-$i; i=$((i+1)); done; read x; echo last-$x",
			Stdin:   release,
			Stdout:  got.add,
		})
		done <- err
	}()
	got.waitLine(t, "line-200") // arrived although the command has not finished
	pw.Write([]byte("go\n"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	all := got.get()
	if len(all) != 201 || all[200] != "last-go" {
		t.Fatalf("got %d lines, last %q", len(all), all[len(all)-1])
	}
	for i := 0; i < 200; i++ {
		if all[i] != fmt.Sprintf("line-%d", i+1) {
			t.Fatalf("line %d = %q: out of order", i, all[i])
		}
	}
}

// The timeout stops the remote command and what it started, checked on the host itself.
func TestSSHTimeoutKillsRemoteProcess(t *testing.T) {
	for _, tc := range []struct {
		name   string
		user   string
		become bool
		sudoPw bool
	}{
		{"root", "root", false, false},
		{"sudo -n", sshtest.UserSudoNoPassword, true, false},
		{"sudo password", sshtest.UserSudoPassword, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sshtest.Start(t, sshtest.Options{User: tc.user})
			cfg := configFor(srv)
			if tc.sudoPw {
				cfg.SudoPassword = srv.Password
			}
			s := dialT(t, cfg)
			got := newLines()
			_, err := s.Run(testCtx(t), Cmd{
				Command: "sleep 300 & echo child=$!; echo shell=$$; wait",
				Become:  tc.become,
				Timeout: 2 * time.Second,
				Stdout:  got.add,
			})
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			for _, prefix := range []string{"child=", "shell="} {
				pid, _ := strconv.Atoi(strings.TrimPrefix(got.waitLine(t, prefix), prefix))
				waitGone(t, pid)
			}
		})
	}
}

func TestSSHCancelKillsRemoteProcess(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	s := dialT(t, configFor(srv))
	ctx, cancel := context.WithCancel(testCtx(t))
	got := newLines()
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(ctx, Cmd{Command: "echo pid=$$; exec sleep 300", Stdout: got.add})
		done <- err
	}()
	pid, _ := strconv.Atoi(strings.TrimPrefix(got.waitLine(t, "pid="), "pid="))
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	waitGone(t, pid)
	mustRun(t, s, Cmd{Command: "true"}) // the connection is still good
}

// sshd dying mid-command fails the command with ErrConnection instead of hanging, and the
// transport reconnects once the host is back.
func TestSSHServerKilledMidCommand(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	s := dialT(t, configFor(srv))
	got := newLines()
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(testCtx(t), Cmd{Command: "echo started; sleep 300", Stdout: got.add})
		done <- err
	}()
	got.waitLine(t, "started")
	srv.Kill()
	select {
	case err := <-done:
		if !errors.Is(err, ErrConnection) {
			t.Fatalf("err = %v, want ErrConnection", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still waiting 30s after sshd was killed")
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 3*time.Second)
	defer cancel()
	if _, err := s.Run(ctx, Cmd{Command: "true"}); !errors.Is(err, ErrConnection) {
		t.Fatalf("run on a dead host: %v, want ErrConnection", err)
	}
}

// A host that stops answering without closing TCP is found by keepalives.
func TestSSHKeepAliveDetectsHungHost(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	cfg := configFor(srv)
	cfg.KeepAlive = 200 * time.Millisecond
	s := dialT(t, cfg)
	got := newLines()
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(testCtx(t), Cmd{Command: "echo started; sleep 300", Stdout: got.add})
		done <- err
	}()
	got.waitLine(t, "started")
	thaw := srv.Freeze()
	defer thaw()
	select {
	case err := <-done:
		if !errors.Is(err, ErrConnection) || !strings.Contains(err.Error(), "keepalive") {
			t.Fatalf("err = %v, want ErrConnection naming keepalives", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run still waiting 60s after the host froze")
	}
}

// Many concurrent commands share one connection (more than sshd's MaxSessions).
func TestSSHConcurrentRunsOneConnection(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	s := dialT(t, configFor(srv))
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Run(testCtx(t), Cmd{Command: fmt.Sprintf("sleep 0.2; echo %d", i)})
			if err == nil && strings.TrimSpace(res.Stdout) != strconv.Itoa(i) {
				err = fmt.Errorf("run %d printed %q", i, res.Stdout)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	log, _ := os.ReadFile(filepath.Join(srv.Dir, "sshd.log"))
	if n := strings.Count(string(log), "Accepted publickey"); n != 1 {
		t.Fatalf("sshd accepted %d logins, want 1 shared connection", n)
	}
}

func TestSSHTwentyHostsInParallel(t *testing.T) {
	const hosts = 20
	servers := make([]*sshtest.Server, hosts)
	for i := range servers {
		servers[i] = sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	}
	var wg sync.WaitGroup
	errs := make(chan error, hosts)
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := DialSSH(testCtx(t), configFor(srv))
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for j := 0; j < 5; j++ {
				if _, err := s.Run(testCtx(t), Cmd{Command: "hostname >/dev/null; echo ok"}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The target is reached through a direct-tcpip channel of the bastion's connection: when the
// bastion dies, the target connection dies with it.
func TestSSHBastion(t *testing.T) {
	bastion := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	target := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	cfg := configFor(target)
	bcfg := configFor(bastion)
	cfg.Bastion = &bcfg
	s := dialT(t, cfg)
	if got := strings.TrimSpace(mustRun(t, s, Cmd{Command: "echo via-bastion"}).Stdout); got != "via-bastion" {
		t.Fatalf("got %q", got)
	}
	bastion.Kill()
	ctx, cancel := context.WithTimeout(testCtx(t), 5*time.Second)
	defer cancel()
	if _, err := s.Run(ctx, Cmd{Command: "true"}); !errors.Is(err, ErrConnection) {
		t.Fatalf("after the bastion died: %v, want ErrConnection", err)
	}
}

// Nasty strings survive the whole path: our wrapper, the login shell, sh, and sudo's sh.
func TestSSHQuotingEndToEnd(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	s := dialT(t, configFor(srv))
	for _, become := range []bool{false, true} {
		for _, str := range nastyStrings {
			res := mustRun(t, s, Cmd{Command: "printf %s " + Quote(str), Become: become})
			if res.Stdout != str {
				t.Errorf("become=%v: printf of %q gave %q", become, str, res.Stdout)
			}
		}
	}
}
