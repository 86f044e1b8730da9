package transport

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/provision/transport/sshtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func TestSSHKeyTypes(t *testing.T) {
	for _, tc := range []struct {
		keyType string
		config  []string
	}{
		{sshtest.KeyED25519, nil},
		{sshtest.KeyECDSA, nil},
		// The server refuses the SHA-1 "ssh-rsa" signature: only rsa-sha2-256/512 can pass.
		{sshtest.KeyRSA, []string{"PubkeyAcceptedAlgorithms rsa-sha2-512,rsa-sha2-256"}},
	} {
		t.Run(tc.keyType, func(t *testing.T) {
			t.Parallel()
			srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword, KeyType: tc.keyType, Config: tc.config})
			s := dialT(t, configFor(srv))
			if got := strings.TrimSpace(mustRun(t, s, Cmd{Command: "id -un"}).Stdout); got != srv.User {
				t.Fatalf("id -un = %q", got)
			}
		})
	}
}

func TestSSHEncryptedKey(t *testing.T) {
	const passphrase = "key-passphrase-e9d2"
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword, KeyPassphrase: passphrase})

	t.Run("with passphrase", func(t *testing.T) {
		cfg := configFor(srv)
		var asked []string
		cfg.Passphrase = func(p string) ([]byte, error) { asked = append(asked, p); return []byte(passphrase), nil }
		mustRun(t, dialT(t, cfg), Cmd{Command: "true"})
		if len(asked) == 0 || asked[0] != srv.KeyPath {
			t.Fatalf("passphrase asked for %q, want %s", asked, srv.KeyPath)
		}
	})
	t.Run("no passphrase source", func(t *testing.T) {
		_, err := DialSSH(testCtx(t), configFor(srv))
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "encrypted and no passphrase source") {
			t.Fatalf("err = %v, want ErrAuth naming the skipped encrypted key", err)
		}
	})
	t.Run("wrong passphrase", func(t *testing.T) {
		cfg := configFor(srv)
		cfg.Passphrase = func(string) ([]byte, error) { return []byte("wrong"), nil }
		_, err := DialSSH(testCtx(t), cfg)
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "passphrase incorrect") {
			t.Fatalf("err = %v, want ErrAuth with passphrase incorrect", err)
		}
	})
}

// serveAgent runs an in-memory ssh-agent on a unix socket and points SSH_AUTH_SOCK at it.
func serveAgent(t *testing.T, keys ...agent.AddedKey) {
	keyring := agent.NewKeyring()
	for _, k := range keys {
		if err := keyring.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); agent.ServeAgent(keyring, c) }() //nolint:errcheck // ends with the test
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
}

func TestSSHAgent(t *testing.T) {
	dir := t.TempDir()
	agentKey, err := sshtest.GenerateKey(sshtest.KeyED25519, filepath.Join(dir, "agent_key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := os.ReadFile(agentKey.Path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ssh.ParseRawPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	serveAgent(t, agent.AddedKey{PrivateKey: raw})
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoNoPassword, AuthorizedKeys: []ssh.PublicKey{agentKey.PublicKey}})
	cfg := configFor(srv)
	cfg.KeyPaths = nil // only the agent can log in
	cfg.UseAgent = true
	mustRun(t, dialT(t, cfg), Cmd{Command: "true"})
}

func TestSSHPassword(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoPassword, PasswordAuth: true})
	cfg := configFor(srv)
	cfg.KeyPaths = nil
	cfg.Password = srv.Password
	if got := strings.TrimSpace(mustRun(t, dialT(t, cfg), Cmd{Command: "id -un"}).Stdout); got != sshtest.UserSudoPassword {
		t.Fatalf("id -un = %q", got)
	}
}

// When everything fails the error lists what was tried and what was skipped, and why.
func TestSSHAuthFailureListsMethods(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoPassword, PasswordAuth: true})
	other, err := sshtest.GenerateKey(sshtest.KeyECDSA, filepath.Join(t.TempDir(), "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	cfg := configFor(srv)
	cfg.KeyPaths = []string{other.Path, "/nonexistent/id_rsa"}
	cfg.UseAgent = true
	cfg.Password = "wrong-password-3c1"
	_, err = DialSSH(testCtx(t), cfg)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	msg := err.Error()
	for _, want := range []string{"publickey", "password", other.Path, "/nonexistent/id_rsa", "SSH_AUTH_SOCK is not set"} {
		if !strings.Contains(msg, want) {
			t.Errorf("auth error does not mention %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, cfg.Password) {
		t.Errorf("auth error contains the password:\n%s", msg)
	}
}
