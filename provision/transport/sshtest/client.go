package sshtest

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// ClientConfig is a plain x/crypto/ssh client configuration for this server: the generated key
// and the server's exact host key. For tests that want a raw connection next to the code under
// test (e.g. to inspect the host).
func (s *Server) ClientConfig() *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.Key.Signer)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
		Timeout:         10 * time.Second,
	}
}

// Dial opens a raw client connection, closed at test cleanup.
func (s *Server) Dial(t testing.TB) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", s.Addr, s.ClientConfig())
	if err != nil {
		t.Fatalf("sshtest: dial %s as %s: %v", s.Addr, s.User, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Output runs command over a fresh raw connection and returns its stdout, failing the test on
// error. Handy for checking the host from a test. (Stderr is left out: login shells of the
// machine may print noise there, e.g. from ~/.bashrc, which bash reads for ssh commands.)
func (s *Server) Output(t testing.TB, command string) string {
	t.Helper()
	sess, err := s.Dial(t).NewSession()
	if err != nil {
		t.Fatalf("sshtest: session on %s: %v", s.Addr, err)
	}
	defer sess.Close()
	var stderr strings.Builder
	sess.Stderr = &stderr
	out, err := sess.Output(command)
	if err != nil {
		t.Fatalf("sshtest: %q on %s: %v: %s", command, s.Addr, err, stderr.String())
	}
	return string(out)
}
