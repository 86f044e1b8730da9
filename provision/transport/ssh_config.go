package transport

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults for SSHConfig fields left zero.
const (
	DefaultPort           = 22
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepAlive      = 15 * time.Second
	// DefaultKeepAliveMisses unanswered keepalives declare the connection dead.
	DefaultKeepAliveMisses = 3
	// DefaultMaxSessions matches sshd's MaxSessions default (10 channels per connection).
	DefaultMaxSessions = 10
	// DefaultConnectRetry bounds connect retries when the context has no deadline.
	DefaultConnectRetry = 30 * time.Second
)

// SSHConfig describes how to reach and log in to one host.
type SSHConfig struct {
	Name    string // for messages and events; default Address
	Address string // host name or IP
	Port    int    // default 22
	User    string // default the current user

	// KeyPaths are private key files tried in order after the agent's keys. "~/" is expanded.
	KeyPaths []string
	// Passphrase returns the passphrase of an encrypted key; nil skips encrypted keys (the
	// reason is listed in the authentication error).
	Passphrase func(keyPath string) ([]byte, error)
	// UseAgent offers the keys of the agent at $SSH_AUTH_SOCK first.
	UseAgent bool
	// Password is the resolved login password, tried (keyboard-interactive, then password)
	// after keys, as OpenSSH does. "" skips password auth.
	Password string

	// KnownHostsPath is the known_hosts file; default ~/.ssh/known_hosts.
	KnownHostsPath string
	// TrustOnFirstUse records the key of a host not yet in KnownHostsPath instead of failing.
	// Only from an explicit user flag.
	TrustOnFirstUse bool
	// TrustKey records the key of a host not yet in KnownHostsPath only if its SHA256
	// fingerprint is this one ("SHA256:…"): the key the user was shown and accepted, not
	// whatever answers next. Any other key fails as unknown.
	TrustKey string

	// Bastion, if set, is a jump host: the connection is tunnelled through it.
	Bastion *SSHConfig

	Sudo         SudoMode // default SudoAuto
	SudoPassword string   // fed to `sudo -S` on stdin when sudo needs it

	ConnectTimeout time.Duration // per attempt (TCP + handshake); default 10 s
	KeepAlive      time.Duration // interval of keepalive@openssh.com; default 15 s, <0 disables

	// Added beyond the brief's shape: tuning and logging.
	KeepAliveMisses int          // default 3
	MaxSessions     int          // the host's sshd MaxSessions; default 10
	Logger          *slog.Logger // default slog.Default()
}

func (c SSHConfig) withDefaults() SSHConfig {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Name == "" {
		c.Name = c.Address
	}
	if c.User == "" {
		c.User = os.Getenv("USER")
	}
	if c.Sudo == "" {
		c.Sudo = SudoAuto
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.KeepAliveMisses <= 0 {
		c.KeepAliveMisses = DefaultKeepAliveMisses
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.KnownHostsPath == "" {
		c.KnownHostsPath = "~/.ssh/known_hosts"
	}
	c.KnownHostsPath = expandHome(c.KnownHostsPath)
	return c
}

func (c SSHConfig) addr() string {
	return net.JoinHostPort(c.Address, strconv.Itoa(c.Port))
}

// target is "user@host:port" for messages.
func (c SSHConfig) target() string {
	return c.User + "@" + c.addr()
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}
