// Package podnet shows what the original walk-through inspected by hand with nsenter and
// iptables: a pod's traffic-capture rules and the ports listening in its network namespace. It
// works over the node's provision transport (SSH to the node the pod runs on, then nsenter into
// the pod's network namespace) rather than an ephemeral debug container, because the meshlab image
// is FROM scratch (no iptables-save, no ss), the node has both, and the lab's SSH access is
// already configured — nothing is added to the pod.
package podnet

import (
	"context"
	"fmt"
	"strings"

	"github.com/meshlab/meshlab/mesh/capture"
	"github.com/meshlab/meshlab/provision/transport"
)

// Report is one pod's capture state.
type Report struct {
	Netns     string     // the network namespace inspected, as a path on the node
	Tool      string     // the iptables-save variant whose rules are shown (nft or legacy)
	Rules     []string   // the nat table as iptables-save prints it, without counters and comments
	Captured  bool       // meshlab's (or Istio's) capture chains are installed
	Listening []Listener // TCP sockets in LISTEN state
}

// Listener is one listening TCP socket.
type Listener struct {
	Local   string // "0.0.0.0:15001", "[::]:9080", "127.0.0.1:15000"
	Process string // "meshlab", or "" when ss cannot tell
}

// section markers in the inspection script's output; no tool prints lines starting with "#=#".
const marker = "#=# "

// Inspect reads the nat rules (every iptables-save variant the node has: a pod may use a
// different backend than the node) and the listening TCP sockets of the network namespace at
// netns, in one remote command.
func Inspect(ctx context.Context, node transport.Transport, netns string) (Report, error) {
	q := transport.Quote(netns)
	script := "for t in iptables-nft-save iptables-legacy-save iptables-save; do " +
		"command -v $t >/dev/null 2>&1 || continue; echo '" + marker + "'$t; nsenter --net=" + q + " -- $t -t nat 2>&1; done; " +
		"echo '" + marker + "ss'; nsenter --net=" + q + " -- ss -Htlnp"
	res, err := node.Run(ctx, transport.Cmd{Command: script, Become: true})
	if err != nil {
		return Report{}, fmt.Errorf("podnet: %s: inspect %s: %w", node.Name(), netns, err)
	}
	rep := parse(res.Stdout)
	rep.Netns = netns
	return rep, nil
}

// parse splits the script's output into sections and picks the rules to show: the first
// variant with capture chains, else the first with any rules.
func parse(out string) Report {
	sections := map[string][]string{}
	var order []string
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if name, ok := strings.CutPrefix(line, marker); ok {
			cur = name
			order = append(order, name)
			continue
		}
		if cur != "" && strings.TrimSpace(line) != "" {
			sections[cur] = append(sections[cur], line)
		}
	}
	var rep Report
	for _, tool := range order {
		if tool == "ss" {
			continue
		}
		rules := natRules(sections[tool])
		captured := hasCapture(rules)
		if rep.Tool == "" && len(rules) > 0 || captured && !rep.Captured {
			rep.Tool, rep.Rules, rep.Captured = variantName(tool), rules, captured
		}
	}
	rep.Listening = listeners(sections["ss"])
	return rep
}

func variantName(tool string) string {
	switch tool {
	case "iptables-nft-save":
		return "nft"
	case "iptables-legacy-save":
		return "legacy"
	}
	return tool
}

// natRules keeps the table, chain and rule lines; comments, COMMIT and counters are noise here.
func natRules(lines []string) []string {
	var out []string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "#"), l == "COMMIT":
		case strings.HasPrefix(l, ":"):
			// ":OUTPUT ACCEPT [12:720]" → ":OUTPUT ACCEPT"
			if i := strings.LastIndex(l, " ["); i > 0 {
				l = l[:i]
			}
			out = append(out, l)
		case strings.HasPrefix(l, "*"), strings.HasPrefix(l, "-A "):
			out = append(out, l)
		}
	}
	// A table with only its built-in chains and no rule says nothing.
	for _, l := range out {
		if strings.HasPrefix(l, "-A ") {
			return out
		}
	}
	return nil
}

func hasCapture(rules []string) bool {
	for _, l := range rules {
		if strings.Contains(l, capture.ChainOutput) || strings.Contains(l, "ISTIO_OUTPUT") {
			return true
		}
	}
	return false
}

// listeners parses `ss -Htlnp`: State Recv-Q Send-Q Local Peer [users:(("name",pid=1,fd=3))].
func listeners(lines []string) []Listener {
	var out []Listener
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 5 || f[0] != "LISTEN" {
			continue
		}
		ln := Listener{Local: f[3]}
		if len(f) > 5 {
			if _, rest, ok := strings.Cut(f[5], `(("`); ok {
				ln.Process, _, _ = strings.Cut(rest, `"`)
			}
		}
		out = append(out, ln)
	}
	return out
}
