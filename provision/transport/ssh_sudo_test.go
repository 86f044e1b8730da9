package transport

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

func TestSSHBecome(t *testing.T) {
	for _, tc := range []struct {
		name, user string
		password   bool
	}{
		{"root needs no sudo", "root", false},
		{"passwordless sudo", sshtest.UserSudoNoPassword, false},
		{"sudo with password", sshtest.UserSudoPassword, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sshtest.Start(t, sshtest.Options{User: tc.user})
			cfg := configFor(srv)
			if tc.password {
				cfg.SudoPassword = srv.Password
			}
			s := dialT(t, cfg)
			if got := strings.TrimSpace(mustRun(t, s, Cmd{Command: "id -u"}).Stdout); (got == "0") != (tc.user == "root") {
				t.Fatalf("without become id -u = %s", got)
			}
			// Quoting survives the sudo wrapper, and stdin reaches the command after the
			// password line (which sudo must have consumed).
			res := mustRun(t, s, Cmd{Command: `id -u; printf '%s\n' "it's \"$((1+1))\""; cat`, Become: true, Stdin: strings.NewReader("from-stdin\n")})
			if res.Stdout != "0\nit's \"2\"\nfrom-stdin\n" {
				t.Fatalf("become stdout = %q", res.Stdout)
			}
		})
	}
}

func TestSSHBecomeNeedsPassword(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoPassword})
	s := dialT(t, configFor(srv)) // no SudoPassword
	_, err := s.Run(testCtx(t), Cmd{Command: "true", Become: true})
	if !errors.Is(err, ErrSudo) || !strings.Contains(err.Error(), "needs a password for sudo and none was given") {
		t.Fatalf("err = %v, want ErrSudo with a hint", err)
	}
	// Commands that need no root still work.
	mustRun(t, s, Cmd{Command: "true"})

	cfg := configFor(srv)
	cfg.SudoPassword = "wrong-sudo-password-81"
	_, err = dialT(t, cfg).Run(testCtx(t), Cmd{Command: "true", Become: true})
	if !errors.Is(err, ErrSudo) || strings.Contains(err.Error(), cfg.SudoPassword) {
		t.Fatalf("wrong password: err = %v, want ErrSudo without the password", err)
	}
}

// The sudo password and the key passphrase never appear in errors, results, streamed lines or
// the argv of any process on the machine while commands run.
func TestSSHSecretsNeverLeak(t *testing.T) {
	const passphrase = "key-passphrase-never-seen-7a1"
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoPassword, KeyPassphrase: passphrase})
	secrets := []string{srv.Password, passphrase}
	stopWatch := sshtest.WatchArgv(testCtx(t), secrets...)

	cfg := configFor(srv)
	cfg.SudoPassword = srv.Password
	cfg.Passphrase = func(string) ([]byte, error) { return []byte(passphrase), nil }
	s := dialT(t, cfg)

	var seen []string
	collect := func(l string) { seen = append(seen, l) }
	var errs []error
	for _, cmd := range []Cmd{
		{Command: "id -u; sleep 0.5", Become: true},
		{Command: "cat; echo to-stderr >&2", Become: true, Stdin: strings.NewReader("input\n")},
		{Command: "echo failing >&2; exit 4", Become: true},
		{Command: "sleep 10", Become: true, Timeout: 500 * time.Millisecond},
		// A command that prints the password on purpose (from stdin, not argv): it is redacted.
		{Command: "cat >&2; exit 1", Stdin: strings.NewReader(srv.Password + "\n")},
	} {
		cmd.Stdout, cmd.Stderr = collect, collect
		res, err := s.Run(testCtx(t), cmd)
		errs = append(errs, err)
		seen = append(seen, res.Stdout, res.Stderr)
	}
	if err := s.Put(testCtx(t), strings.NewReader("x"), Upload{Path: t.TempDir() + "/f", Become: true}); err != nil {
		errs = append(errs, err)
	}
	leaks := stopWatch()
	for _, sec := range secrets {
		for _, text := range seen {
			if strings.Contains(text, sec) {
				t.Errorf("secret in output or streamed line: %q", text)
			}
		}
		for _, err := range errs {
			if err != nil && strings.Contains(err.Error(), sec) {
				t.Errorf("secret in error: %v", err)
			}
		}
	}
	for _, l := range leaks {
		t.Errorf("secret in argv of pid %d: %s", l.PID, l.Argv)
	}
	if errs[2] == nil || errs[3] == nil || !errors.Is(errs[3], ErrTimeout) {
		t.Errorf("expected failures did not happen: %v", errs)
	}
}

// TestSSHPutBecomeRefusesADirectoryTarget: a directory where the file should go (made by
// someone who guessed the path) is an error, not a place to move the file into.
func TestSSHPutBecomeRefusesADirectoryTarget(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	s := dialT(t, configFor(srv))
	target := filepath.Join(t.TempDir(), "meshlab-image.tar")
	if err := os.Mkdir(target, 0o777); err != nil {
		t.Fatal(err)
	}
	err := s.Put(context.Background(), strings.NewReader("image"), Upload{Path: target, Mode: 0o600, Become: true})
	if err == nil {
		t.Fatal("the upload went into the directory at the target path")
	}
	t.Logf("put onto a directory: %v", err)
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("the directory got %v", entries)
	}
}
