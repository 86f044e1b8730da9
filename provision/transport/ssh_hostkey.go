package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys checks server keys against a known_hosts file (custom path, hashed entries and the
// [host]:port form, all handled by x/crypto's knownhosts) and, only when trust-on-first-use was
// asked for, records keys of hosts it has never seen.
type hostKeys struct {
	path     string
	tofu     bool
	trustKey string // record only a key with this fingerprint (overrides tofu)
	log      func(msg string, args ...any)

	mu      sync.Mutex
	checked bool // the callback ran and accepted the key: later failures are past the key exchange
}

// callback builds the HostKeyCallback and the host key algorithms to ask for. Asking for the
// algorithms of the recorded keys is what OpenSSH does; without it a server with an ed25519
// and an RSA key, recorded by its RSA key, would be reported as changed.
func (h *hostKeys) callback(hostport string) (ssh.HostKeyCallback, []string, error) {
	db, err := knownhosts.New(h.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		db = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	case err != nil:
		return nil, nil, fmt.Errorf("%w: read %s: %w", ErrHostKeyUnknown, h.path, err)
	}
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := db(hostname, remote, key)
		var ke *knownhosts.KeyError
		switch {
		case err == nil:
		case errors.As(err, &ke) && len(ke.Want) > 0:
			return h.mismatch(hostname, key, ke.Want)
		case errors.As(err, &ke) && h.trustKey != "" && ssh.FingerprintSHA256(key) == h.trustKey:
			err = h.record(hostname, key)
		case errors.As(err, &ke) && h.trustKey != "":
			return &UnknownKeyError{Host: hostname, Key: describeKey(key), Fingerprint: ssh.FingerprintSHA256(key),
				msg: fmt.Sprintf("%s presented %s, not the key you accepted (%s): the host's key changed since it "+
					"was shown, or another machine answers at its address; nothing was recorded",
					hostname, describeKey(key), h.trustKey)}
		case errors.As(err, &ke) && h.tofu:
			err = h.record(hostname, key)
		case errors.As(err, &ke):
			return &UnknownKeyError{Host: hostname, Key: describeKey(key), Fingerprint: ssh.FingerprintSHA256(key),
				msg: fmt.Sprintf("%s presented %s, which is not in %s. Check the fingerprint with the "+
					"host's owner, then add it (ssh-keyscan -p PORT HOST >> %s) or connect once with "+
					"trust-on-first-use", hostname, describeKey(key), h.path, h.path)}
		default:
			return fmt.Errorf("%w: %s: %w", ErrHostKeyUnknown, hostname, err)
		}
		if err == nil {
			h.mu.Lock()
			h.checked = true
			h.mu.Unlock()
		}
		return err
	}
	return cb, knownAlgorithms(db, hostport), nil
}

// UnknownKeyError is a host key that known_hosts does not hold (errors.Is ErrHostKeyUnknown).
// It carries the key the host presented, so a user can be shown its fingerprint and trust
// exactly that key (SSHConfig.TrustKey).
type UnknownKeyError struct {
	Host        string
	Key         string // "ssh-ed25519 SHA256:…"
	Fingerprint string // "SHA256:…"
	msg         string
}

func (e *UnknownKeyError) Error() string { return ErrHostKeyUnknown.Error() + ": " + e.msg }
func (e *UnknownKeyError) Unwrap() error { return ErrHostKeyUnknown }

func (h *hostKeys) wasChecked() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.checked
}

func (h *hostKeys) mismatch(hostname string, key ssh.PublicKey, want []knownhosts.KnownKey) error {
	old := want[0]
	return fmt.Errorf("%w: %s presented %s, but %s:%d records %s for it. Someone may be intercepting "+
		"the connection, or the host was reinstalled. If you know the host changed, remove the old entry "+
		"(ssh-keygen -R '%s' -f %s) and connect again; meshlab never replaces it by itself",
		ErrHostKeyMismatch, hostname, describeKey(key), old.Filename, old.Line, describeKey(old.Key),
		knownhosts.Normalize(hostname), old.Filename)
}

// record appends the key to the file, hashed like Debian's default HashKnownHosts yes. A lock
// keeps concurrent first connections to many hosts from interleaving lines.
func (h *hostKeys) record(hostname string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	f, err := os.OpenFile(h.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("record host key: lock %s: %w", h.path, err)
	}
	line := knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize(hostname))}, key)
	if _, err := f.WriteString(line + "\n"); err != nil {
		return fmt.Errorf("record host key in %s: %w", h.path, err)
	}
	h.log("trusted a new host key on first use", "host", hostname, "key", describeKey(key), "file", h.path)
	return nil
}

// knownAlgorithms asks the database about a throwaway key: the resulting KeyError lists the
// keys recorded for the host, whose types become the preferred host key algorithms.
func knownAlgorithms(db ssh.HostKeyCallback, hostport string) []string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(db(hostport, probeAddr(hostport), probe), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		types := []string{k.Key.Type()}
		if k.Key.Type() == ssh.KeyAlgoRSA {
			types = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, t := range types {
			if !seen[t] {
				seen[t] = true
				algos = append(algos, t)
			}
		}
	}
	return algos
}

// probeAddr is the remote address knownhosts wants; only its IP matters (entries may be by IP).
func probeAddr(hostport string) net.Addr {
	host, port, _ := net.SplitHostPort(hostport)
	p, _ := strconv.Atoi(port)
	ip := net.ParseIP(host)
	if ip == nil {
		ip = net.IPv4zero
	}
	return &net.TCPAddr{IP: ip, Port: p}
}
