package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/meshlab/meshlab/provision/event"
)

// errorLines renders the error contract of a failed task: where, the command, its exit and
// stderr, the full log and what to try.
func errorLines(e *event.ErrorInfo) []string {
	if e == nil {
		return nil
	}
	where := strings.Join(nonEmpty(e.Host, e.Phase, e.Task), " · ")
	out := []string{failStyle.Render(symFail+" "+where+": ") + e.Message}
	if e.Command != "" {
		cmd := strings.SplitN(strings.TrimSpace(e.Command), "\n", 2)
		more := ""
		if len(cmd) > 1 {
			more = " …"
		}
		out = append(out, "  command: "+cmd[0]+more)
	}
	switch {
	case e.Exit > 0:
		out = append(out, "  exit status "+strconv.Itoa(e.Exit))
	case e.Exit < 0:
		out = append(out, "  did not finish (connection lost, timeout or interrupted)")
	}
	for _, l := range e.Stderr {
		out = append(out, "  stderr: "+l)
	}
	if e.LogPath != "" {
		out = append(out, "  full log: "+e.LogPath)
	}
	if e.Hint != "" {
		out = append(out, warnStyle.Render("  hint: "+e.Hint))
	}
	return append(out, "")
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// summaryLines is the end-of-run pane: the outcome with counts, the first failure, the lab's
// URLs and kubeconfig when the run built a cluster, and the commands to try next.
func (m Model) summaryLines() []string {
	r := m.run
	s := r.state
	ok, skipped, failed := s.totals()
	var out []string
	counts := fmt.Sprintf("tasks: %d changed, %d already done, %d failed", ok, skipped, failed)
	if r.cancelling {
		// The tasks cut short by the interrupt end as failed events; they did not fail.
		counts = fmt.Sprintf("tasks: %d changed, %d already done, %d stopped", ok, skipped, failed)
	}
	switch {
	case r.err == nil:
		out = append(out, okStyle.Render(symOK+" every host is done; "+counts))
	case r.cancelling: // the user stopped it: not a failure of the lab
		out = append(out, warnStyle.Render(symFail+" interrupted; "+counts), "  remote commands were stopped and finished tasks recorded: run again to continue")
	default:
		out = append(out, failStyle.Render(symFail+" failed; "+counts))
		shown := false
		for _, h := range s.hosts {
			if h.err != nil {
				out = append(out, errorLines(h.err)...)
				shown = true
				break // the first; l and ↑/↓ show each host's own log
			}
		}
		switch {
		case shown:
		case s.labTaskErr != nil:
			out = append(out, errorLines(s.labTaskErr)...)
		case s.labErr != nil:
			out = append(out, errorLines(s.labErr)...)
		default:
			out = append(out, "  "+r.err.Error())
		}
	}
	if out[len(out)-1] == "" { // errorLines ends with a blank line already
		out = out[:len(out)-1]
	}
	out = append(out, m.labLines()...)
	out = append(out, m.graphLines()...)
	out = append(out, "", "Next:")
	for _, c := range m.NextCommands() {
		out = append(out, "  "+c)
	}
	if r.result.Dir != "" {
		out = append(out, "Logs: "+r.result.Dir.LogsDir())
	}
	return out
}

// labLines are where the lab can be reached. The URLs are the run's own summary (the stack's
// last phase): a run that built the cluster alone has none, and then the summary says why
// rather than listing services nobody installed.
func (m Model) labLines() []string {
	r := m.run
	var out []string
	if len(r.state.links) > 0 {
		out = append(out, "", "The lab (NodePorts on any node):")
		dashboards := false
		for _, l := range r.state.links {
			switch {
			case strings.HasPrefix(l, "kubeconfig "): // printed below from the result
			case strings.HasPrefix(l, "dashboard: "): // a URL of every panel: too long for this pane
				dashboards = true
			default:
				out = append(out, "  "+l)
			}
		}
		if dashboards {
			out = append(out, "  dashboards           "+command([]string{"dashboard", "--hosts", m.path}))
		}
	}
	switch {
	case r.result.Kubeconfig != "":
		if len(out) == 0 {
			out = append(out, "")
		}
		out = append(out, "kubeconfig: "+r.result.Kubeconfig)
		if c := r.lab.Components; len(r.state.links) == 0 && (c.Mesh || c.Bookinfo || len(c.Addons) > 0) {
			out = append(out, dimStyle.Render("No URLs: this run built the cluster alone (the mesh, addons and Bookinfo need --stack)."))
		}
	case len(out) == 0:
		out = append(out, "", dimStyle.Render("No kubeconfig yet: a Kubernetes run writes one once its control plane is up."))
	}
	return out
}

// graphLines are the service graph drawn after the run (Options.Graph), or why it is missing.
func (m Model) graphLines() []string {
	r := m.run
	switch {
	case r.graphErr != nil:
		return []string{"", dimStyle.Render("No service graph: " + r.graphErr.Error())}
	case r.graph == "":
		return nil
	}
	out := []string{"", "Service graph (" + command([]string{"mesh", "graph", "--hosts", m.path}) + " keeps it live):"}
	for _, l := range strings.Split(strings.TrimRight(r.graph, "\n"), "\n") {
		out = append(out, "  "+l)
	}
	return out
}

// NextCommands are the commands to try after the run, flags included: look at the cluster,
// verify Bookinfo when the run deployed it, run again, take the lab down.
func (m Model) NextCommands() []string {
	var out []string
	if m.run != nil {
		if k := m.run.result.Kubeconfig; k != "" {
			out = append(out, "kubectl --kubeconfig "+shellWord(k)+" get nodes")
			if m.run.lab.Components.Bookinfo && len(m.run.state.links) > 0 {
				out = append(out, command(append([]string{"verify", "bookinfo", "--kubeconfig", k}, m.opts.Next.Verify...)))
			}
		}
	}
	return append(out, command(append([]string{"up", "--hosts", m.path}, m.opts.Next.Up...)),
		command(append([]string{"down", "--hosts", m.path}, m.opts.Next.Down...)))
}

// Kubeconfig is the admin kubeconfig the last run wrote ("" when none).
func (m Model) Kubeconfig() string {
	if m.run == nil {
		return ""
	}
	return m.run.result.Kubeconfig
}

// command is a meshlab command line, each word quoted for the shell where it needs it.
func command(args []string) string {
	words := []string{"meshlab"}
	for _, a := range args {
		words = append(words, shellWord(a))
	}
	return strings.Join(words, " ")
}

// shellWord quotes w for a POSIX shell only when it needs it, so the common case stays
// readable and a path with spaces still pastes correctly.
func shellWord(w string) string {
	if w != "" && strings.IndexFunc(w, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%~", r))
	}) < 0 {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
