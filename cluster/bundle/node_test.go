package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// lockWith is a package-lock.json whose packages need these engines.node ranges.
func lockWith(engines map[string]string) []byte {
	var b strings.Builder
	b.WriteString(`{"lockfileVersion": 3, "packages": {"": {"name": "root"}`)
	for pkg, rng := range engines {
		b.WriteString(`, "node_modules/` + pkg + `": {"version": "1.0.0", "engines": {"node": "` + rng + `"}}`)
	}
	// engines as a list (old packages) is ignored, as npm does.
	b.WriteString(`, "node_modules/old": {"version": "0.1.0", "engines": ["node >= 0.4"]}}}`)
	return []byte(b.String())
}

func TestChooseNode(t *testing.T) {
	// Ranges of the Prometheus v3.10.0 UI's lockfile that decide: react-router and nock leave
	// out Debian's Node 18 and early 20s.
	lock := lockWith(map[string]string{
		"react-router":    ">=20.0.0",
		"nock":            ">=18.20.0 <20 || >=20.12.1",
		"@eslint/js":      "^18.18.0 || ^20.9.0 || >=21.1.0",
		"vite":            "^18.0.0 || ^20.0.0 || >=22.0.0",
		"@babel/core":     ">=6.9.0",
		"postcss-mixins":  "^20.0 || ^22.0 || >=24.0",
		"http-proxy-ws":   ">=16 || 14 >=14.17",
		"some-old-x-rule": "6.* || 8.* || >= 10.*",
	})
	arch, err := nodeArch(runtime.GOARCH)
	if err != nil {
		t.Skip(err)
	}
	pinnedBin := filepath.Join("/c", "node", "v22.21.1-linux-"+arch, "node_modules", "node-linux-"+arch, "bin")
	pinned := nodeJS{Version: "v22.21.1", NPM: "11.19.1", BinDir: pinnedBin, Package: "node-linux-" + arch + "@22.21.1"}
	for _, tc := range []struct {
		name, machine, npm, nvmrc string
		want                      nodeJS
		notes                     []string
		err                       string
	}{
		{name: "machine Node satisfies every package", machine: "v20.20.2", npm: "11.19.1", nvmrc: "v22.21.1\n",
			want: nodeJS{Version: "v20.20.2", NPM: "11.19.1"}},
		{name: "newer machine Node", machine: "v24.1.0", npm: "11.19.1", nvmrc: "v22.21.1",
			want: nodeJS{Version: "v24.1.0", NPM: "11.19.1"}},
		{name: "Debian's Node 18 is too old", machine: "v18.19.0", npm: "11.19.1", nvmrc: "v22.21.1\n", want: pinned,
			notes: []string{
				"nock@1.0.0 needs node >=18.20.0 <20 || >=20.12.1",
				"postcss-mixins@1.0.0 needs node ^20.0 || ^22.0 || >=24.0",
				"react-router@1.0.0 needs node >=20.0.0",
			}},
		{name: "an early Node 20", machine: "v20.9.0", npm: "11.19.1", nvmrc: "22.21.1", want: pinned,
			notes: []string{"nock@1.0.0 needs node >=18.20.0 <20 || >=20.12.1"}},
		{name: "no node at all", machine: "", npm: "11.19.1", nvmrc: "v22.21.1", want: pinned,
			notes: []string{"this machine has no node"}},
		{name: "no npm", machine: "v20.20.2", npm: "", nvmrc: "v22.21.1", err: "no npm: install them"},
		{name: "nvmrc names no version", machine: "v18.19.0", npm: "11.19.1", nvmrc: "lts/iron", err: `.nvmrc "lts/iron" is not a Node version`},
		{name: "the pinned Node fails the lockfile too", machine: "v18.19.0", npm: "11.19.1", nvmrc: "v20.1.0",
			err: "the UI's own Node version v20.1.0 (.nvmrc) does not satisfy its lockfile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, notes, err := chooseNode(tc.machine, tc.npm, lock, tc.nvmrc, "/c")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("node = %+v\nwant   %+v", got, tc.want)
			}
			if !reflect.DeepEqual(notes, tc.notes) {
				t.Errorf("notes = %q\nwant    %q", notes, tc.notes)
			}
		})
	}
}

