package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// SSH is a Transport over one SSH connection per host. Every command is a session multiplexed
// on that connection; a lost connection is redialled on the next use.
type SSH struct {
	cfg     SSHConfig
	become  *becomeState
	bastion *SSH
	// connLock (capacity 1) serialises (re)connecting; a channel so waiters honour ctx.
	connLock chan struct{}
	// slots bounds concurrent command sessions below sshd's MaxSessions, keeping two channels
	// free: one for SFTP and one for stopping a command (which must work when all slots are busy).
	slots chan struct{}

	mu     sync.Mutex
	client *ssh.Client
	dead   chan struct{} // closed when client's connection ends
	why    error         // why it ended (keepalive), if we know better than "EOF"
	sftp   *sftp.Client
	closed bool
}

var _ Transport = (*SSH)(nil)

// DialSSH connects and logs in, retrying with backoff until ctx ends (DefaultConnectRetry if
// ctx has no deadline). A changed or unknown host key stops at once; refused authentication
// is retried at most three times (sshd may answer before authorized_keys is written).
func DialSSH(ctx context.Context, cfg SSHConfig) (*SSH, error) {
	cfg = cfg.withDefaults()
	s := &SSH{
		cfg:      cfg,
		become:   &becomeState{host: cfg.Name, user: cfg.User, mode: cfg.Sudo, password: cfg.SudoPassword},
		connLock: make(chan struct{}, 1),
		slots:    make(chan struct{}, max(1, cfg.MaxSessions-2)),
	}
	if _, err := s.conn(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Name is the host's name.
func (s *SSH) Name() string { return s.cfg.Name }

// Close closes the connection (and the bastion's).
func (s *SSH) Close() error {
	s.mu.Lock()
	s.closed = true
	client, sf := s.client, s.sftp
	s.client, s.sftp = nil, nil
	s.mu.Unlock()
	var errs []error
	if sf != nil {
		errs = append(errs, sf.Close())
	}
	if client != nil {
		if err := client.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if s.bastion != nil {
		errs = append(errs, s.bastion.Close())
	}
	return errors.Join(errs...)
}

// conn returns the live client, dialling (with retries) if there is none or it died.
func (s *SSH) conn(ctx context.Context) (*ssh.Client, error) {
	select {
	case s.connLock <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %s: waiting for the connection: %w", ErrConnection, s.cfg.Name, ctx.Err())
	}
	defer func() { <-s.connLock }()
	s.mu.Lock()
	client, dead, closed := s.client, s.dead, s.closed
	s.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%w: %s: transport closed", ErrConnection, s.cfg.Name)
	}
	if client != nil && !isClosed(dead) {
		return client, nil
	}
	client, err := s.connectWithRetry(ctx)
	if err != nil {
		return nil, err
	}
	dead = make(chan struct{})
	s.mu.Lock()
	s.client, s.dead, s.why, s.sftp = client, dead, nil, nil
	s.mu.Unlock()
	go func() { client.Wait(); close(dead) }() //nolint:errcheck // the reason comes from the sessions
	if s.cfg.KeepAlive > 0 {
		go s.keepAlive(client, dead)
	}
	return client, nil
}

func (s *SSH) connectWithRetry(ctx context.Context) (*ssh.Client, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultConnectRetry)
		defer cancel()
	}
	backoff, authFailures := 250*time.Millisecond, 0
	for attempt := 1; ; attempt++ {
		client, err := s.dialOnce(ctx)
		if err == nil {
			return client, nil
		}
		if errors.Is(err, ErrAuth) {
			authFailures++
		}
		if !IsRetryable(err) || authFailures >= 3 {
			return nil, err
		}
		s.cfg.Logger.Debug("ssh connect failed, retrying", "host", s.cfg.Name, "attempt", attempt, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up after %d attempts: %v)", err, attempt, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// dialOnce makes one TCP (or bastion tunnel) connection and SSH handshake. Errors are
// "class: host: stage: cause".
func (s *SSH) dialOnce(ctx context.Context) (*ssh.Client, error) {
	addr := s.cfg.addr()
	hk := &hostKeys{path: s.cfg.KnownHostsPath, tofu: s.cfg.TrustOnFirstUse, trustKey: s.cfg.TrustKey, log: s.cfg.Logger.Warn}
	hostKeyCallback, algos, err := hk.callback(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.cfg.Name, err)
	}
	auth := newAuthPlan(s.cfg)
	defer auth.closer()

	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	conn, err := s.dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	// The handshake has no context of its own: closing the connection is how it is stopped.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:              s.cfg.User,
		Auth:              auth.methods,
		HostKeyCallback:   hostKeyCallback,
		HostKeyAlgorithms: algos,
	})
	if !stop() && err != nil {
		return nil, fmt.Errorf("%w: %s: ssh handshake with %s: %w", ErrConnection, s.cfg.Name, addr, context.Cause(ctx))
	}
	switch {
	case err == nil:
		return ssh.NewClient(c, chans, reqs), nil
	case errors.Is(err, ErrHostKeyMismatch), errors.Is(err, ErrHostKeyUnknown):
		return nil, fmt.Errorf("%s: %w", s.cfg.Name, err)
	// x/crypto/ssh reports refused authentication only as text; after a host key was accepted
	// this message is the one sign of it.
	case hk.wasChecked() && strings.Contains(err.Error(), "unable to authenticate"):
		return nil, fmt.Errorf("%s: %w", s.cfg.Name, auth.failure(s.cfg.target(), err))
	default:
		return nil, fmt.Errorf("%w: %s: ssh handshake with %s: %w", ErrConnection, s.cfg.Name, addr, err)
	}
}

