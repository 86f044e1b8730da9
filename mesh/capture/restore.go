package capture

import (
	"fmt"
	"strings"
)

// InstallText renders the iptables-restore --noflush input that installs rs over what the
// table holds now (cur). Declaring a chain flushes it if it exists, and jumps left by an
// earlier install are deleted first, so applying twice gives the same tables as applying
// once, in one atomic transaction: no window without capture, no duplicated jumps.
func InstallText(rs Ruleset, cur State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s\n", rs.Table)
	for _, c := range rs.Chains {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c)
	}
	for _, j := range cur.Jumps {
		fmt.Fprintf(&b, "-D %s\n", strings.TrimPrefix(j, "-A "))
	}
	for _, r := range rs.Rules {
		fmt.Fprintf(&b, "-A %s %s\n", r.Chain, strings.Join(r.Args, " "))
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// CleanupText renders the iptables-restore --noflush input that removes meshlab's jumps and
// chains found in cur from table, or "" when there is nothing to remove. All chains are
// flushed before any is deleted because they refer to each other.
func CleanupText(table string, cur State) string {
	if !cur.Installed() {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%s\n", table)
	for _, j := range cur.Jumps {
		fmt.Fprintf(&b, "-D %s\n", strings.TrimPrefix(j, "-A "))
	}
	for _, c := range cur.Chains {
		fmt.Fprintf(&b, "-F %s\n", c)
	}
	for _, c := range cur.Chains {
		fmt.Fprintf(&b, "-X %s\n", c)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// RestoreArgv turns iptables-restore input into the equivalent list of single iptables
// commands (tool is "iptables" or "ip6tables"), for people to read in --dry-run output.
// Running them one by one is not atomic; the installer never does.
func RestoreArgv(tool, text string) [][]string {
	var out [][]string
	table := "filter"
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line == "COMMIT" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			out = append(out, []string{tool, "-t", table, "-N", name})
		default:
			out = append(out, append([]string{tool, "-t", table}, splitRuleLine(line)...))
		}
	}
	return out
}

// splitRuleLine splits a saved rule on blanks, keeping double-quoted words (comments) whole.
func splitRuleLine(line string) []string {
	var fields []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range line {
		switch {
		case r == '"':
			inQuote, have = !inQuote, true
		case (r == ' ' || r == '\t') && !inQuote:
			if have {
				fields = append(fields, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		fields = append(fields, cur.String())
	}
	return fields
}

// ShellJoin formats argv as one shell command line, quoting words that need it.
func ShellJoin(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`*?[]{}()<>|&;!#~") && a != "!" {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words[i] = a
	}
	return strings.Join(words, " ")
}
