package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/meshlab/meshlab/cmd/meshlab/tui/draft"
	"github.com/meshlab/meshlab/cmd/meshlab/tui/labrun"
	"github.com/meshlab/meshlab/lab"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/transport"
)

// fakeClock is a settable clock, so elapsed times in goldens are fixed.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

var t0 = time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)

// goldenDraft is a lab that validates without touching the disk (agent and password auth).
func goldenDraft() draft.Draft {
	d := draft.New("demo")
	d.Hosts = []draft.Host{
		{Name: "cp1", Address: "192.168.56.10", Port: 22, User: "vagrant", Auth: draft.AuthAgent, Role: inventory.RoleControlPlane},
		{Name: "worker1", Address: "192.168.56.11", Port: 22, User: "vagrant", Auth: draft.AuthAgent, Role: inventory.RoleWorker},
		{Name: "worker2", Address: "192.168.56.12", Port: 2222, User: "ops", Auth: draft.AuthPassword, PasswordRef: "env:LAB_PW", Role: inventory.RoleWorker},
	}
	return d
}

// goldenModel is the wizard on a fixed lab and clock, sized w×h. Commands are not run: each
// test feeds the messages they would return.
func goldenModel(t *testing.T, clk *fakeClock, w, h int) Model {
	t.Helper()
	m := New(Options{HostsPath: "/lab/hosts.yaml", Now: clk.now, Next: NextFlags{
		Up: []string{"--playbook", "kubernetes", "--bundle", "/srv/bundle"}, Down: []string{"--playbook", "kubernetes"}, Verify: []string{"--offline"}}})
	m.path, m.draft = "/lab/hosts.yaml", goldenDraft()
	return step(m, tea.WindowSizeMsg{Width: w, Height: h})
}

func step(m Model, msgs ...tea.Msg) Model {
	for _, msg := range msgs {
		next, _ := m.Update(msg)
		m = next.(Model)
	}
	return m
}

func keyMsg(k tea.KeyType) tea.KeyMsg { return tea.KeyMsg{Type: k} }

