package playbook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
	"text/template"

	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/versions"
)

// Data is what templates see: {{ .Lab.Name }}, {{ .Host.Name }}, {{ .Versions.Kubernetes }}, {{ .Vars.x }}.
// Vars stays a map on purpose: a playbook declares its own vars in YAML, and the Go side that
// provides values for them converts a typed struct at one place (cluster/phases.PlaybookVars).
type Data struct {
	Lab      *inventory.Lab
	Host     any // the engine's host (engine imports this package, so it cannot be named here)
	Versions versions.Set
	Vars     map[string]any
}

// Rendered is a task ready to run on one host.
type Rendered struct {
	Task
	Script string // rendered Run
	Check  string // rendered Guard ("" when the task has none)
	Skip   bool   // `when` rendered to false
	// Hash identifies the rendered script, become and the phase: when it is unchanged a task
	// recorded as done needs no re-run.
	Hash string
}

// funcs are the helpers templates may call. Kept small on purpose: logic belongs in Go phases.
var funcs = template.FuncMap{
	"quote": ShellQuote,
	"join":  strings.Join,
}

func parseTemplate(name, src string) (*template.Template, error) {
	return template.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
}

// Render renders the task's when, guard and run templates for one host. Playbook vars are
// overridden by the task's own vars.
func (pb *Playbook) Render(phase string, t Task, d Data) (Rendered, error) {
	vars := map[string]any{}
	maps.Copy(vars, pb.Vars)
	maps.Copy(vars, d.Vars)
	maps.Copy(vars, t.Vars)
	d.Vars = vars
	r := Rendered{Task: t}
	where := fmt.Sprintf("%s:%d: task %q", pb.Source, t.Line, t.Name)
	if t.When != "" {
		w, err := execute(t.Name+" when", t.When, d)
		if err != nil {
			return r, fmt.Errorf("%s: when: %w", where, err)
		}
		switch strings.TrimSpace(w) {
		case "true":
		case "false", "":
			r.Skip = true
			return r, nil
		default:
			return r, fmt.Errorf("%s: when rendered to %q, want true or false", where, w)
		}
	}
	var err error
	if r.Script, err = execute(t.Name, t.Run, d); err != nil {
		return r, fmt.Errorf("%s: run: %w", where, err)
	}
	if t.Guard != "" {
		if r.Check, err = execute(t.Name+" guard", t.Guard, d); err != nil {
			return r, fmt.Errorf("%s: guard: %w", where, err)
		}
	}
	if r.Timeout == 0 {
		r.Timeout = Duration(DefaultTimeout)
	}
	if r.Backoff == 0 {
		r.Backoff = Duration(DefaultBackoff)
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%t\x00%s", phase, t.Become, r.Script)))
	r.Hash = hex.EncodeToString(sum[:])
	return r, nil
}

func execute(name, src string, d Data) (string, error) {
	tpl, err := parseTemplate(name, src)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := tpl.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// ShellQuote quotes s for a POSIX shell as one word.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
