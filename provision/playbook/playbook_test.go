package playbook_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlab/meshlab/playbooks"
	"github.com/meshlab/meshlab/provision/inventory"
	"github.com/meshlab/meshlab/provision/playbook"
	"github.com/meshlab/meshlab/provision/versions"
)

// host is what templates see as .Host in these tests (the engine passes its own Host type with
// the same fields).
type host struct {
	Name, Address, User, Role string
	Port                      int
	Labels                    map[string]string
}

// TestEmbeddedPlaybooksRenderAndPassShellcheck renders every task of every embedded playbook for
// each role and runs `shellcheck -s sh` on every rendered script and guard.
func TestEmbeddedPlaybooksRenderAndPassShellcheck(t *testing.T) {
	names, err := playbook.List(playbooks.FS)
	if err != nil || len(names) == 0 {
		t.Fatalf("no embedded playbooks: %v", err)
	}
	shellcheck, lookErr := exec.LookPath("shellcheck")
	dir := t.TempDir()
	var scripts []string
	for _, name := range names {
		pb, err := playbook.Load(playbooks.FS, name)
		if err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
		for _, role := range []string{"control-plane", "worker"} {
			d := playbook.Data{
				Lab:      &inventory.Lab{Name: "demo"},
				Host:     host{Name: "node1", Address: "192.0.2.10", User: "root", Role: role, Port: 22},
				Versions: versions.Default(),
			}
			for _, ph := range append(append([]playbook.Phase{}, pb.Phases...), pb.Reset...) {
				for _, task := range ph.Tasks {
					r, err := pb.Render(ph.Name, task, d)
					if err != nil {
						t.Errorf("render %s: %v", name, err)
						continue
					}
					for kind, src := range map[string]string{"run": r.Script, "guard": r.Check} {
						if src == "" {
							continue
						}
						f := filepath.Join(dir, strings.NewReplacer(" ", "_", "/", "_").Replace(
							name+"-"+role+"-"+ph.Name+"-"+task.Name+"-"+kind+".sh"))
						if err := os.WriteFile(f, []byte(src), 0o600); err != nil {
							t.Fatal(err)
						}
						scripts = append(scripts, f)
					}
				}
			}
		}
	}
	if lookErr != nil {
		t.Skipf("rendered %d scripts; shellcheck not installed (apt-get install shellcheck) so they were not checked", len(scripts))
	}
	out, err := exec.Command(shellcheck, append([]string{"-s", "sh", "-f", "gcc"}, scripts...)...).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck found problems in rendered playbook scripts:\n%s", out)
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown field", "name: x\nphases:\n  - name: a\n    tasks:\n      - name: t\n        rn: echo\n",
			"bad.yaml:6: field rn not found"},
		{"bad duration", "name: x\nphases:\n  - name: a\n    tasks:\n      - name: t\n        run: echo\n        timeout: soon\n",
			"is not a duration"},
		{"no run", "name: x\nphases:\n  - name: a\n    tasks:\n      - name: t\n",
			`bad.yaml:5: task "t" has no run script`},
		{"duplicate task", "name: x\nphases:\n  - name: a\n    tasks:\n      - {name: t, run: a}\n      - {name: t, run: b}\n",
			`bad.yaml:6: task name "t" is used twice`},
		{"bad template", "name: x\nphases:\n  - name: a\n    tasks:\n      - name: t\n        run: echo {{ .Host.Name\n",
			`bad.yaml:5: task "t"`},
		{"no phases", "name: x\n", "bad.yaml:1: playbook has no phases"},
		{"syntax", "name: [x\n", "bad.yaml:1: did not find"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := playbook.Parse([]byte(c.yaml), "bad.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	pb, err := playbook.Parse([]byte(`name: x
vars: {greeting: hello, who: world}
phases:
  - name: a
    tasks:
      - name: t
        vars: {who: task}
        run: echo {{ quote .Vars.greeting }} {{ quote .Vars.who }} {{ quote .Host.Name }}
      - name: missing
        run: echo {{ .Vars.nope }}
      - name: conditional
        when: '{{ eq .Host.Role "worker" }}'
        run: echo hi
`), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := playbook.Data{Host: host{Name: "it's", Role: "control-plane"}}
	r, err := pb.Render("a", pb.Phases[0].Tasks[0], d)
	if err != nil {
		t.Fatal(err)
	}
	if want := `echo hello task 'it'\''s'`; r.Script != want {
		t.Errorf("script = %q, want %q", r.Script, want)
	}
	if r.Timeout.D() != playbook.DefaultTimeout || r.Hash == "" {
		t.Errorf("defaults not applied: %+v", r)
	}
	if _, err := pb.Render("a", pb.Phases[0].Tasks[1], d); err == nil || !strings.Contains(err.Error(), "x.yaml:9") {
		t.Errorf("missing var: err = %v, want x.yaml:9 and a missing key error", err)
	}
	r, err = pb.Render("a", pb.Phases[0].Tasks[2], d)
	if err != nil || !r.Skip {
		t.Errorf("when false: skip = %v, err = %v", r.Skip, err)
	}
	d.Vars = map[string]any{"who": "run"} // run vars override playbook vars, task vars override both
	r2, _ := pb.Render("a", pb.Phases[0].Tasks[0], d)
	if !strings.Contains(r2.Script, "task") {
		t.Errorf("task vars must win: %q", r2.Script)
	}
}