func validLab(t *testing.T, m Model) *inventory.Lab {
	t.Helper()
	_, l, err := m.draft.Validate(m.path)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// runEvents is the start of a run on the golden lab: worker2 fails its facts task.
func runEvents(clk *fakeClock) []event.Event {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	evs := []event.Event{
		{Time: at(0), Kind: event.LabStart, Line: "up", Total: 3},
		{Time: at(0), Kind: event.PhaseStart, Phase: "connect", Line: "Connect to hosts", Done: 0, Total: 4},
	}
	for _, h := range []string{"cp1", "worker1", "worker2"} {
		evs = append(evs,
			event.Event{Kind: event.TaskStart, Host: h, Phase: "connect", Task: "connect"},
			event.Event{Kind: event.TaskDone, Host: h, Phase: "connect", Task: "connect", Duration: 150 * time.Millisecond})
	}
	evs = append(evs,
		event.Event{Kind: event.PhaseStart, Phase: "facts", Line: "Gather facts", Done: 1, Total: 4},
		event.Event{Kind: event.TaskStart, Host: "cp1", Phase: "facts", Task: "Report the system"},
		event.Event{Kind: event.Output, Host: "cp1", Phase: "facts", Task: "Report the system", Stream: "stdout", Line: "Linux 6.8.0-45-generic"},
		event.Event{Kind: event.TaskDone, Host: "cp1", Phase: "facts", Task: "Report the system", Duration: 420 * time.Millisecond},
		event.Event{Kind: event.Progress, Host: "cp1", Phase: "facts", Done: 1, Total: 2},
		event.Event{Kind: event.TaskStart, Host: "cp1", Phase: "facts", Task: "Create the scratch directory"},
		event.Event{Kind: event.TaskStart, Host: "worker1", Phase: "facts", Task: "Report the system"},
		event.Event{Kind: event.TaskStart, Host: "worker2", Phase: "facts", Task: "Report the system"},
		event.Event{Kind: event.TaskRetry, Host: "worker2", Phase: "facts", Task: "Report the system", Line: "attempt 1 of 2 failed: exit 1; again in 100ms"},
		event.Event{Kind: event.TaskFail, Host: "worker2", Phase: "facts", Task: "Report the system", State: event.StateFailed,
			Error: &event.ErrorInfo{Message: "command exited with status 127", Host: "worker2", Phase: "facts", Task: "Report the system",
				Command: "uname -sr\nid -un", Exit: 127, Stderr: []string{"sh: 1: uname: not found"},
				LogPath: "/root/.meshlab/labs/demo/logs/worker2.log", Hint: "fix the failure above and re-run: finished tasks are skipped"}},
	)
	clk.t = t0.Add(42 * time.Second)
	return evs
}

// goldenGraph is what addons/graph.Text draws for Bookinfo behind the gateway.
const goldenGraph = `service graph · last 1m at 10:30:00 UTC · 6 workloads · 5 calls
meshlab-ingressgateway.meshlab-system
└─▶ productpage-v1.bookinfo         1.00 rps  err 0%  p99 24ms
    ├─▶ details-v1.bookinfo         1.00 rps  err 0%  p99 4.8ms
    ├─▶ reviews-v1.bookinfo         0.50 rps  err 0%  p99 9.5ms
    └─▶ reviews-v2.bookinfo         0.50 rps  err 0%  p99 22ms
        └─▶ ratings-v1.bookinfo     0.50 rps  err 0%  p99 4.9ms
`

// doneRun is a finished run on the golden lab whose summary phase emitted links.
func doneRun(t *testing.T, m Model, clk *fakeClock, links []string) Model {
	clk.t = t0
	next, _ := m.startRun(validLab(t, m))
	m = next.(Model)
	q := m.run.queue
	q.Emit(event.Event{Kind: event.PhaseStart, Phase: "checks", Line: "Run checks", Done: 3, Total: 4})
	q.Emit(event.Event{Kind: event.TaskSkip, Host: "cp1", Task: "Report the system", Line: "already done (recorded)"})
	q.Emit(event.Event{Kind: event.TaskDone, Host: "worker1", Task: "Check root access"})
	for _, l := range links {
		q.Emit(event.Event{Kind: event.Log, Phase: summaryPhase, Line: l})
	}
	q.Emit(event.Event{Kind: event.LabDone, State: event.StateOK, Duration: 95 * time.Second})
	return step(m, runDoneMsg{result: lab.Result{Dir: "/root/.meshlab/labs/demo", Kubeconfig: "/root/.meshlab/labs/demo/kubeconfig"}})
}

// TestGoldenViews renders every screen at 80×24 and 120×40 (ASCII colour profile, see
// TestMain). Refresh with: go test ./cmd/meshlab/tui -run TestGoldenViews -update
func TestGoldenViews(t *testing.T) {
	screens := []struct {
		name  string
		build func(t *testing.T, m Model, clk *fakeClock) Model
	}{
		{"start", func(t *testing.T, m Model, _ *fakeClock) Model { m.screen = screenStart; return m }},
		{"hosts", func(t *testing.T, m Model, _ *fakeClock) Model { m.screen = screenHosts; return m }},
		{"form", func(t *testing.T, m Model, _ *fakeClock) Model {
			next, _ := m.openForm(2)
			m = next.(Model)
			return step(m, keyMsg(tea.KeyTab), keyMsg(tea.KeyTab), keyMsg(tea.KeyBackspace), keyMsg(tea.KeyBackspace),
				keyMsg(tea.KeyBackspace), keyMsg(tea.KeyBackspace), tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("70000")}, keyMsg(tea.KeyEnter))
		}},
		{"connect", func(t *testing.T, m Model, _ *fakeClock) Model {
			next, _ := m.openProbe()
			m = next.(Model)
			gen := m.probe.gen
			return step(m,
				probeMsg{gen, labrun.ProbeResult{Host: "cp1", Root: "root through sudo"}},
				probeMsg{gen, labrun.ProbeResult{Host: "worker1", Reason: labrun.ReasonHostKeyUnknown,
					Err: fmt.Errorf("worker1: %w: 192.168.56.11:22 is not in /root/.ssh/known_hosts (ED25519 SHA256:q2mPNv1Lh3kc3bGx7b3hZp0)", transport.ErrHostKeyUnknown)}},
				keyMsg(tea.KeyDown))
		}},
		{"components", func(t *testing.T, m Model, _ *fakeClock) Model {
			m.screen, m.comps = screenComponents, newComponentsScreen(m.draft)
			return step(m, keyMsg(tea.KeyDown), keyMsg(tea.KeyDown), keyMsg(tea.KeyDown), keyMsg(tea.KeySpace))
		}},
		{"review", func(t *testing.T, m Model, _ *fakeClock) Model {
			next, _ := m.openReview()
			return next.(Model)
		}},
		{"run", func(t *testing.T, m Model, clk *fakeClock) Model {
			clk.t = t0
			next, _ := m.startRun(validLab(t, m))
			m = next.(Model)
			return step(m, eventsMsg(runEvents(clk)), tickMsg(clk.t), keyMsg(tea.KeyDown), keyMsg(tea.KeyDown))
		}},
		{"failed", func(t *testing.T, m Model, clk *fakeClock) Model {
			clk.t = t0
			next, _ := m.startRun(validLab(t, m))
			m = next.(Model)
			m = step(m, eventsMsg(runEvents(clk)))
			m.run.queue.Emit(event.Event{Kind: event.LabDone, State: event.StateFailed, Duration: 61 * time.Second,
				Error: &event.ErrorInfo{Message: `phase "facts" failed on 1 host(s)`, Phase: "facts", LogPath: "/root/.meshlab/labs/demo/logs/worker2.log"}})
			return step(m, runDoneMsg{result: lab.Result{Dir: "/root/.meshlab/labs/demo"}, err: errors.New(`phase "facts" failed`)})
		}},
		{"done", func(t *testing.T, m Model, clk *fakeClock) Model {
			// A stack run: its summary phase lists the lab's URLs (lab/stack's format).
			return doneRun(t, m, clk, []string{
				"productpage          http://192.168.56.10:30080/productpage",
				"tracing (zipkin)     http://192.168.56.10:30001",
				"prometheus           http://192.168.56.10:30003",
				"grafana              — not in the offline bundle",
				"kubeconfig           /root/.meshlab/labs/demo/kubeconfig",
			})
		}},
		{"done-graph", func(t *testing.T, m Model, clk *fakeClock) Model {
			// The lab is up with Prometheus: the summary shows the service graph (the text of
			// addons/graph, which Options.Graph returns) and one line for the dashboards.
			m.opts.Graph = func(context.Context, *inventory.Lab) (string, error) { return goldenGraph, nil }
			m = doneRun(t, m, clk, []string{
				"productpage          http://192.168.56.10:30080/productpage",
				"tracing (jaeger)     http://192.168.56.10:30001",
				"prometheus           http://192.168.56.10:30003",
				"dashboard: meshlab Mesh Overview http://192.168.56.10:30003/query?g0.expr=sum%28rate%28istio_requests_total%5B1m%5D%29%29&g0.tab=graph&g0.range_input=1h",
				"kubeconfig           /root/.meshlab/labs/demo/kubeconfig",
			})
			fetch := m.fetchGraph()
			if fetch == nil {
				t.Fatal("a run that installed Prometheus asks for no graph")
			}
			return step(m, fetch())
		}},
		{"done-cluster-only", func(t *testing.T, m Model, clk *fakeClock) Model {
			return doneRun(t, m, clk, nil) // no stack phases: no URLs, and the summary says so
		}},
	}
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		for _, s := range screens {
			t.Run(fmt.Sprintf("%s-%dx%d", s.name, size[0], size[1]), func(t *testing.T) {
				clk := &fakeClock{t: t0}
				m := s.build(t, goldenModel(t, clk, size[0], size[1]), clk)
				view := m.View()
				lines := strings.Split(view, "\n")
				if len(lines) != size[1] {
					t.Errorf("%d lines, want the terminal's %d", len(lines), size[1])
				}
				for i, l := range lines {
					if w := lipgloss.Width(l); w > size[0] {
						t.Errorf("line %d is %d columns wide, more than %d: %q", i+1, w, size[0], l)
					}
				}
				golden.RequireEqual(t, []byte(view))
			})
		}
	}
}

// TestLongPathsShowTheirEnd: a hosts file or key path longer than its field scrolls inside the
// field and shows its end (the file name), on the start screen and in the host form, and the
// screen stays within the terminal's width.
func TestLongPathsShowTheirEnd(t *testing.T) {
	long := "/var/tmp/meshlab-fresh.QnwFcm/tmp/TestWizardOnLocalLab3113141592/002/some/more/folders/lab.yaml"
	m := New(Options{HostsPath: long})
	m = step(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m.screen = screenStart
	view := m.View()
	if !strings.Contains(view, "folders/lab.yaml") {
		t.Errorf("the start screen does not show the path's end:\n%s", view)
	}
	m.draft = goldenDraft()
	m.draft.Hosts[0].Auth, m.draft.Hosts[0].KeyPath = draft.AuthKey, long
	next, _ := m.openForm(0)
	m = next.(Model)
	view = m.View()
	if !strings.Contains(view, "folders/lab.yaml") {
		t.Errorf("the host form does not show the key path's end:\n%s", view)
	}
	for _, l := range strings.Split(view, "\n") {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("a line of %d columns on an 80-column terminal: %q", w, l)
		}
	}
}
