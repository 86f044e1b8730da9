package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

// Local is a Transport for the operator's own machine, with the same semantics as SSH: commands
// through `sh -c`, become through sudo, process-group kill on timeout, atomic uploads.
type Local struct {
	name   string
	become *becomeState
}

var _ Transport = (*Local)(nil)

// NewLocal returns a transport for this machine; name is used in messages and events.
func NewLocal(name string, sudo SudoMode, sudoPassword string) *Local {
	if sudo == "" {
		sudo = SudoAuto
	}
	return &Local{name: name, become: &becomeState{host: name, user: os.Getenv("USER"), mode: sudo, password: sudoPassword}}
}

// Name is the host's name.
func (l *Local) Name() string { return l.name }

// Close does nothing: there is no connection.
func (l *Local) Close() error { return nil }

// Run runs cmd with /bin/sh in its own process group.
func (l *Local) Run(ctx context.Context, cmd Cmd) (Result, error) {
	return runCmd(ctx, l.name, l.exec, l.become, cmd)
}

func (l *Local) exec(ctx context.Context, line string, stdin io.Reader, stdout, stderr io.Writer, asRoot bool) (int, error) {
	c := exec.Command("/bin/sh", "-c", line)
	// Its own process group, so a stop reaches everything the command started.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pid := newPIDCatcher(stdout, announcements(line, 0)) // sudo announces its command's group on stdout
	c.Stdin, c.Stdout, c.Stderr = stdin, pid, stderr
	// A grandchild that outlives the kill could hold the output pipes open forever.
	c.WaitDelay = 5 * time.Second
	if err := c.Start(); err != nil {
		return -1, fmt.Errorf("start /bin/sh: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		pid.flush()
		return exitCode(err)
	case <-ctx.Done():
	}
	l.killGroups(append([]int{c.Process.Pid}, pid.wait(0)...), asRoot)
	<-done // bounded by WaitDelay
	return -1, ctx.Err()
}

func exitCode(err error) (int, error) {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil // the shell convention, as sshd reports it
		}
		return exit.ExitCode(), nil
	default:
		return -1, err
	}
}

// killGroups stops process groups: TERM, up to 3 s to exit, then KILL. A group that runs as
// root under sudo cannot be signalled by an ordinary user, so then the kill goes through sudo.
func (l *Local) killGroups(groups []int, asRoot bool) {
	if asRoot && os.Geteuid() != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if b, err := l.become.get(ctx, probeWith(l.exec)); err == nil {
			line, stdin := b.wrap(killScript(groups), nil)
			if _, err := l.exec(ctx, line, stdin, io.Discard, io.Discard, false); err == nil {
				return
			}
		}
	}
	groups = slices.DeleteFunc(groups, func(g int) bool { return !validGroup(g) })
	alive := func() bool {
		for _, g := range groups {
			if syscall.Kill(-g, 0) == nil {
				return true
			}
		}
		return false
	}
	for _, g := range groups {
		syscall.Kill(-g, syscall.SIGTERM) //nolint:errcheck // may be gone already
	}
	for i := 0; i < 30 && alive(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	for _, g := range groups {
		if syscall.Kill(-g, syscall.SIGKILL) == nil {
			slog.Debug("killed process group after TERM grace", "pgid", g)
		}
	}
}

// Put writes the file beside its target and renames it into place; with Become and a non-root
// user, it is staged in the temp directory and moved with sudo install.
func (l *Local) Put(ctx context.Context, r io.Reader, u Upload) error {
	if err := checkUpload(u); err != nil {
		return fmt.Errorf("%s: put: %w", l.name, err)
	}
	if u.Become {
		b, err := l.become.get(ctx, probeWith(l.exec))
		if err != nil {
			return fmt.Errorf("put %s: %w", u.Path, err)
		}
		if b.method != becomeDirect {
			return l.putViaSudo(ctx, r, u)
		}
	}
	stage := stagePath(u.Path)
	err := writeNew(ctx, stage, r, fileMode(u.Mode))
	if err == nil && u.Owner != "" {
		_, err = l.Run(ctx, Cmd{Command: "chown -- " + Quote(u.Owner) + " " + Quote(stage)})
	}
	if err == nil {
		err = os.Rename(stage, u.Path)
	}
	if err != nil {
		os.Remove(stage)
		return fmt.Errorf("%s: put %s: %w", l.name, u.Path, err)
	}
	return nil
}

func (l *Local) putViaSudo(ctx context.Context, r io.Reader, u Upload) error {
	f, err := os.CreateTemp("", ".meshlab-upload-*")
	if err != nil {
		return fmt.Errorf("%s: put %s: %w", l.name, u.Path, err)
	}
	staged := f.Name()
	f.Close()
	defer os.Remove(staged)
	os.Remove(staged) // writeNew creates it exclusively
	if err := writeNew(ctx, staged, r, 0o600); err != nil {
		return fmt.Errorf("%s: put %s: stage: %w", l.name, u.Path, err)
	}
	if _, err := l.Run(ctx, Cmd{Command: installScript(staged, u.Path, u.Mode, u.Owner), Become: true}); err != nil {
		return fmt.Errorf("put %s: move into place as root: %w", u.Path, err)
	}
	return nil
}

func writeNew(ctx context.Context, p string, r io.Reader, mode os.FileMode) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}

// Get reads a file, with sudo cat when become is set and the user is not root.
func (l *Local) Get(ctx context.Context, p string, become bool) ([]byte, error) {
	if err := checkNUL("path", p); err != nil {
		return nil, fmt.Errorf("%s: get: %w", l.name, err)
	}
	if become {
		b, err := l.become.get(ctx, probeWith(l.exec))
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", p, err)
		}
		if b.method != becomeDirect {
			var out, errOut bytes.Buffer
			line, stdin := b.wrap("cat -- "+Quote(p), nil)
			status, err := l.exec(ctx, line, stdin, &out, &errOut, true)
			if err == nil && status != 0 {
				err = &ExitError{Command: "sudo cat -- " + Quote(p), ExitStatus: status, Stderr: Redact(errOut.String(), b.password)}
			}
			if err != nil {
				return nil, fmt.Errorf("%s: get %s: %w", l.name, p, err)
			}
			return out.Bytes(), nil
		}
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%s: get: %w", l.name, err)
	}
	return data, nil
}

// DialContext connects from this machine, which is the host.
func (l *Local) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
