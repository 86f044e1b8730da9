package engine

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
	"github.com/meshlab/meshlab/provision/state"
	"github.com/meshlab/meshlab/provision/transport"
)

// latencyTransport answers every command after a fixed delay, like a remote host whose commands
// take that long: it isolates the engine's own cost (rendering, events, state, fan-out) from
// sshd and the CPU. Every command succeeds (guards say "not done", the flaky task never retries).
type latencyTransport struct {
	delay time.Duration
}

func (l *latencyTransport) Run(ctx context.Context, c transport.Cmd) (transport.Result, error) {
	t := time.NewTimer(l.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return transport.Result{}, ctx.Err()
	case <-t.C:
	}
	if c.Stdout != nil {
		c.Stdout("ok")
	}
	return transport.Result{Duration: l.delay}, nil
}
func (l *latencyTransport) Put(context.Context, io.Reader, transport.Upload) error { return nil }
func (l *latencyTransport) Get(context.Context, string, bool) ([]byte, error)      { return nil, nil }
func (l *latencyTransport) Name() string                                           { return "latency" }
func (l *latencyTransport) Close() error                                           { return nil }

// BenchmarkEngineSample runs the sample playbook's 10 tasks (guards answer "not done") on 1, 20
// and 50 hosts whose every command takes 20 ms, with a real state file and logs. ms/up should stay
// flat while the hosts fit in the concurrency window.
//
//	go test -run '^$' -bench BenchmarkEngineSample ./provision/engine/
func BenchmarkEngineSample(b *testing.B) {
	pb, err := playbook.Load(playbooks.FS, "sample")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ hosts, concurrency int }{{1, 10}, {20, 10}, {20, 20}, {50, 10}, {50, 50}} {
		b.Run(fmt.Sprintf("hosts=%d/concurrency=%d", c.hosts, c.concurrency), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				r := &Run{Action: "up", Lab: "bench", LabData: &inventory.Lab{Name: "bench"}, Concurrency: c.concurrency,
					Vars: map[string]any{"root": dir}}
				r.State, _ = state.Open(dir, "bench")
				r.Logs, _ = state.OpenLogs(dir, nil)
				r.Sink = discard{}
				for h := range c.hosts {
					r.Hosts = append(r.Hosts, &Host{Name: fmt.Sprintf("h%02d", h), Role: "worker",
						Transport: &latencyTransport{delay: 20 * time.Millisecond}})
				}
				start := time.Now()
				if err := Execute(context.Background(), r, UpPhases(pb)); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				r.Logs.Close()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/up")
		})
	}
}
