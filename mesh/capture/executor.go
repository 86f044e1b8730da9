package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
)

// Cmd is one command to run: a program, its arguments and what to feed it on stdin.
type Cmd struct {
	Name  string
	Args  []string
	Stdin string
}

func (c Cmd) String() string { return ShellJoin(append([]string{c.Name}, c.Args...)) }

// Executor runs commands. The installer does all its I/O through it, so tests and --dry-run
// swap in a Recorder and walk exactly the code path a real install walks.
type Executor interface {
	Run(ctx context.Context, cmd Cmd) (stdout []byte, err error)
}

// ExecError is a command that ran and failed: it keeps the exit status and the whole stderr.
type ExecError struct {
	Cmd      string
	ExitCode int
	Stderr   string
}

func (e *ExecError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 300 {
		msg = "..." + msg[len(msg)-300:]
	}
	return fmt.Sprintf("%s: exit status %d: %s", e.Cmd, e.ExitCode, msg)
}

// OSExecutor runs commands on this machine, in the caller's network namespace.
type OSExecutor struct{}

var _ Executor = OSExecutor{}

// Run starts the command and waits for it; the context bounds the wait.
func (OSExecutor) Run(ctx context.Context, c Cmd) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	if c.Stdin != "" {
		cmd.Stdin = strings.NewReader(c.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && ctx.Err() == nil {
			return stdout.Bytes(), &ExecError{Cmd: c.String(), ExitCode: exitErr.ExitCode(), Stderr: stderr.String()}
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", c.String(), err)
	}
	return stdout.Bytes(), nil
}

// Recorder is an Executor that runs nothing: it records each command and answers with the
// output registered for the command line (Cmd.String()), or with nothing. Safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	outputs map[string][]byte
	cmds    []Cmd
}

var _ Executor = (*Recorder)(nil)

// Answer makes the recorder return out whenever a command with this command line runs.
func (r *Recorder) Answer(cmdline string, out []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.outputs == nil {
		r.outputs = map[string][]byte{}
	}
	r.outputs[cmdline] = out
}

// Run records the command.
func (r *Recorder) Run(ctx context.Context, c Cmd) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c.Args = append([]string(nil), c.Args...)
	r.cmds = append(r.cmds, c)
	return r.outputs[c.String()], nil
}

// Commands returns what was run, in order.
func (r *Recorder) Commands() []Cmd {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Cmd(nil), r.cmds...)
}

// Transcript renders the recorded commands, each followed by its stdin indented, as the
// golden files show them.
func (r *Recorder) Transcript() string {
	var b strings.Builder
	for _, c := range r.Commands() {
		b.WriteString("$ " + c.String() + "\n")
		for _, line := range strings.SplitAfter(c.Stdin, "\n") {
			if line != "" {
				b.WriteString("  " + line)
			}
		}
	}
	return b.String()
}
