package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/transport"
)

// Connect opens a transport to every host (through r.Dial) in parallel. In a dry run it connects
// only when probing: a plain plan touches nothing.
type Connect struct{}

var _ DryRunner = Connect{}

func (Connect) Title() string { return "Connect to hosts" }
func (Connect) Name() string  { return "connect" }

func (Connect) Run(ctx context.Context, r *Run) error {
	if r.Dial == nil {
		return nil // transports were given with the hosts
	}
	return r.ForEachHost(ctx, r.Hosts, func(ctx context.Context, h *Host) error {
		if h.Transport != nil {
			return nil
		}
		start := time.Now()
		r.Emit(event.Event{Kind: event.TaskStart, Host: h.Name, Phase: "connect", Task: "connect", State: event.StateRunning,
			Line: fmt.Sprintf("%s@%s:%d", h.User, h.Address, h.Port)})
		stop := r.reportWaiting(ctx, h, "connect", fmt.Sprintf("SSH connection to %s:%d", h.Address, h.Port))
		t, err := r.Dial(ctx, h)
		stop()
		if err != nil {
			te := r.newTaskError(h, "connect", "connect", fmt.Sprintf("ssh -p %d %s@%s", h.Port, h.User, h.Address), "", transport.Result{}, err)
			r.HostLog(h, "connect to %s:%d failed: %v", h.Address, h.Port, err)
			r.Emit(withDuration(event.Event{Kind: event.TaskFail, Host: h.Name, Phase: "connect", Task: "connect",
				State: event.StateFailed, Error: te.Info()}, start))
			return te
		}
		h.Transport = t
		r.HostLog(h, "connected to %s@%s:%d", h.User, h.Address, h.Port)
		r.Emit(withDuration(event.Event{Kind: event.TaskDone, Host: h.Name, Phase: "connect", Task: "connect", State: event.StateOK}, start))
		return nil
	})
}

// DryRun connects only with --probe, so guards can run read-only.
func (c Connect) DryRun(ctx context.Context, r *Run) error {
	if !r.Probe {
		return nil
	}
	return c.Run(ctx, r)
}
