package capture

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
)

// State is what one table of one family holds of meshlab's rules, read from iptables-save.
type State struct {
	Chains []string // meshlab chains that exist
	Jumps  []string // rules in other chains that jump to a meshlab chain, as saved ("-A OUTPUT -j MESHLAB_OUTPUT")
	Rules  int      // rules inside meshlab chains
	Other  int      // all other rules in the table
}

// Installed reports whether anything of meshlab's is present.
func (s State) Installed() bool { return len(s.Chains) > 0 || len(s.Jumps) > 0 }

// ParseSave reads the given table out of iptables-save output. Lines outside that table,
// comments and counters are ignored.
func ParseSave(out []byte, table string) State {
	var s State
	inTable := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			inTable = strings.TrimSpace(line[1:]) == table
		case !inTable || line == "COMMIT":
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			if isOurChain(name) {
				s.Chains = append(s.Chains, name)
			}
		case strings.HasPrefix(line, "-A "):
			fields := strings.Fields(line)
			chain := fields[1]
			switch {
			case isOurChain(chain):
				s.Rules++
			case isOurChain(jumpTarget(fields)):
				s.Jumps = append(s.Jumps, line)
			default:
				s.Other++
			}
		}
	}
	return s
}

// isOurChain is true for the chains this package creates. It does not match on the prefix alone
// so that a user's own MESHLAB_SOMETHING chain is never touched.
func isOurChain(name string) bool { return slices.Contains(Chains(), name) }

func jumpTarget(fields []string) string {
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "-j" || fields[i] == "-g" {
			return fields[i+1]
		}
	}
	return ""
}