func (s *SSH) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	if s.cfg.Bastion == nil {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: dial %s: %w", ErrConnection, s.cfg.Name, addr, err)
		}
		return conn, nil
	}
	if s.bastion == nil {
		b, err := DialSSH(ctx, *s.cfg.Bastion)
		if err != nil {
			return nil, fmt.Errorf("%s: via bastion: %w", s.cfg.Name, err)
		}
		s.bastion = b
	}
	bc, err := s.bastion.conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: via bastion: %w", s.cfg.Name, err)
	}
	// A direct-tcpip channel: the bastion's sshd opens the TCP connection to the target.
	conn, err := bc.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: dial %s through bastion %s: %w", ErrConnection, s.cfg.Name, addr, s.bastion.Name(), err)
	}
	return conn, nil
}

// keepAlive sends keepalive@openssh.com every interval and closes the connection after
// KeepAliveMisses intervals without an answer, which fails every session on it promptly
// instead of letting commands hang on a host that vanished without closing TCP.
func (s *SSH) keepAlive(client *ssh.Client, dead chan struct{}) {
	tick := time.NewTicker(s.cfg.KeepAlive)
	defer tick.Stop()
	replies := make(chan error, 1)
	waiting, misses := false, 0
	for {
		select {
		case <-dead:
			return
		case <-replies:
			waiting, misses = false, 0
		case <-tick.C:
			if waiting {
				misses++
				if misses >= s.cfg.KeepAliveMisses {
					s.mu.Lock()
					s.why = fmt.Errorf("no answer to %d keepalives in %s", misses, time.Duration(misses)*s.cfg.KeepAlive)
					s.mu.Unlock()
					s.cfg.Logger.Warn("ssh connection dead", "host", s.cfg.Name, "misses", misses)
					client.Close()
					return
				}
				continue
			}
			waiting = true
			go func() {
				_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
				select {
				case replies <- err:
				case <-dead:
				}
			}()
		}
	}
}

// lost wraps a session error as ErrConnection with the best known reason.
func (s *SSH) lost(stage string, err error) error {
	s.mu.Lock()
	why := s.why
	s.mu.Unlock()
	if why != nil {
		return fmt.Errorf("%w: %s: %s: connection lost: %v (%w)", ErrConnection, s.cfg.Name, stage, why, err)
	}
	return fmt.Errorf("%w: %s: %s: connection lost: %w", ErrConnection, s.cfg.Name, stage, err)
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// DialContext opens a TCP connection from the host to addr through the SSH connection: sshd
// connects (a direct-tcpip channel), so addr is what the host reaches, not what this machine
// reaches. The host's sshd must allow it (AllowTcpForwarding, on by default).
func (s *SSH) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	client, err := s.conn(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := client.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("%s: connect to %s through the SSH connection (sshd must allow TCP forwarding: AllowTcpForwarding yes): %w",
			s.cfg.Name, addr, err)
	}
	return conn, nil
}
