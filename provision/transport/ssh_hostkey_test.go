package transport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestKnownHostsAccepts(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	hashed := filepath.Join(t.TempDir(), "known_hosts_hashed")
	line := knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize(srv.Addr))}, srv.HostKey)
	if err := os.WriteFile(hashed, []byte("# comment\n"+line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"plain [host]:port": srv.KnownHostsPath, "hashed": hashed} {
		t.Run(name, func(t *testing.T) {
			cfg := configFor(srv)
			cfg.KnownHostsPath = path
			mustRun(t, dialT(t, cfg), Cmd{Command: "true"})
		})
	}
}

// A changed key is refused at once (never retried) with the file and line of the old key, the
// new fingerprint and what to do.
func TestKnownHostsMismatch(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	impostor, err := sshtest.GenerateKey(sshtest.KeyED25519, filepath.Join(t.TempDir(), "impostor"), nil)
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	content := "# first line\n" + knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, impostor.PublicKey) + "\n"
	if err := os.WriteFile(kh, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := configFor(srv)
	cfg.KnownHostsPath = kh
	cfg.TrustOnFirstUse = true // must not matter: TOFU never replaces a recorded key
	_, err = DialSSH(testCtx(t), cfg)
	if !errors.Is(err, ErrHostKeyMismatch) || IsRetryable(err) {
		t.Fatalf("err = %v, want non-retryable ErrHostKeyMismatch", err)
	}
	for _, want := range []string{kh + ":2", ssh.FingerprintSHA256(srv.HostKey), ssh.FingerprintSHA256(impostor.PublicKey), "ssh-keygen -R"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("mismatch error lacks %q:\n%v", want, err)
		}
	}
	if got, _ := os.ReadFile(kh); string(got) != content {
		t.Errorf("known_hosts changed on mismatch:\n%s", got)
	}
	if n := strings.Count(readLog(t, srv), "Connection closed by 127.0.0.1"); n > 1 {
		t.Errorf("mismatch was retried: sshd saw %d connections", n)
	}
}

func readLog(t *testing.T, srv *sshtest.Server) string {
	b, _ := os.ReadFile(filepath.Join(srv.Dir, "sshd.log"))
	return string(b)
}

func TestKnownHostsUnknownWithoutTOFU(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	for name, path := range map[string]string{
		"missing file": filepath.Join(t.TempDir(), "absent"),
		"other hosts":  writeFile(t, "127.0.0.9 "+strings.TrimPrefix(srv.KnownHostsLine, knownhosts.Normalize(srv.Addr)+" ")+"\n"),
	} {
		t.Run(name, func(t *testing.T) {
			cfg := configFor(srv)
			cfg.KnownHostsPath = path
			_, err := DialSSH(testCtx(t), cfg)
			if !errors.Is(err, ErrHostKeyUnknown) || IsRetryable(err) {
				t.Fatalf("err = %v, want non-retryable ErrHostKeyUnknown", err)
			}
			if !strings.Contains(err.Error(), ssh.FingerprintSHA256(srv.HostKey)) {
				t.Errorf("unknown-key error lacks the fingerprint: %v", err)
			}
		})
	}
}

func TestKnownHostsTOFURecords(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword})
	kh := filepath.Join(t.TempDir(), "new", "known_hosts")
	cfg := configFor(srv)
	cfg.KnownHostsPath = kh
	cfg.TrustOnFirstUse = true
	dialT(t, cfg).Close()
	st, err := os.Stat(kh)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("known_hosts after TOFU: %v, mode %v; want created 0600", err, st.Mode())
	}
	// Recorded (hashed): a strict connection now succeeds.
	cfg.TrustOnFirstUse = false
	mustRun(t, dialT(t, cfg), Cmd{Command: "true"})
}

func writeFile(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
