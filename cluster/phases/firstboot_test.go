package phases

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/transport"
)

func TestParseBusy(t *testing.T) {
	b := ParseBusy("cloud-init running\nunit apt-daily.service\nlock /var/lib/dpkg/lock-frontend 812 unattended-upgr\n")
	if b.Idle() || b.CloudInit != "running" || len(b.Units) != 1 || len(b.Locks) != 1 {
		t.Fatalf("busy = %+v", b)
	}
	for _, want := range []string{"cloud-init is still setting the host up", "apt-daily.service running",
		"/var/lib/dpkg/lock-frontend (held by process 812, unattended-upgr)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("%q lacks %q", b, want)
		}
	}
	for _, done := range []string{"cloud-init done\n", "cloud-init disabled\n", "cloud-init error\n", "cloud-init degraded done\n", ""} {
		if b := ParseBusy(done); !b.Idle() {
			t.Errorf("%q: busy %+v, want idle", done, b)
		}
	}
}

// busyHost answers the first-boot probe with each of outs in turn, then with the last.
type busyHost struct {
	*fakeHost
	mu   sync.Mutex
	outs []string
}

func (b *busyHost) Run(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	if c.Command != firstBootScript {
		return b.fakeHost.Run(ctx, c)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.outs[0]
	if len(b.outs) > 1 {
		b.outs = b.outs[1:]
	}
	return transport.Result{Stdout: out}, nil
}

func TestFirstBootWaitsForTheDpkgLock(t *testing.T) {
	held := "lock /var/lib/dpkg/lock-frontend 812 perl\n"
	cp := &busyHost{fakeHost: newFake("cp1"), outs: []string{"cloud-init running\n" + held, held, ""}}
	idle := &busyHost{fakeHost: newFake("worker1"), outs: []string{"cloud-init done\n"}}
	r, log, p := threeHostRun(t, newFake("cp1"), newFake("worker1"), newFake("worker2"))
	r.Hosts[0].Transport, r.Hosts[1].Transport = cp, idle
	r.Hosts = r.Hosts[:2]
	if err := (&FirstBoot{plan: p, poll: time.Millisecond}).Run(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	var waits []string
	done := map[string]bool{}
	for _, e := range log.ev {
		switch {
		case e.Kind == event.Waiting && e.Host == "cp1":
			waits = append(waits, e.Line)
		case e.Kind == event.TaskDone:
			done[e.Host] = true
		case e.Kind == event.TaskStart && e.Host == "worker1":
			t.Error("an idle host reported a task: a re-run must show nothing done")
		}
	}
	if len(waits) != 2 || !strings.Contains(waits[0], "cloud-init is still setting the host up") ||
		!strings.Contains(waits[1], "/var/lib/dpkg/lock-frontend (held by process 812, perl)") || !done["cp1"] || done["worker1"] {
		t.Errorf("waiting events %q, done %v", waits, done)
	}

	// Still busy at the deadline: fails naming the host, the phase and what holds the lock.
	stuck := &busyHost{fakeHost: newFake("cp1"), outs: []string{held}}
	r.Hosts = r.Hosts[:1]
	r.Hosts[0].Transport = stuck
	p.FirstBootTimeout = 1
	err := (&FirstBoot{plan: p, poll: time.Millisecond}).Run(context.Background(), r)
	var te *engine.TaskError
	if !errors.As(err, &te) || te.Host != "cp1" || te.Phase != "first-boot" || !strings.Contains(te.Error(), "held by process 812") || te.Hint == "" {
		t.Errorf("err = %#v", err)
	}
}
