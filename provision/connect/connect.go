// Package connect turns a hosts file (inventory) into what the engine runs on: engine hosts, a
// dialer that opens SSH transports with the right keys, secrets and host-key policy, and the list
// of secrets every log and event must redact.
package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/transport"
)

// Options are the command-line choices about connecting.
type Options struct {
	// KnownHostsPath overrides the hosts file's ssh.knownHosts (--known-hosts).
	KnownHostsPath string
	// TrustNewHostKeys records the keys of hosts not yet known (--trust-new-host-keys).
	TrustNewHostKeys bool
	// ConnectTimeout bounds one connection attempt (default transport.DefaultConnectTimeout).
	ConnectTimeout time.Duration
	Logger         *slog.Logger
}

// Hosts converts the lab's hosts to engine hosts, in file order.
func Hosts(lab *inventory.Lab) []*engine.Host {
	out := make([]*engine.Host, 0, len(lab.Hosts))
	for _, h := range lab.Hosts {
		out = append(out, &engine.Host{
			Name: h.Name, Address: h.Address, Port: h.Port, User: h.User,
			Role: string(h.Role), Labels: h.Labels,
		})
	}
	return out
}

// hostSecrets are one host's resolved secrets.
type hostSecrets struct {
	password, passphrase, sudo string
}

// Secrets holds every resolved secret of a lab. Its String never shows them.
type Secrets struct {
	hosts map[string]hostSecrets
	all   []string
}

func (*Secrets) String() string { return "[secrets]" }

// All returns every secret value, for redaction.
func (s *Secrets) All() []string { return append([]string(nil), s.all...) }

// ResolveSecrets reads every secret the hosts file refers to (environment variables, files).
// Errors name the host and the source, never a value, and are all reported at once.
func ResolveSecrets(lab *inventory.Lab) (*Secrets, error) {
	s := &Secrets{hosts: map[string]hostSecrets{}}
	var errs []error
	get := func(host, what string, ref inventory.SecretRef) string {
		if !ref.IsSet() {
			return ""
		}
		v, err := ref.Resolve()
		if err != nil {
			errs = append(errs, fmt.Errorf("host %s: %s: %w", host, what, err))
			return ""
		}
		s.all = append(s.all, v)
		return v
	}
	for _, h := range lab.Hosts {
		s.hosts[h.Name] = hostSecrets{
			password:   get(h.Name, "password", h.Password),
			passphrase: get(h.Name, "keyPassphrase", h.KeyPassphrase),
			sudo:       get(h.Name, "sudoPassword", h.SudoPassword),
		}
	}
	return s, errors.Join(errs...)
}

// Config builds the SSH settings of one host.
func Config(lab *inventory.Lab, h inventory.Host, sec *Secrets, o Options) transport.SSHConfig {
	hs := sec.hosts[h.Name]
	known := lab.SSH.KnownHosts
	if o.KnownHostsPath != "" {
		known = o.KnownHostsPath
	}
	cfg := transport.SSHConfig{
		Name: h.Name, Address: h.Address, Port: h.Port, User: h.User,
		KeyPaths: keyPaths(h.KeyPath), UseAgent: h.UseAgent, Password: hs.password,
		KnownHostsPath: known, TrustOnFirstUse: o.TrustNewHostKeys,
		Sudo: transport.SudoMode(h.Sudo), SudoPassword: hs.sudo,
		ConnectTimeout: o.ConnectTimeout, Logger: o.Logger,
	}
	if hs.passphrase != "" {
		pass := hs.passphrase
		cfg.Passphrase = func(string) ([]byte, error) { return []byte(pass), nil }
	}
	if b := h.Bastion; b != nil {
		cfg.Bastion = &transport.SSHConfig{
			Name: h.Name + " bastion", Address: b.Address, Port: b.Port, User: b.User,
			KeyPaths: keyPaths(b.KeyPath), UseAgent: h.UseAgent,
			KnownHostsPath: known, TrustOnFirstUse: o.TrustNewHostKeys,
			ConnectTimeout: o.ConnectTimeout, Logger: o.Logger,
		}
	}
	return cfg
}

// keyPaths is the host's key, or OpenSSH's default identity files that exist.
func keyPaths(keyPath string) []string {
	if keyPath != "" {
		return []string{keyPath}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		p := filepath.Join(home, ".ssh", n)
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Dialer returns the engine's dialer for the lab: it connects a host by its name.
func Dialer(lab *inventory.Lab, sec *Secrets, o Options) engine.Dialer {
	byName := make(map[string]inventory.Host, len(lab.Hosts))
	for _, h := range lab.Hosts {
		byName[h.Name] = h
	}
	return func(ctx context.Context, eh *engine.Host) (transport.Transport, error) {
		h, ok := byName[eh.Name]
		if !ok {
			return nil, fmt.Errorf("host %s is not in the hosts file", eh.Name)
		}
		return dial(ctx, Config(lab, h, sec, o))
	}
}