func TestUnmetEnginesRejectsWhatItCannotRead(t *testing.T) {
	if _, err := unmetEngines([]byte(`{"packages": {"node_modules/x": {"engines": {"node": ">=>= 1"}}}}`), "v20.0.0"); err == nil ||
		!strings.Contains(err.Error(), "node_modules/x") {
		t.Errorf("a range that does not parse: err = %v, want one naming the package", err)
	}
	if _, err := unmetEngines([]byte(`not json`), "v20.0.0"); err == nil {
		t.Error("a lockfile that is not JSON was accepted")
	}
}

func TestNPMEnvKeepsTheMachinesRegistry(t *testing.T) {
	t.Setenv("npm_config_registry", "https://mirror.example/npm/")
	t.Setenv("PATH", "/usr/bin")
	last := func(env []string) map[string]string {
		m := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v // exec uses the last value of a repeated variable
		}
		return m
	}
	env := last(npmEnv(nodeJS{BinDir: "/pinned/bin"}, true))
	for k, want := range map[string]string{
		"PATH": "/pinned/bin:/usr/bin", "npm_config_offline": "true", "npm_config_audit": "false",
		"npm_config_fund": "false", "npm_config_update_notifier": "false",
		"npm_config_registry": "https://mirror.example/npm/",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	online := last(npmEnv(nodeJS{}, false))
	if v, ok := online["npm_config_offline"]; ok {
		t.Errorf("an online step runs with npm_config_offline=%s", v)
	}
	if online["PATH"] != "/usr/bin" {
		t.Errorf("the machine's Node changed PATH to %s", online["PATH"])
	}
}

// TestPinnedNodeFromTheNPMRegistry is the path a machine whose Node is too old (Debian's and
// Ubuntu's 18) takes: the UI's pinned Node is installed from the npm registry with the machine's
// npm, and npm then runs under it. A second ensureNode finds it and needs no npm at all.
func TestPinnedNodeFromTheNPMRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("installs Node from the npm registry (tens of MB); not in -short")
	}
	npm, err := machineTool(context.Background(), "npm")
	if err != nil || npm == "" {
		t.Skipf("needs npm (tools/install-deps.sh installs it): %v", err)
	}
	lock := lockWith(map[string]string{"react-router": ">=20.0.0"})
	n, notes, err := chooseNode("v18.19.0", npm, lock, "v22.21.1\n", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if n.Package == "" || len(notes) != 1 {
		t.Fatalf("Node 18 was chosen for a lockfile that needs 20: %+v %v", n, notes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log bytes.Buffer
	if err := ensureNode(ctx, n, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if got, err := nodeVersion(ctx, filepath.Join(n.BinDir, "node")); err != nil || got != "v22.21.1" {
		t.Fatalf("the installed node says %q (%v)", got, err)
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(filepath.Dir(n.BinDir))) + ".partial"); err == nil {
		t.Error("the install's .partial directory is left behind")
	}
	// npm, run as a UI step runs it, executes under the pinned Node.
	cmd := exec.CommandContext(ctx, "npm", "version", "--json")
	cmd.Dir, cmd.Env = t.TempDir(), npmEnv(n, true)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("npm version: %v", err)
	}
	var v struct{ Node string }
	if err := json.Unmarshal(out, &v); err != nil || v.Node != "22.21.1" {
		t.Errorf("npm runs under node %q (%v), want 22.21.1: %s", v.Node, err, out)
	}
	t.Setenv("PATH", "/nonexistent")
	if err := ensureNode(ctx, n, &log); err != nil {
		t.Errorf("a second ensureNode, with no npm on PATH: %v", err)
	}
}
