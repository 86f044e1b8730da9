// Package sshtest starts real OpenSSH servers on loopback for tests: throwaway host and user
// keys, a generated sshd_config, one server per call, many in parallel. Tests that need it are
// skipped with a clear reason when not run as root or when sshd is not installed.
//
//	srv := sshtest.Start(t, sshtest.Options{})
//	// dial srv.Addr as srv.User with srv.KeyPath, checking host keys against srv.KnownHostsPath
//
// Users: root (the default; PermitRootLogin prohibit-password), UserSudoNoPassword and
// UserSudoPassword (created on demand, login shell /bin/sh). sshd runs the login shell for every
// command, and bash reads ~/.bashrc for ssh commands: on a machine where root's ~/.bashrc is
// heavy (pyenv, nvm...) every root command costs that. Tests that only need root for some
// commands are faster and steadier as UserSudoNoPassword with Become.
//
// Each server runs in its own cgroup (v2, when available) so that Stop and Kill also reach
// commands orphaned by a dropped connection; otherwise the process tree under sshd is used.
package sshtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDPath is where Debian's openssh-server installs the daemon. sshd must be started by an
// absolute path because it re-executes itself for every connection.
const SSHDPath = "/usr/sbin/sshd"

// Options shape one server. The zero value is a root login with an ed25519 key.
type Options struct {
	// User is the login user; "" means root. UserSudoNoPassword and UserSudoPassword are
	// created on demand (see EnsureUsers).
	User string
	// KeyType of the generated user key: KeyED25519 (default), KeyECDSA or KeyRSA.
	KeyType string
	// KeyPassphrase, if set, encrypts the user key file.
	KeyPassphrase string
	// PasswordAuth allows password logins (the test users' password is TestPassword).
	PasswordAuth bool
	// AuthorizedKeys are accepted in addition to the generated user key (e.g. an agent's key).
	AuthorizedKeys []ssh.PublicKey
	// HostKeyType of the server's host key: KeyED25519 (default), KeyECDSA or KeyRSA.
	HostKeyType string
	// Config lines are added to sshd_config before the defaults, so they override them (sshd
	// keeps the first value of a keyword). Lines from the first "Match" on go last.
	Config []string
}

// Server is a running sshd. Fields are read-only.
type Server struct {
	Host string // "127.0.0.1"
	Port int
	Addr string // "127.0.0.1:<port>"
	User string
	// Password is the user's password for password auth and sudo (TestPassword for the test
	// users, "" for root, which has none).
	Password string
	KeyPath  string  // the user's private key (encrypted when Options.KeyPassphrase is set)
	Key      KeyPair // the same key, with its public half and an unencrypted signer
	HostKey  ssh.PublicKey
	// KnownHostsLine is the known_hosts entry for this server ("[127.0.0.1]:port ssh-ed25519 ...");
	// KnownHostsPath is a file (0600) that contains just that line.
	KnownHostsLine string
	KnownHostsPath string
	Dir            string // temp directory with config, keys and sshd.log; removed at cleanup
	PID            int    // the listening sshd (sshd -D)

	cmd      *exec.Cmd
	cg       *cgroup       // nil when cgroup v2 is not usable
	exited   chan struct{} // closed when the listening sshd has exited
	stopOnce sync.Once
}

// Start launches sshd on a free loopback port and registers its shutdown with t.Cleanup. It
// skips the test when not root or when sshd is missing, and fails it on any other problem.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run sshd and log in as other users: run as root or via .ci/run")
	}
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Skipf("needs %s (apt-get install -y openssh-server): %v", SSHDPath, err)
	}
	if opts.User == "" {
		opts.User = "root"
	}
	if opts.User == UserSudoNoPassword || opts.User == UserSudoPassword {
		if _, err := exec.LookPath("sudo"); err != nil {
			t.Skip("needs sudo for the test users (apt-get install -y sudo)")
		}
		if err := EnsureUsers(); err != nil {
			t.Fatalf("sshtest: %v", err)
		}
	}
	s, err := prepare(opts)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(s.Dir, "sshd.log")); err == nil {
				t.Logf("sshd %s log:\n%s", s.Addr, log)
			}
		}
		os.RemoveAll(s.Dir)
	})
	if err := s.launch(); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	return s
}

