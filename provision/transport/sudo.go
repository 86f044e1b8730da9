package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// SudoMode says how a transport becomes root for Cmd.Become and Upload.Become.
type SudoMode string

const (
	// SudoAuto: root needs nothing; otherwise passwordless `sudo -n` if it works; otherwise
	// sudo with the configured password; otherwise ErrSudo.
	SudoAuto SudoMode = "auto"
	// SudoNone: never use sudo; Become runs commands as the login user.
	SudoNone SudoMode = "none"
	// SudoAlways: always go through sudo, even as root (-n, or the password when one is set).
	SudoAlways SudoMode = "sudo"
)

// becomeMethod is the resolved way to run as root on one host.
type becomeMethod int

const (
	becomeDirect         becomeMethod = iota // already root, or SudoNone
	becomeSudoNoPassword                     // sudo -n works
	becomeSudoPassword                       // sudo wants the password on stdin
)

// becomer turns a command into one that runs as root.
type becomer struct {
	method   becomeMethod
	password string
}

// wrap returns the shell text running command as root and the stdin to give it. The password
// goes first on stdin, never in argv: `sudo -S` reads one line from stdin as the password, `-p ”`
// silences the prompt, and `-k` ignores cached credentials so sudo always consumes that line
// (a cached timestamp would otherwise leave the password for the command to read).
func (b becomer) wrap(command string, stdin io.Reader) (string, io.Reader) {
	switch b.method {
	case becomeSudoNoPassword:
		return "sudo -n -- " + ShellC(announceGroup+command), stdin
	case becomeSudoPassword:
		line := "sudo -k -S -p '' -- " + ShellC(announceGroup+command)
		pw := strings.NewReader(b.password + "\n")
		if stdin == nil {
			return line, pw
		}
		return line, io.MultiReader(pw, stdin)
	default:
		return command, stdin
	}
}

// announceGroup prints the process group of the shell sudo started (field 5 of
// /proc/$$/stat) before the command runs. sudo runs commands in a session of their own, so
// stopping a command needs this group as well as the caller's.
const announceGroup = "read -r _ _ _ _ g _ </proc/$$/stat && echo " + pidMarker + "$g\n"

// probeFunc runs shell text and returns its exit status,
// stdout and stderr. Transports give it their raw exec.
type probeFunc func(ctx context.Context, line string, stdin io.Reader) (status int, stdout, stderr string, err error)

// becomeState resolves the become method once per transport, lazily: most runs never need
// root, and the probes cost two round trips. Failures of the ErrSudo class are kept too (they
// will not fix themselves); connection errors are not.
type becomeState struct {
	host     string
	user     string
	mode     SudoMode
	password string

	mu       sync.Mutex
	resolved *becomer
	err      error
}

func (b *becomeState) get(ctx context.Context, probe probeFunc) (becomer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.resolved != nil {
		return *b.resolved, nil
	}
	if b.err != nil {
		return becomer{}, b.err
	}
	got, err := b.resolve(ctx, probe)
	if err != nil {
		if errors.Is(err, ErrSudo) {
			b.err = err
		}
		return becomer{}, err
	}
	b.resolved = &got
	return got, nil
}

func (b *becomeState) resolve(ctx context.Context, probe probeFunc) (becomer, error) {
	switch b.mode {
	case SudoNone:
		return becomer{method: becomeDirect}, nil
	case "", SudoAuto:
		status, out, stderr, err := probe(ctx, "id -u", nil)
		if err != nil {
			return becomer{}, fmt.Errorf("%s: detect user id: %w", b.host, err)
		}
		if status != 0 {
			return becomer{}, fmt.Errorf("%w: %s: `id -u` exited %d: %s", ErrSudo, b.host, status, Tail(stderr, 1))
		}
		if strings.TrimSpace(out) == "0" {
			return becomer{method: becomeDirect}, nil
		}
	case SudoAlways:
	default:
		return becomer{}, fmt.Errorf("%w: %s: unknown sudo mode %q (want auto, none or sudo)", ErrSudo, b.host, b.mode)
	}

	status, _, stderr, err := probe(ctx, "sudo -n -- true", nil)
	if err != nil {
		return becomer{}, fmt.Errorf("%s: probe sudo -n: %w", b.host, err)
	}
	if status == 0 {
		return becomer{method: becomeSudoNoPassword}, nil
	}
	if status == 127 {
		return becomer{}, fmt.Errorf("%w: %s: root is needed but sudo is not installed (user %s)", ErrSudo, b.host, b.user)
	}
	if b.password == "" {
		return becomer{}, fmt.Errorf("%w: %s: user %s needs a password for sudo and none was given (%s); "+
			"give a sudo password in the hosts file, or allow passwordless sudo for %s",
			ErrSudo, b.host, b.user, Tail(stderr, 1), b.user)
	}
	withPassword := becomer{method: becomeSudoPassword, password: b.password}
	line, stdin := withPassword.wrap("true", nil)
	status, _, stderr, err = probe(ctx, line, stdin)
	if err != nil {
		return becomer{}, fmt.Errorf("%s: probe sudo with password: %w", b.host, err)
	}
	if status != 0 {
		return becomer{}, fmt.Errorf("%w: %s: sudo refused user %s with the given password: %s",
			ErrSudo, b.host, b.user, Redact(Tail(stderr, 1), b.password))
	}
	return withPassword, nil
}
