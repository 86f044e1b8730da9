package sshtest

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestStartRoot(t *testing.T) {
	srv := Start(t, Options{})
	if got := strings.TrimSpace(srv.Output(t, "id -u")); got != "0" {
		t.Fatalf("id -u = %q, want 0", got)
	}
	// The known_hosts file the harness wrote must accept the server.
	cb, err := knownhosts.New(srv.KnownHostsPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := srv.ClientConfig()
	cfg.HostKeyCallback = cb
	c, err := ssh.Dial("tcp", srv.Addr, cfg)
	if err != nil {
		t.Fatalf("dial with known_hosts %s: %v", srv.KnownHostsPath, err)
	}
	c.Close()
}

func TestTestUsersSudo(t *testing.T) {
	for _, tc := range []struct {
		user, command, want string
	}{
		{UserSudoNoPassword, "sudo -n id -u", "0"},
		{UserSudoPassword, "sudo -n true 2>&1; echo rc=$?", "password is required"},
		{UserSudoPassword, "echo '" + TestPassword + "' | sudo -S -p '' id -u", "0"},
	} {
		t.Run(tc.user+"/"+tc.command, func(t *testing.T) {
			srv := Start(t, Options{User: tc.user, KeyType: KeyECDSA})
			if got := srv.Output(t, tc.command); !strings.Contains(got, tc.want) {
				t.Fatalf("%q as %s = %q, want it to contain %q", tc.command, tc.user, got, tc.want)
			}
		})
	}
}

func TestPasswordAuth(t *testing.T) {
	srv := Start(t, Options{User: UserSudoPassword, PasswordAuth: true})
	cfg := srv.ClientConfig()
	cfg.Auth = []ssh.AuthMethod{ssh.Password(srv.Password)}
	c, err := ssh.Dial("tcp", srv.Addr, cfg)
	if err != nil {
		t.Fatalf("password login: %v", err)
	}
	c.Close()
}

func TestKillDropsConnections(t *testing.T) {
	srv := Start(t, Options{})
	c := srv.Dial(t)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start("sleep 60"); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- sess.Wait() }()
	srv.Kill()
	select {
	case err := <-waitErr:
		if err == nil {
			t.Fatal("session ended cleanly after Kill")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("session still alive 20s after Kill")
	}
	if err := syscall.Kill(srv.PID, 0); err == nil {
		t.Fatalf("sshd %d still running after Kill", srv.PID)
	}
}

// Fifty servers at once: each must get its own port, config and pid file.
func TestManyInParallel(t *testing.T) {
	for i := 0; i < 50; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			srv := Start(t, Options{})
			if got := strings.TrimSpace(srv.Output(t, "echo ok")); got != "ok" {
				t.Fatalf("echo ok on %s = %q", srv.Addr, got)
			}
		})
	}
}

func TestScanArgv(t *testing.T) {
	const secret = "argv-secret-5f1c"
	srv := Start(t, Options{})
	stop := WatchArgv(t.Context(), secret)
	sess, err := srv.Dial(t).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	// The secret is in the remote command's argv for a moment: the watcher must see it.
	if out, err := sess.CombinedOutput("sh -c 'sleep 0.3' " + secret); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if leaks := stop(); len(leaks) == 0 {
		t.Fatal("WatchArgv did not see a secret that was in argv")
	}
}
