package playbook

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Ext is the file extension of a playbook in the playbooks file system.
const Ext = ".yaml"

// List returns the names (file names without Ext) of the playbooks at the top of fsys, sorted.
func List(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list playbooks: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), Ext) {
			names = append(names, strings.TrimSuffix(e.Name(), Ext))
		}
	}
	sort.Strings(names)
	return names, nil
}

// Load reads and parses the playbook called name (without Ext) from fsys.
func Load(fsys fs.FS, name string) (*Playbook, error) {
	file := name + Ext
	data, err := fs.ReadFile(fsys, file)
	if errors.Is(err, fs.ErrNotExist) {
		names, _ := List(fsys)
		return nil, fmt.Errorf("playbook %q does not exist (known: %s)", name, strings.Join(names, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("read playbook %s: %w", file, err)
	}
	return Parse(data, path.Join("playbooks", file))
}

// Parse parses one playbook. Errors name file:line. Unknown fields are errors, so a typo in a
// field name cannot silently turn a task into a no-op.
func Parse(data []byte, file string) (*Playbook, error) {
	var pb Playbook
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&pb); err != nil {
		return nil, yamlError(file, err)
	}
	pb.Source = file
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		setLines(&root, &pb)
	}
	if err := pb.validate(); err != nil {
		return nil, err
	}
	return &pb, nil
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

// yamlError rewrites yaml.v3's "line N: msg" errors as "file:N: msg", one per problem.
func yamlError(file string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	errs := make([]error, 0, len(msgs))
	for _, m := range msgs {
		if loc := yamlLine.FindStringSubmatch(m); loc != nil {
			errs = append(errs, fmt.Errorf("%s:%s: %s", file, loc[1], m[len(loc[0]):]))
		} else {
			errs = append(errs, fmt.Errorf("%s: %s", file, m))
		}
	}
	return errors.Join(errs...)
}

// setLines copies the line numbers of phases and tasks from the node tree, for error messages.
func setLines(root *yaml.Node, pb *Playbook) {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return
	}
	lists := map[string][]Phase{"phases": pb.Phases, "reset": pb.Reset}
	for key, phases := range lists {
		seq := mapValue(root.Content[0], key)
		if seq == nil {
			continue
		}
		for i := range phases {
			if i >= len(seq.Content) {
				break
			}
			phases[i].Line = seq.Content[i].Line
			tasks := mapValue(seq.Content[i], "tasks")
			for j := range phases[i].Tasks {
				if tasks != nil && j < len(tasks.Content) {
					phases[i].Tasks[j].Line = tasks.Content[j].Line
				}
			}
		}
	}
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// validate reports every problem at once, each with file:line.
func (pb *Playbook) validate() error {
	var errs []error
	bad := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", pb.Source, line, fmt.Sprintf(format, args...)))
	}
	if pb.Name == "" {
		bad(1, "playbook has no name")
	}
	if len(pb.Phases) == 0 {
		bad(1, "playbook has no phases")
	}
	seen := map[string]bool{}
	for _, list := range [][]Phase{pb.Phases, pb.Reset} {
		for _, ph := range list {
			if ph.Name == "" {
				bad(ph.Line, "phase has no name")
			} else if seen[ph.Name] {
				bad(ph.Line, "phase name %q is used twice", ph.Name)
			}
			seen[ph.Name] = true
			if len(ph.Tasks) == 0 {
				bad(ph.Line, "phase %q has no tasks", ph.Name)
			}
			tasks := map[string]bool{}
			for _, t := range ph.Tasks {
				switch {
				case t.Name == "":
					bad(t.Line, "task in phase %q has no name", ph.Name)
				case tasks[t.Name]:
					bad(t.Line, "task name %q is used twice in phase %q", t.Name, ph.Name)
				}
				tasks[t.Name] = true
				if strings.TrimSpace(t.Run) == "" {
					bad(t.Line, "task %q has no run script", t.Name)
				}
				if t.Retries < 0 || t.Retries > 100 {
					bad(t.Line, "task %q: retries must be between 0 and 100, not %d", t.Name, t.Retries)
				}
				for _, src := range []string{t.Run, t.Guard, t.When} {
					if _, err := parseTemplate(t.Name, src); err != nil {
						bad(t.Line, "task %q: %v", t.Name, err)
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}
