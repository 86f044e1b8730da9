package tui

import (
	"fmt"
	"path/filepath"
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
		case s.labErr != nil:
			out = append(out, errorLines(s.labErr)...)
		default:
			out = append(out, "  "+r.err.Error())
		}
	}
	hosts := m.path
	if out[len(out)-1] == "" { // errorLines ends with a blank line already
		out = out[:len(out)-1]
	}
	if r.result.Kubeconfig != "" {
		out = append(out, "", "URLs (NodePorts, on any node):")
		out = append(out, m.urlLines()...)
		out = append(out, "kubeconfig: "+r.result.Kubeconfig)
	} else {
		out = append(out, "", dimStyle.Render("No kubeconfig from this run: URLs appear after a Kubernetes run."))
	}
	out = append(out, "", "Next:")
	if r.result.Kubeconfig != "" {
		out = append(out, "  kubectl --kubeconfig "+r.result.Kubeconfig+" get nodes",
			"  meshlab verify bookinfo --hosts "+hosts)
	}
	out = append(out, "  meshlab up --hosts "+hosts+"    (again: finished tasks are skipped)",
		"  meshlab down --hosts "+hosts)
	if r.result.LabDir != "" {
		out = append(out, "Logs: "+filepath.Join(r.result.LabDir, "logs"))
	}
	return out
}

// urlLines lists the lab's web UIs on the first control plane's address.
func (m Model) urlLines() []string {
	lab := m.run.lab
	addr := ""
	if cps := lab.ControlPlanes(); len(cps) > 0 {
		addr = cps[0].Address
	}
	c := lab.Components
	var out []string
	add := func(name, comp, path string) {
		if p, ok := c.NodePorts[comp]; ok {
			out = append(out, fmt.Sprintf("  %-12s http://%s:%d%s", name, addr, p, path))
		}
	}
	if c.Bookinfo {
		add("productpage", "gateway", "/productpage")
	}
	for _, a := range c.Addons {
		name := map[string]string{"zipkin": "Zipkin", "prometheus": "Prometheus", "grafana": "Grafana", "jaeger": "Jaeger"}[a]
		add(name, a, "")
	}
	return out
}