// prepare writes keys, authorized_keys and known_hosts into a fresh directory.
func prepare(opts Options) (*Server, error) {
	dir, err := os.MkdirTemp("", "meshlab-sshd-*")
	if err != nil {
		return nil, err
	}
	// sshd reads AuthorizedKeysFile with the login user's privileges, so a non-root user
	// must be able to traverse the directory and read that file.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", User: opts.User, Dir: dir, exited: make(chan struct{})}
	if opts.User != "root" {
		s.Password = TestPassword
	}
	hostKey, err := GenerateKey(opts.HostKeyType, filepath.Join(dir, "host_key"), nil)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	s.HostKey = hostKey.PublicKey
	keyType := opts.KeyType
	if keyType == "" {
		keyType = KeyED25519
	}
	s.Key, err = GenerateKey(keyType, filepath.Join(dir, "id_"+keyType), []byte(opts.KeyPassphrase))
	if err != nil {
		return nil, fmt.Errorf("user key: %w", err)
	}
	s.KeyPath = s.Key.Path
	authorized := s.Key.AuthorizedLine()
	for _, k := range opts.AuthorizedKeys {
		authorized += string(ssh.MarshalAuthorizedKey(k))
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(authorized), 0o644); err != nil {
		return nil, err
	}
	return s, os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(configText(dir, opts)), 0o644)
}

// launch starts sshd, retrying on a new port when another process took the one picked.
func (s *Server) launch() error {
	// The privilege separation directory is normally made by the systemd unit.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		if lastErr = s.startOn(port); lastErr == nil {
			return nil
		}
		if !errors.Is(lastErr, errPortTaken) {
			return lastErr
		}
		s.exited = make(chan struct{})
	}
	return lastErr
}

var errPortTaken = errors.New("port taken")

func (s *Server) startOn(port int) error {
	s.Port, s.Addr = port, net.JoinHostPort(s.Host, strconv.Itoa(port))
	s.KnownHostsLine = knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey)
	s.KnownHostsPath = filepath.Join(s.Dir, "known_hosts")
	if err := os.WriteFile(s.KnownHostsPath, []byte(s.KnownHostsLine+"\n"), 0o600); err != nil {
		return err
	}
	cfg := filepath.Join(s.Dir, "sshd_config")
	logPath := filepath.Join(s.Dir, "sshd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child keeps its own descriptor
	if err := s.startSSHD(cfg, logFile); err != nil {
		return err
	}
	s.PID = s.cmd.Process.Pid
	exited := s.exited
	go func() { s.cmd.Wait(); close(exited) }() //nolint:errcheck // exit status is in the log

	// sshd says "Server listening on 127.0.0.1 port N." once the socket is bound.
	deadline := time.Now().Add(15 * time.Second)
	for {
		log, _ := os.ReadFile(logPath)
		switch {
		case strings.Contains(string(log), "Server listening on"):
			return nil
		case strings.Contains(string(log), "Address already in use"):
			s.killAll()
			return errPortTaken
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("sshd on %s exited at start:\n%s", s.Addr, log)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.killAll()
			return fmt.Errorf("sshd on %s not listening after 15s; log:\n%s", s.Addr, log)
		}
	}
}

// startSSHD starts sshd inside the server's cgroup when there is one. Pdeathsig takes the
// listener down if the test binary dies without cleanup (a panic or -timeout).
func (s *Server) startSSHD(cfg string, log *os.File) error {
	if s.cg == nil {
		s.cg = newCgroup()
	}
	start := func(attr *syscall.SysProcAttr) error {
		s.cmd = exec.Command(SSHDPath, "-D", "-e", "-f", cfg, "-o", "ListenAddress="+s.Addr)
		s.cmd.Stdout, s.cmd.Stderr = log, log
		attr.Pdeathsig = syscall.SIGKILL
		s.cmd.SysProcAttr = attr
		return s.cmd.Start()
	}
	if s.cg != nil {
		if dir, err := s.cg.open(); err == nil {
			defer dir.Close()
			if start(&syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}) == nil {
				return nil
			}
		}
		os.Remove(s.cg.dir) // unusable here: fall back to tracking the process tree
		s.cg = nil
	}
	if err := start(&syscall.SysProcAttr{}); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func configText(dir string, opts Options) string {
	var head, matches []string
	for i, l := range opts.Config {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(l)), "match") {
			matches = opts.Config[i:]
			break
		}
		head = append(head, l)
	}
	yesNo := map[bool]string{true: "yes", false: "no"}
	lines := append(head,
		"HostKey "+filepath.Join(dir, "host_key"),
		"PidFile "+filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile "+filepath.Join(dir, "authorized_keys"),
		"StrictModes no",
		"UsePAM no",
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication "+yesNo[opts.PasswordAuth],
		"KbdInteractiveAuthentication no",
		"AllowTcpForwarding yes", // bastion tests tunnel through a server
		"UseDNS no",
		"PrintMotd no",
		"PrintLastLog no",
		"LogLevel VERBOSE",
		"Subsystem sftp internal-sftp",
	)
	lines = append(lines, matches...)
	return strings.Join(lines, "\n") + "\n"
}
