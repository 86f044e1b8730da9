package labrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/meshlab/meshlab/cmd/meshlab/tui/draft"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/transport"
	"github.com/meshlab/meshlab/provision/transport/sshtest"
)

// oneHostLab writes a lab of one host (port, user, key) with its own known_hosts content.
func oneHostLab(t *testing.T, port int, user, keyPath, known string) (*inventory.Lab, string) {
	t.Helper()
	dir := t.TempDir()
	knownPath := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownPath, []byte(known), 0o600); err != nil {
		t.Fatal(err)
	}
	d := draft.New("probe")
	d.KnownHosts = knownPath
	d.Hosts = []draft.Host{{Name: "h", Address: "127.0.0.1", Port: port, User: user, Auth: draft.AuthKey, KeyPath: keyPath,
		Role: inventory.RoleControlPlane}}
	lab, err := d.Save(filepath.Join(dir, "hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return lab, knownPath
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// TestProbeReasons checks every red reason the connectivity screen shows against real sshd
// servers: ok, refused, authentication failed, host key unknown (then trusted), host key
// changed, and sudo needing a password.
func TestProbeReasons(t *testing.T) {
	root := sshtest.Start(t, sshtest.Options{})
	other := sshtest.Start(t, sshtest.Options{})
	sudoPW := sshtest.Start(t, sshtest.Options{User: sshtest.UserSudoPassword})
	// other's key line, pointed at root's port: a host that changed its key.
	changed := strings.Replace(other.KnownHostsLine, fmt.Sprintf("]:%d ", other.Port), fmt.Sprintf("]:%d ", root.Port), 1)

	cases := []struct {
		name   string
		port   int
		user   string
		key    string
		known  string
		trust  bool
		reason Reason
	}{
		{"ok", root.Port, "root", root.KeyPath, root.KnownHostsLine + "\n", false, ReasonOK},
		{"refused", closedPort(t), "root", root.KeyPath, "", false, ReasonRefused},
		{"auth", root.Port, "root", other.KeyPath, root.KnownHostsLine + "\n", false, ReasonAuth},
		{"unknown", root.Port, "root", root.KeyPath, "", false, ReasonHostKeyUnknown},
		{"trusted", root.Port, "root", root.KeyPath, "", true, ReasonOK},
		{"changed", root.Port, "root", root.KeyPath, changed + "\n", false, ReasonHostKeyChanged},
		{"sudo", sudoPW.Port, sudoPW.User, sudoPW.KeyPath, sudoPW.KnownHostsLine + "\n", false, ReasonSudo},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lab, knownPath := oneHostLab(t, c.port, c.user, c.key, c.known)
			timeout := ProbeTimeout
			if c.reason == ReasonRefused {
				timeout = 2e9 // refused is retried until the deadline
			}
			o := ProbeOptions{Timeout: timeout}
			if c.trust { // the key the first look showed
				first := Probe(context.Background(), lab, "h", ProbeOptions{Timeout: timeout})
				if first.Reason != ReasonHostKeyUnknown || !strings.HasPrefix(first.HostKey, "SHA256:") {
					t.Fatalf("first look: %+v", first)
				}
				o.TrustKey = first.HostKey
			}
			r := Probe(context.Background(), lab, "h", o)
			if r.Reason != c.reason {
				t.Fatalf("reason %q, want %q (err: %v)", r.Reason, c.reason, r.Err)
			}
			if c.reason == ReasonOK && (!r.OK() || r.Root == "") {
				t.Errorf("result %+v", r)
			}
			if c.trust {
				// The line is recorded with a hashed name, like OpenSSH's HashKnownHosts.
				if b, _ := os.ReadFile(knownPath); !strings.Contains(string(b), strings.Fields(root.KnownHostsLine)[2]) {
					t.Errorf("trusted key not recorded:\n%s", b)
				}
			}
		})
	}
}

// TestTrustRecordsTheKeyShown: trusting records the key whose fingerprint the user was shown,
// not whatever answers next. Here another server (another key) answers at the host's address
// between the look and the trust: nothing is recorded, and the new key is shown instead.
func TestTrustRecordsTheKeyShown(t *testing.T) {
	first := sshtest.Start(t, sshtest.Options{})
	second := sshtest.Start(t, sshtest.Options{})
	lab, knownPath := oneHostLab(t, first.Port, "root", first.KeyPath, "")
	shown := Probe(context.Background(), lab, "h", ProbeOptions{})
	if shown.Reason != ReasonHostKeyUnknown || shown.HostKey == "" {
		t.Fatalf("first look: %+v", shown)
	}
	// The hosts file now reaches the second server: the same address, another key.
	lab.Hosts[0].Port, lab.Hosts[0].KeyPath = second.Port, second.KeyPath
	r := Probe(context.Background(), lab, "h", ProbeOptions{TrustKey: shown.HostKey})
	if r.Reason != ReasonHostKeyUnknown || r.HostKey == shown.HostKey || r.HostKey == "" {
		t.Fatalf("trusting %s while another key answers: %+v", shown.HostKey, r)
	}
	t.Logf("trust refused: %v", r.Err)
	if b, _ := os.ReadFile(knownPath); len(strings.TrimSpace(string(b))) != 0 {
		t.Errorf("a key was recorded although it was not the one shown:\n%s", b)
	}
	// The key now shown is the one that can be trusted.
	if r := Probe(context.Background(), lab, "h", ProbeOptions{TrustKey: r.HostKey}); !r.OK() {
		t.Errorf("trusting the key shown: %+v", r)
	}
}

func TestClassify(t *testing.T) {
	cases := map[Reason]error{
		ReasonOK:             nil,
		ReasonHostKeyChanged: fmt.Errorf("h: %w", transport.ErrHostKeyMismatch),
		ReasonAuth:           fmt.Errorf("h: %w: publickey", transport.ErrAuth),
		ReasonRefused:        fmt.Errorf("%w: dial: %w", transport.ErrConnection, syscall.ECONNREFUSED),
		ReasonTimeout:        fmt.Errorf("%w: %w", transport.ErrConnection, context.DeadlineExceeded),
		ReasonUnreachable:    fmt.Errorf("%w: no route", transport.ErrConnection),
		ReasonSudo:           fmt.Errorf("%w: needs a password", transport.ErrSudo),
		ReasonOther:          errors.New("something else"),
	}
	for want, err := range cases {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestProbeUnknownHostAndUnsetSecret(t *testing.T) {
	d := draft.New("secrets")
	d.Hosts = []draft.Host{{Name: "h", Address: "127.0.0.1", Port: 22, User: "root", Auth: draft.AuthPassword,
		PasswordRef: "env:MESHLAB_TUI_TEST_UNSET", Role: inventory.RoleControlPlane}}
	_, lab, err := d.Validate(filepath.Join(t.TempDir(), "hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if r := Probe(context.Background(), lab, "h", ProbeOptions{}); r.Reason != ReasonSecret {
		t.Errorf("unset password variable: %+v", r)
	}
	if r := Probe(context.Background(), lab, "nope", ProbeOptions{}); r.OK() {
		t.Errorf("unknown host passed: %+v", r)
	}
}
