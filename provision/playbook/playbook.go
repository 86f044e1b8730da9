// Package playbook loads and renders meshlab's host playbooks: YAML data (embedded from playbooks/)
// that lists phases of small shell tasks. Adding a playbook is adding a YAML file; nothing here knows
// what any playbook does.
//
// Format (playbooks/sample.yaml shows every field):
//
//	name: sample                  # required; `meshlab up --playbook <file name without .yaml>`
//	description: ...
//	vars: {key: value}            # .Vars in templates; run vars, then task vars override them
//	phases:                       # run in order by `meshlab up`; every host finishes a phase
//	  - name: files               #   before the next starts; `--skip-phases files`
//	    title: Write files
//	    roles: [control-plane]    # optional: only hosts with these roles
//	    tasks:
//	      - name: Write the file  # unique within the phase; state key "phase/task"
//	        run: |                # text/template → POSIX sh script, run under `set -e`
//	          echo {{ quote .Host.Name }} > /etc/x
//	        guard: test -e /etc/x # exit 0 = already done: run is skipped ("already done (guard)")
//	        become: true          # run as root (sudo when the login user is not root)
//	        timeout: 5m           # per attempt (default 5m)
//	        retries: 2            # more attempts after a failure
//	        backoff: 2s           # first wait between attempts, doubled each time (default 2s)
//	        roles: [worker]       # optional: only hosts with these roles
//	        when: '{{ eq .Host.Role "worker" }}'  # must render to true or false
//	        vars: {k: v}
//	        hint: what the user should try when this task fails
//	reset: [...]                  # phases run by `meshlab down`, same format
//
// Templates see .Lab (the hosts file's lab), .Host (Name, Address, Port, User, Role, Labels),
// .Versions (the pinned versions table) and .Vars, with missingkey=error, plus the functions
// quote (POSIX shell quoting) and join. A task without a guard is recorded in the lab's state
// when it succeeds and skipped on a re-run while its rendered script is unchanged
// ("already done (recorded)"). Errors name file:line.
package playbook

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Playbook is one parsed playbook file.
type Playbook struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	Vars        map[string]any `yaml:"vars"`
	// Phases run in order by `meshlab up`.
	Phases []Phase `yaml:"phases"`
	// Reset phases run in order by `meshlab down` (undo what Phases did).
	Reset []Phase `yaml:"reset"`

	Source string `yaml:"-"` // file name, for messages
}

// Phase is a named group of tasks that runs on every matching host before the next phase starts.
type Phase struct {
	Name  string   `yaml:"name"`
	Title string   `yaml:"title"`
	Roles []string `yaml:"roles"` // empty: every host
	Tasks []Task   `yaml:"tasks"`

	Line int `yaml:"-"`
}

// Task is one idempotent step on one host.
type Task struct {
	Name string `yaml:"name"`
	// Run is a text/template rendered to a POSIX sh script.
	Run string `yaml:"run"`
	// Guard is a text/template rendered to a sh script; exit 0 means "already done" and Run is skipped.
	Guard  string `yaml:"guard"`
	Become bool   `yaml:"become"`
	// Timeout bounds one attempt of Run (default DefaultTimeout).
	Timeout Duration `yaml:"timeout"`
	// Retries is how many more attempts follow a failed one; Backoff is the first wait, doubled each time.
	Retries int            `yaml:"retries"`
	Backoff Duration       `yaml:"backoff"`
	Roles   []string       `yaml:"roles"`
	When    string         `yaml:"when"` // template that must render to "true" or "false"
	Vars    map[string]any `yaml:"vars"`
	Hint    string         `yaml:"hint"` // shown with a failure: what the user should try

	Line int `yaml:"-"`
}

// Defaults applied when a task leaves a field out.
const (
	DefaultTimeout = 5 * time.Minute
	DefaultBackoff = 2 * time.Second
)

// DisplayTitle returns the phase's title, or its name when it has none.
func (p Phase) DisplayTitle() string {
	if p.Title != "" {
		return p.Title
	}
	return p.Name
}

// AppliesTo reports whether a host with the given role runs this phase or task (empty roles: all).
func AppliesTo(roles []string, role string) bool {
	if len(roles) == 0 {
		return true
	}
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

// Duration is a time.Duration written in YAML as "30s", "5m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. 30s, 5m): %w", n.Line, s, err)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
