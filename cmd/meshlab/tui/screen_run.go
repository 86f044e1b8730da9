package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/progress"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/meshlab/meshlab/lab"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
)

// runScreen follows one run of the engine.
type runScreen struct {
	lab        *inventory.Lab
	state      *runState
	queue      *eventQueue
	cancel     context.CancelFunc
	running    bool
	cancelling bool
	// quitWhenDone ends the program once the engine has stopped (the wizard's context ended).
	quitWhenDone bool
	result       lab.Result
	err          error
	selected     int
	scroll       int // log lines scrolled back from the end; 0 follows the log
	summary      bool
	graph        string // the service graph's text, once fetched (Options.Graph)
	graphErr     error
	startedAt    time.Time
	now          time.Time
	bar          progress.Model
}

type runDoneMsg struct {
	result lab.Result
	err    error
}

// graphMsg carries the service graph drawn after a successful run.
type graphMsg struct {
	text string
	err  error
}

// tickMsg refreshes the elapsed time once a second while a run goes on.
type tickMsg time.Time

func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// startRun launches the engine on lab in a command and starts listening to its events.
func (m Model) startRun(lab *inventory.Lab) (tea.Model, tea.Cmd) {
	names := make([]string, len(lab.Hosts))
	for i, h := range lab.Hosts {
		names[i] = h.Name
	}
	ctx, cancel := context.WithCancel(m.opts.Context)
	q := newEventQueue()
	now := m.opts.Now()
	bar := progress.New(progress.WithoutPercentage(), progress.WithFillCharacters('#', '.'))
	m.run = &runScreen{lab: lab, state: newRunState(names), queue: q, cancel: cancel, running: true,
		startedAt: now, now: now, bar: bar}
	m.screen = screenRun
	up := m.opts.Up
	runCmd := func() tea.Msg {
		defer cancel()
		res, err := up(ctx, lab, q)
		return runDoneMsg{result: res, err: err}
	}
	return m, tea.Batch(runCmd, q.wait(), tick())
}

func (m Model) updateRun(msg tea.Msg) (tea.Model, tea.Cmd) {
	r := m.run
	switch msg := msg.(type) {
	case eventsMsg:
		for _, e := range msg {
			r.state.apply(e)
		}
		return m, r.queue.wait()
	case runDoneMsg:
		// Events emitted just before Up returned may still be queued: take them now.
		for _, e := range r.queue.drain() {
			r.state.apply(e)
		}
		r.queue.close()
		r.running, r.result, r.err, r.summary = false, msg.result, msg.err, true
		r.now = m.opts.Now()
		if r.quitWhenDone {
			return m.quit()
		}
		return m, m.fetchGraph()
	case graphMsg:
		r.graph, r.graphErr = msg.text, msg.err
		return m, nil
	case tickMsg:
		if !r.running {
			return m, nil
		}
		r.now = m.opts.Now()
		return m, tick()
	case tea.KeyMsg:
		return m.runKey(msg)
	}
	return m, nil
}

// fetchGraph asks for the service graph when the run succeeded and its summary lists a
// running Prometheus; the work happens in the command, the view only shows the result.
func (m Model) fetchGraph() tea.Cmd {
	r := m.run
	if m.opts.Graph == nil || r.err != nil || !r.state.hasPrometheus() {
		return nil
	}
	f, ctx, lab := m.opts.Graph, m.opts.Context, r.lab
	return func() tea.Msg {
		text, err := f(ctx, lab)
		return graphMsg{text: text, err: err}
	}
}

func (m Model) runKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	r := m.run
	switch {
	case key.Matches(k, m.keys.Cancel):
		if r.running {
			// Cancel and wait: the engine stops the remote commands and saves state, and
			// runDoneMsg arrives once it has. Quitting before that would orphan the work.
			r.cancelling = true
			r.cancel()
			return m, nil
		}
		return m.quit()
	case key.Matches(k, m.keys.Quit):
		if !r.running {
			return m.quit()
		}
	case key.Matches(k, m.keys.Up):
		r.selected, r.scroll = max(0, r.selected-1), 0
	case key.Matches(k, m.keys.Down):
		r.selected, r.scroll = min(len(r.state.hosts)-1, r.selected+1), 0
	case key.Matches(k, m.keys.PageUp):
		r.scroll += max(1, m.paneHeight()-1)
	case key.Matches(k, m.keys.PageDown):
		r.scroll = max(0, r.scroll-max(1, m.paneHeight()-1))
	case key.Matches(k, m.keys.Follow):
		r.scroll = 0
	case key.Matches(k, m.keys.Summary) && !r.running:
		r.summary = !r.summary
	case key.Matches(k, m.keys.Again) && !r.running:
		return m.startRun(r.lab)
	}
	return m, nil
}

