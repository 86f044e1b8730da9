package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/transport"
)

// shellTransport runs commands with the local /bin/sh: a fake connection with a real shell, for
// unit tests that need no sshd. Become is ignored (tests run as the current user).
type shellTransport struct {
	name   string
	mu     sync.Mutex
	ran    []string
	closed bool
}

var _ transport.Transport = (*shellTransport)(nil)

func (s *shellTransport) Run(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	s.mu.Lock()
	s.ran = append(s.ran, c.Command)
	s.mu.Unlock()
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.Command)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := transport.Result{Stdout: out.String(), Stderr: errb.String(), Duration: time.Since(start)}
	for _, l := range lines(res.Stdout) {
		if c.Stdout != nil {
			c.Stdout(l)
		}
	}
	for _, l := range lines(res.Stderr) {
		if c.Stderr != nil {
			c.Stderr(l)
		}
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("run on %s: %w", s.name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitStatus = ee.ExitCode()
		return res, &transport.ExitError{Command: c.Command, ExitStatus: ee.ExitCode(), Stderr: res.Stderr}
	}
	return res, err
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

func (s *shellTransport) Put(context.Context, io.Reader, transport.Upload) error { return nil }
func (s *shellTransport) Get(context.Context, string, bool) ([]byte, error)      { return nil, nil }
func (s *shellTransport) Name() string                                           { return s.name }
func (s *shellTransport) Close() error                                           { s.closed = true; return nil }

// recorder is a Sink that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Emit(e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) of(kind event.Kind) []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event.Event
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// fakePhase records the lifecycle calls made on it.
type fakePhase struct {
	title string
	calls *[]string
	run   func() error
	skip  bool
}

func (p *fakePhase) Title() string { return p.title }
func (p *fakePhase) Run(context.Context, *Run) error {
	*p.calls = append(*p.calls, "run "+p.title)
	if p.run != nil {
		return p.run()
	}
	return nil
}
func (p *fakePhase) Prepare(context.Context, *Run) error {
	*p.calls = append(*p.calls, "prepare "+p.title)
	return nil
}
func (p *fakePhase) ShouldRun(*Run) bool { return !p.skip }
func (p *fakePhase) CleanUp(context.Context, *Run) {
	*p.calls = append(*p.calls, "cleanup "+p.title)
}

func newTestRun(t *testing.T, n int) (*Run, *recorder) {
	t.Helper()
	rec := &recorder{}
	r := &Run{Action: "up", Lab: "test", Sink: rec, LabData: &inventory.Lab{Name: "test"}}
	for i := range n {
		name := fmt.Sprintf("h%02d", i)
		role := "worker"
		if i == 0 {
			role = "control-plane"
		}
		r.Hosts = append(r.Hosts, &Host{Name: name, Role: role, Address: "127.0.0.1", Port: 22, User: "root",
			Transport: &shellTransport{name: name}})
	}
	return r, rec
}

type discard struct{}

func (discard) Emit(event.Event) {}
