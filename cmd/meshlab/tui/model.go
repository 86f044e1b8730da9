// Package tui is meshlab's wizard: a bubbletea view that writes a hosts file with the user
// (load or create, hosts, connectivity, versions and components, review, save) and then shows a
// run of the same engine `meshlab up` drives. It holds no provisioning logic: connectivity
// checks and runs are the functions in Options (labrun's by default), called from tea.Cmds.
package tui

import (
	"context"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/meshlab/meshlab/cmd/meshlab/tui/draft"
	"github.com/meshlab/meshlab/cmd/meshlab/tui/labrun"
	"github.com/meshlab/meshlab/lab"
	"github.com/meshlab/meshlab/provision/event"
	"github.com/meshlab/meshlab/provision/inventory"
)

// ProbeFunc checks one host of lab; trustKey ("" none) is the fingerprint of an unknown host key
// the user accepted: only a key with that fingerprint is recorded.
type ProbeFunc func(ctx context.Context, lab *inventory.Lab, host, trustKey string) labrun.ProbeResult

// UpFunc runs the up action on lab, sending every event to sink, and returns once the engine
// has stopped (also after ctx was cancelled).
type UpFunc func(ctx context.Context, lab *inventory.Lab, sink event.Sink) (lab.Result, error)

// GraphFunc renders the lab's service graph as text (meshlab mesh graph's view); the summary
// shows it once a run has brought the lab up.
type GraphFunc func(ctx context.Context, lab *inventory.Lab) (string, error)

// Options configure the wizard.
type Options struct {
	// HostsPath is offered on the first screen ("hosts.yaml" when empty).
	HostsPath string
	// Context bounds every check and run; Ctrl+C during a run cancels a child of it.
	Context context.Context
	// Probe and Up do the work. Nil means labrun.Probe and lab.Up with lab.DefaultOptions and
	// the options below (the wizard command passes an Up made from its flags).
	Probe ProbeFunc
	Up    UpFunc
	// Graph, when set, draws the service graph into the summary of a run that installed
	// Prometheus.
	Graph GraphFunc
	// KnownHostsPath, LogDir and Playbook are `meshlab up`'s --known-hosts, --log-dir and
	// --playbook, used by the default Probe and Up.
	KnownHostsPath string
	LogDir         string
	Playbook       string
	// Now is the clock for elapsed times (tests pin it).
	Now func() time.Time
	// Next holds the flags of the commands the end-of-run summary suggests, so that they act
	// on this lab the way the wizard's run did (playbook, bundle, state folder).
	Next NextFlags
}

// NextFlags are the flags after `meshlab up --hosts FILE`, `meshlab down --hosts FILE` and
// `meshlab verify bookinfo --kubeconfig FILE` in the summary's next commands.
type NextFlags struct{ Up, Down, Verify []string }

type screen int

const (
	screenStart screen = iota
	screenHosts
	screenHostForm
	screenProbe
	screenComponents
	screenReview
	screenRun
)

// steps name the screens in the header's breadcrumb (the host form belongs to Hosts).
var steps = []struct {
	s    screen
	name string
}{
	{screenStart, "File"}, {screenHosts, "Hosts"}, {screenProbe, "Connect"},
	{screenComponents, "Components"}, {screenReview, "Review"}, {screenRun, "Run"},
}

// Model is the wizard. It is a value: Update returns the next one.
type Model struct {
	opts    Options
	keys    keyMap
	help    help.Model
	spinner spinner.Model
	width   int
	height  int
	screen  screen
	// quitting is set once the program is told to quit; View then renders nothing more.
	quitting bool

	path  string      // the hosts file being written
	draft draft.Draft // the answers so far
	start startScreen
	hosts hostsScreen
	form  hostForm
	probe probeScreen
	comps componentsScreen
	rev   reviewScreen
	run   *runScreen
}

// New returns the wizard on its first screen.
func New(o Options) Model {
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HostsPath == "" {
		o.HostsPath = "hosts.yaml"
	}
	if o.Probe == nil {
		o.Probe = func(ctx context.Context, lab *inventory.Lab, host, trustKey string) labrun.ProbeResult {
			return labrun.Probe(ctx, lab, host, labrun.ProbeOptions{KnownHostsPath: o.KnownHostsPath, TrustKey: trustKey})
		}
	}
	if o.Up == nil {
		o.Up = func(ctx context.Context, l *inventory.Lab, sink event.Sink) (lab.Result, error) {
			lo := lab.DefaultOptions()
			lo.Lab, lo.BaseDir, lo.KnownHosts = l, o.LogDir, o.KnownHostsPath
			if o.Playbook != "" {
				lo.Playbook = o.Playbook
			}
			return lab.Up(ctx, lo, sink)
		}
	}
	sp := spinner.New(spinner.WithSpinner(spinner.Line))
	return Model{
		opts: o, keys: defaultKeyMap(), help: help.New(), spinner: sp,
		width: 80, height: 24, start: newStartScreen(o.HostsPath),
	}
}

// Init starts the spinner; it turns only where something is in progress, but ticking always
// keeps the code simple and costs one message every 100 ms.
func (m Model) Init() tea.Cmd { return tea.Batch(m.spinner.Tick, waitContext(m.opts.Context)) }

// contextDoneMsg says the wizard's context ended (SIGTERM, or the caller gave up).
type contextDoneMsg struct{}

func waitContext(ctx context.Context) tea.Cmd {
	return func() tea.Msg {
		<-ctx.Done()
		return contextDoneMsg{}
	}
}

// Update handles the messages every screen shares, then hands the rest to the current screen.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		m.fitInputs()
		return m, nil
	case spinner.TickMsg:
		var cmd tea.Cmd
		m.spinner, cmd = m.spinner.Update(msg)
		return m, cmd
	case probeMsg:
		// Results are kept whatever the screen: a user who moved on before a slow host
		// answered still sees its result when coming back.
		if p := &m.probe; msg.gen == p.gen && p.results != nil {
			r := msg.result
			p.results[r.Host] = &r
		}
		return m, nil
	case contextDoneMsg:
		// A run's context is a child of this one, so the run is stopping already: wait for
		// it (runDoneMsg) before quitting, like Ctrl+C does.
		if m.run != nil && m.run.running {
			m.run.cancelling, m.run.quitWhenDone = true, true
			return m, nil
		}
		return m.quit()
	case tea.KeyMsg:
		if key.Matches(msg, m.keys.Cancel) && m.screen != screenRun {
			return m.quit()
		}
	}
	switch m.screen {
	case screenStart:
		return m.updateStart(msg)
	case screenHosts:
		return m.updateHosts(msg)
	case screenHostForm:
		return m.updateForm(msg)
	case screenProbe:
		return m.updateProbe(msg)
	case screenComponents:
		return m.updateComponents(msg)
	case screenReview:
		return m.updateReview(msg)
	case screenRun:
		return m.updateRun(msg)
	}
	return m, nil
}

func (m Model) quit() (tea.Model, tea.Cmd) {
	m.quitting = true
	return m, tea.Quit
}

// Draft returns the answers so far (for tests and the command after the program ends).
func (m Model) Draft() draft.Draft { return m.draft }

// Path is the hosts file the wizard writes.
func (m Model) Path() string { return m.path }

// RunErr is the run's error once it finished (nil when it succeeded or never ran).
func (m Model) RunErr() error {
	if m.run == nil {
		return nil
	}
	return m.run.err
}
