package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// execFunc is the one verb both transports implement (the shape rig uses): run shell text
// with sh on the host with raw streams, stop it for real when ctx ends, and return its exit
// status. asRoot tells the transport that stopping the process needs root too.
type execFunc func(ctx context.Context, line string, stdin io.Reader, stdout, stderr io.Writer, asRoot bool) (int, error)

// errCmdTimeout is the cause of a context ended by Cmd.Timeout, telling it apart from the
// caller's own deadline.
var errCmdTimeout = errors.New("command timeout")

// runCmd implements Transport.Run on top of an execFunc: become, timeout, line streaming,
// bounded output, redaction and error classes.
func runCmd(ctx context.Context, host string, exec execFunc, become *becomeState, cmd Cmd) (Result, error) {
	secrets := []string{become.password}
	redact := func(s string) string { return Redact(s, secrets...) }
	shown := redact(cmd.Command)
	if err := checkNUL("command", cmd.Command); err != nil {
		return Result{ExitStatus: -1}, fmt.Errorf("%s: run %q: %w", host, shown, err)
	}
	line, stdin := cmd.Command, cmd.Stdin
	if cmd.Become {
		b, err := become.get(ctx, probeWith(exec))
		if err != nil {
			return Result{ExitStatus: -1}, fmt.Errorf("run %q: %w", shown, err)
		}
		line, stdin = b.wrap(cmd.Command, cmd.Stdin)
	}
	if cmd.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cmd.Timeout, errCmdTimeout)
		defer cancel()
	}
	stdout, stderr := newLineWriter(cmd.Stdout, redact), newLineWriter(cmd.Stderr, redact)
	start := time.Now()
	status, err := exec(ctx, line, stdin, stdout, stderr, cmd.Become)
	stdout.flush()
	stderr.flush()
	res := Result{ExitStatus: status, Stdout: stdout.String(), Stderr: stderr.String(), Duration: time.Since(start)}
	switch {
	case errors.Is(err, ErrConnection):
		// Also when the context ended while reconnecting: the host being unreachable is the news.
		return res, fmt.Errorf("%s: run %q: %w", host, shown, err)
	case err != nil && errors.Is(context.Cause(ctx), errCmdTimeout):
		return res, fmt.Errorf("%w: %s: %q stopped after %s", ErrTimeout, host, shown, cmd.Timeout)
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return res, fmt.Errorf("%w: %s: %q stopped at the deadline after %s: %w",
			ErrTimeout, host, shown, res.Duration.Round(time.Millisecond), ctx.Err())
	case err != nil && ctx.Err() != nil:
		return res, fmt.Errorf("%s: %q stopped: %w", host, shown, ctx.Err())
	case err != nil:
		// exec errors never contain the command's stdin, so the password cannot be in them.
		return res, fmt.Errorf("%s: run %q: %w", host, shown, err)
	case status != 0:
		return res, fmt.Errorf("%s: %w", host, &ExitError{Command: shown, ExitStatus: status, Stderr: res.Stderr})
	}
	return res, nil
}

// probeWith adapts an execFunc for becomeState's probes (short commands, output kept).
func probeWith(exec execFunc) probeFunc {
	return func(ctx context.Context, line string, stdin io.Reader) (int, string, string, error) {
		stdout, stderr := newLineWriter(nil, noRedact), newLineWriter(nil, noRedact)
		status, err := exec(ctx, line, stdin, stdout, stderr, false)
		return status, stdout.String(), stderr.String(), err
	}
}

func noRedact(s string) string { return s }
