package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshlab/meshlab/cmd/meshlab/tui/labrun"
	"github.com/meshlab/meshlab/provision/inventory"
)

// probeScreen tests every host at once; results arrive as messages, one per host, so the screen
// stays live while slow hosts time out.
type probeScreen struct {
	lab     *inventory.Lab
	results map[string]*labrun.ProbeResult // nil value: still testing
	gen     int                            // results of an older round are dropped
	cursor  int
	errs    []string // the draft does not validate: nothing to test
}

type probeMsg struct {
	gen    int
	result labrun.ProbeResult
}

func (m Model) probeCmd(gen int, lab *inventory.Lab, host, trustKey string) tea.Cmd {
	ctx, probe := m.opts.Context, m.opts.Probe
	return func() tea.Msg {
		return probeMsg{gen: gen, result: probe(ctx, lab, host, trustKey)}
	}
}

// openProbe validates the draft and tests every host.
func (m Model) openProbe() (tea.Model, tea.Cmd) {
	m.screen = screenProbe
	p := &m.probe
	p.gen++
	p.errs, p.lab = nil, nil
	_, lab, err := m.draft.Validate(m.path)
	if err != nil {
		p.errs = problemLines(err)
		return m, nil
	}
	p.lab, p.results = lab, map[string]*labrun.ProbeResult{}
	p.cursor = min(p.cursor, len(lab.Hosts)-1)
	cmds := make([]tea.Cmd, 0, len(lab.Hosts))
	for _, h := range lab.Hosts {
		p.results[h.Name] = nil
		cmds = append(cmds, m.probeCmd(p.gen, lab, h.Name, ""))
	}
	return m, tea.Batch(cmds...)
}

// trust tests the named hosts again, recording for each the key whose fingerprint the screen
// showed for it, and only that key: a host that now presents another is reported unknown again.
func (m Model) trust(names []string) (tea.Model, tea.Cmd) {
	p := &m.probe
	cmds := make([]tea.Cmd, 0, len(names))
	for _, n := range names {
		shown := p.results[n].HostKey
		p.results[n] = nil
		cmds = append(cmds, m.probeCmd(p.gen, p.lab, n, shown))
	}
	return m, tea.Batch(cmds...)
}

func (m Model) updateProbe(msg tea.Msg) (tea.Model, tea.Cmd) {
	p := &m.probe
	switch msg := msg.(type) {
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, m.keys.Back):
			m.screen = screenHosts
		case key.Matches(msg, m.keys.Quit):
			return m.quit()
		case p.lab == nil:
			return m, nil
		case key.Matches(msg, m.keys.Up):
			p.cursor = max(0, p.cursor-1)
		case key.Matches(msg, m.keys.Down):
			p.cursor = min(len(p.lab.Hosts)-1, p.cursor+1)
		case key.Matches(msg, m.keys.Retest):
			return m.openProbe()
		case key.Matches(msg, m.keys.Trust):
			if n := p.lab.Hosts[p.cursor].Name; p.keyUnknown(n) {
				return m.trust([]string{n})
			}
		case key.Matches(msg, m.keys.TrustAll):
			var names []string
			for _, h := range p.lab.Hosts {
				if p.keyUnknown(h.Name) {
					names = append(names, h.Name)
				}
			}
			return m.trust(names)
		case key.Matches(msg, m.keys.Next):
			m.screen = screenComponents
			m.comps = newComponentsScreen(m.draft)
		}
	}
	return m, nil
}

func (p *probeScreen) keyUnknown(host string) bool {
	r := p.results[host]
	return r != nil && r.Reason == labrun.ReasonHostKeyUnknown && r.HostKey != ""
}

// counts returns how many hosts passed, failed and are still being tested.
func (p *probeScreen) counts() (ok, failed, testing int) {
	for _, r := range p.results {
		switch {
		case r == nil:
			testing++
		case r.OK():
			ok++
		default:
			failed++
		}
	}
	return ok, failed, testing
}

func (m Model) viewProbe() string {
	p := m.probe
	var b strings.Builder
	b.WriteString("\n" + headingStyle.Render("Test connectivity") + "  " + dimStyle.Render("SSH login and root access on every host") + "\n\n")
	if p.errs != nil {
		b.WriteString(failStyle.Render(symFail+" the hosts file would not be valid:") + "\n")
		for _, e := range p.errs {
			b.WriteString("  " + e + "\n")
		}
		return b.String()
	}
	for i, h := range p.lab.Hosts {
		cur := "  "
		if i == p.cursor {
			cur = symCursor + " "
		}
		target := fmt.Sprintf("%s@%s:%d", h.User, h.Address, h.Port)
		r := p.results[h.Name]
		var status string
		switch {
		case r == nil:
			status = m.spinner.View() + " testing…"
		case r.OK():
			status = okStyle.Render(symOK + " ok, " + r.Root)
		default:
			status = failStyle.Render(symFail + " " + string(r.Reason))
			if r.Reason == labrun.ReasonHostKeyUnknown {
				status += dimStyle.Render("  (t: trust)")
			}
		}
		b.WriteString(m.fit(fmt.Sprintf("%s%-14s %-26s %s", cur, h.Name, target, status)) + "\n")
	}
	ok, failed, testing := p.counts()
	fmt.Fprintf(&b, "\n%d ok, %d failed, %d testing\n", ok, failed, testing)
	if r := p.results[p.lab.Hosts[p.cursor].Name]; r != nil && !r.OK() {
		b.WriteString("\n" + wrap(printable(r.Err.Error()), m.width, 4) + "\n")
		if hint := probeHint(r.Reason); hint != "" {
			b.WriteString(warnStyle.Render(wrap("hint: "+hint, m.width, 3)) + "\n")
		}
	} else if failed > 0 {
		b.WriteString(dimStyle.Render("Select a red host for the full reason.") + "\n")
	}
	return b.String()
}

// probeHint says what to try for each kind of failure.
func probeHint(r labrun.Reason) string {
	switch r {
	case labrun.ReasonRefused:
		return "is sshd running and listening on that port?"
	case labrun.ReasonAuth:
		return "authorise your public key on the host (ssh-copy-id), or check the user and key"
	case labrun.ReasonHostKeyUnknown:
		return "compare the fingerprint above with the host's, then press t to record it in known_hosts"
	case labrun.ReasonHostKeyChanged:
		return "the host's key differs from known_hosts: if the machine was rebuilt, remove its old line (ssh-keygen -R)"
	case labrun.ReasonSudo:
		return "allow passwordless sudo for the user, or set sudoPassword in the hosts file"
	case labrun.ReasonTimeout, labrun.ReasonUnreachable:
		return "check the address, the network path and any firewall"
	case labrun.ReasonSecret:
		return "set the environment variable or create the file the password source names"
	}
	return ""
}

// wrap breaks s into lines of at most width columns, at most maxLines of them.
func wrap(s string, width, maxLines int) string {
	lines := strings.Split(ansi.Wrap(s, max(20, width), " /:"), "\n")
	if len(lines) > maxLines {
		lines = lines[:maxLines]
	}
	return strings.Join(lines, "\n")
}

func (m Model) probeBindings() []key.Binding {
	k := m.keys
	return []key.Binding{withHelp(k.Up, "↑/↓", "select"), k.Retest, k.Trust, k.TrustAll, withHelp(k.Next, "enter", "next"), k.Back}
}
