package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh"
)

// Run runs cmd in a new session on the shared connection.
func (s *SSH) Run(ctx context.Context, cmd Cmd) (Result, error) {
	return runCmd(ctx, s.cfg.Name, s.exec, s.become, cmd)
}

// exec is the SSH execFunc. The remote command is
//
//	exec sh -c 'echo meshlab-pid:$$
//	<line>'
//
// The login shell may be anything (bash, zsh, fish), so it only execs a POSIX sh, which keeps
// its PID. sshd starts each session's shell with setsid(), so that PID is also the process
// group of everything the command starts: what a cancel kills. sudo adds a group of its own,
// announced the same way (see becomer.wrap). The newline makes sh run the echo before it parses
// the command, so even a command with a syntax error cannot hide the marker.
func (s *SSH) exec(ctx context.Context, line string, stdin io.Reader, stdout, stderr io.Writer, asRoot bool) (int, error) {
	client, err := s.conn(ctx)
	if err != nil {
		return -1, err
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		return -1, fmt.Errorf("waiting for a free session (%d in use): %w", cap(s.slots), ctx.Err())
	}
	sess, err := s.newSession(ctx, client)
	if err != nil {
		return -1, err
	}
	defer sess.Close()
	pid := newPIDCatcher(stdout, announcements(line, 1))
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, pid, stderr
	if err := sess.Start("exec " + ShellC("echo "+pidMarker+"$$\n"+line)); err != nil {
		return -1, s.lost("start command", err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		pid.flush()
		return s.exitStatus(err)
	case <-ctx.Done():
	}
	// Stop the remote process for real: a signal through the session (OpenSSH delivers it
	// to the process group), then kill the whole group by PID from a second session, since the
	// signal request is advisory and cannot reach root's processes under sudo.
	sess.Signal(ssh.SIGTERM) //nolint:errcheck // best effort; the kill below is the real stop
	if groups := pid.wait(2 * time.Second); len(groups) > 0 {
		s.killGroups(groups, asRoot)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cfg.Logger.Warn("remote command did not end after kill", "host", s.cfg.Name)
	}
	return -1, ctx.Err()
}

// newSession opens a session, waiting while sshd refuses it. Refusals happen when sshd's
// MaxSessions is reached: sshd frees a session slot only after its side of a closed channel
// is done, a little after our side returned, so the slots semaphore alone cannot prevent it.
func (s *SSH) newSession(ctx context.Context, client *ssh.Client) (*ssh.Session, error) {
	backoff, giveUp := 5*time.Millisecond, time.Now().Add(30*time.Second)
	for {
		sess, err := client.NewSession()
		var refused *ssh.OpenChannelError
		if !errors.As(err, &refused) {
			if err != nil {
				return nil, s.lost("open session", err)
			}
			return sess, nil
		}
		if time.Now().After(giveUp) { // a host whose sshd allows fewer sessions than MaxSessions says
			return nil, fmt.Errorf("%s: open session: sshd kept refusing for 30s (%v): lower MaxSessions for this host", s.cfg.Name, refused)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open session: sshd refused (%v) until: %w", refused, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

func (s *SSH) exitStatus(err error) (int, error) {
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		return exit.ExitStatus(), nil
	default:
		// ExitMissingError or io.EOF: the channel closed without an exit status, which is
		// what a dropped connection or a killed sshd looks like.
		return -1, s.lost("wait for command", err)
	}
}

// killGroups runs killScript on the host, as root when the command ran as root. It uses its
// own session and deadline: the caller's context is already over.
func (s *SSH) killGroups(groups []int, asRoot bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	line, stdin := killScript(groups), io.Reader(nil)
	if asRoot {
		if b, err := s.become.get(ctx, probeWith(s.exec)); err == nil {
			line, stdin = b.wrap(killScript(groups), nil)
		}
	}
	client, err := s.conn(ctx)
	if err != nil {
		return
	}
	sess, err := client.NewSession()
	if err != nil {
		s.cfg.Logger.Warn("cannot open a session to stop a command", "host", s.cfg.Name, "groups", groups, "err", err)
		return
	}
	defer sess.Close()
	sess.Stdin = stdin
	if out, err := sess.CombinedOutput("exec " + ShellC(line)); err != nil {
		s.cfg.Logger.Warn("stopping a remote command failed", "host", s.cfg.Name, "groups", groups, "err", err, "output", string(out))
	}
}