func (m Model) runBindings() []key.Binding {
	k := m.keys
	if m.run != nil && m.run.running {
		return []key.Binding{withHelp(k.Up, "↑/↓", "host"), k.PageUp, k.Follow, withHelp(k.Cancel, "ctrl+c", "stop the run")}
	}
	return []key.Binding{withHelp(k.Up, "↑/↓", "host"), k.PageUp, k.Summary, k.Again, k.Quit}
}

// elapsed is the run's wall time so far (or in total once it ended).
func (r *runScreen) elapsed() time.Duration {
	if !r.running && r.state.duration > 0 {
		return r.state.duration
	}
	return r.now.Sub(r.startedAt)
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// statusLine says what the run is doing, or how it ended.
func (m Model) statusLine() string {
	r := m.run
	s := r.state
	el := clock(r.elapsed())
	switch {
	case r.cancelling && r.running:
		return warnStyle.Render("Stopping: cancelling the remote commands and saving state… " + el)
	case r.running:
		return fmt.Sprintf("Running up on lab %s · phase %d/%d %s · %s", r.lab.Name, s.phaseIndex+1, max(1, s.phases), s.phaseTitle, el)
	case r.err == nil:
		return okStyle.Render(fmt.Sprintf("%s lab %s is up · %s", symOK, r.lab.Name, el))
	case r.cancelling:
		return warnStyle.Render(fmt.Sprintf("%s interrupted after %s: state saved; r runs again and continues", symFail, el))
	}
	return failStyle.Render(fmt.Sprintf("%s up failed on lab %s after %s", symFail, r.lab.Name, el))
}

// Layout of the run screen below the frame's header: status, overall bar, blank, table header,
// host rows, pane title, pane.
const runChromeLines = 5

// hostRows is how many host rows fit, leaving the pane at least a third of the screen.
func (m Model) hostRows() int {
	n := len(m.run.state.hosts)
	return max(1, min(n, (m.height-2-runChromeLines)*2/3))
}

func (m Model) paneHeight() int {
	return max(1, m.height-2-runChromeLines-m.hostRows())
}

func (m Model) viewRun() string {
	r := m.run
	s := r.state
	var b strings.Builder
	b.WriteString(m.fit(m.statusLine()) + "\n")
	barW := max(10, min(40, m.width/4))
	bar := r.bar
	bar.Width = barW
	fmt.Fprintf(&b, "Overall  %s %3.0f%%\n\n", bar.ViewAs(s.overall()), 100*s.overall())
	taskW := max(10, m.width-33-barW)
	fmt.Fprintf(&b, "  %-12s %-2s%-10s%-*s %s\n", "HOST", "", "PHASE", taskW, "TASK", "PROGRESS")
	rows := m.hostRows()
	first := min(max(0, r.selected-rows+1), max(0, len(s.hosts)-rows))
	for i := first; i < min(len(s.hosts), first+rows); i++ {
		h := s.hosts[i]
		cur := "  "
		if i == r.selected {
			cur = symCursor + " "
		}
		task := h.task
		if h.state == event.StateOK && h.finished {
			task = fmt.Sprintf("done: %d changed, %d skipped", h.ok, h.skipped)
		}
		line := fmt.Sprintf("%s%-12s %s %-10s%-*s %s %3.0f%%", cur, cut(h.name, 12), m.stateSymbol(h.state), cut(h.phase, 9),
			taskW, cut(task, taskW-1), bar.ViewAs(s.fraction(h)), 100*s.fraction(h))
		b.WriteString(m.fit(line) + "\n")
	}
	var pane []string
	title := ""
	if r.summary {
		title, pane = "summary", wrapLines(m.summaryLines(), m.width)
	} else if len(s.hosts) > 0 {
		h := s.hosts[r.selected]
		title, pane = "log: "+h.name, append(errorLines(h.err), h.log...)
	}
	b.WriteString(m.fit(dimStyle.Render("── "+title+" "+strings.Repeat("─", max(0, m.width-len(title)-4)))) + "\n")
	room := m.paneHeight()
	end := max(0, len(pane)-r.scroll)
	if r.summary {
		end = min(len(pane), room+r.scroll) // the summary reads from the top
	}
	for _, l := range pane[max(0, end-room):end] {
		b.WriteString(m.fit(l) + "\n")
	}
	return b.String()
}

func (m Model) stateSymbol(st event.State) string {
	switch st {
	case event.StateOK:
		return okStyle.Render(symOK)
	case event.StateFailed:
		return failStyle.Render(symFail)
	case event.StateRunning:
		return m.spinner.View()
	}
	return symPending
}

// cut shortens s to n columns with an ellipsis.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:max(0, n)])
	}
	return string(r[:n-1]) + "…"
}
