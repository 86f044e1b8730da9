package locallab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
)

// runner runs host commands (ip, iptables, runc, debootstrap, mount tools). It is a value, not
// a package-level function, so tests and callers can give it their own logger.
type runner struct {
	log *slog.Logger
}

// CommandError is a host command that failed: the command line, its exit status and stderr.
type CommandError struct {
	Command string
	Exit    int // -1 when it did not start or was killed
	Stderr  string
	Err     error
}

func (e *CommandError) Error() string {
	tail := strings.TrimSpace(e.Stderr)
	if i := strings.LastIndexByte(tail, '\n'); i >= 0 && len(tail) > 400 {
		tail = "..." + tail[i:]
	}
	if tail == "" {
		return fmt.Sprintf("%s: exit %d: %v", e.Command, e.Exit, e.Err)
	}
	return fmt.Sprintf("%s: exit %d: %s", e.Command, e.Exit, tail)
}

func (e *CommandError) Unwrap() error { return e.Err }

// output runs name with args and returns its stdout.
func (r runner) output(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	line := name + " " + strings.Join(args, " ")
	r.logger().Debug("run", "cmd", line)
	if err := cmd.Run(); err != nil {
		ce := &CommandError{Command: line, Exit: -1, Stderr: stderr.String(), Err: err}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ce.Exit = ee.ExitCode()
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			ce.Err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return stdout.Bytes(), ce
	}
	return stdout.Bytes(), nil
}

// run runs name with args and discards stdout.
func (r runner) run(ctx context.Context, name string, args ...string) error {
	_, err := r.output(ctx, name, args...)
	return err
}

// stderrContains reports whether err is a failed command whose stderr mentions one of the
// given phrases. Only used for tools that have no exit code for "already exists / not found"
// (ip, iptables); the phrases are the tools' own, stable messages.
func stderrContains(err error, phrases ...string) bool {
	var ce *CommandError
	if !errors.As(err, &ce) {
		return false
	}
	for _, p := range phrases {
		if strings.Contains(ce.Stderr, p) {
			return true
		}
	}
	return false
}

func (r runner) logger() *slog.Logger {
	if r.log == nil {
		return slog.Default()
	}
	return r.log
}
