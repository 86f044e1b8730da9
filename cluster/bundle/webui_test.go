package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshlab/meshlab/provision/versions"
)

func prometheusComponent(t *testing.T) component {
	t.Helper()
	for _, c := range components() {
		if c.Dir == "prometheus" {
			return c
		}
	}
	t.Fatal("no prometheus component")
	return component{}
}

// TestPrometheusUIRecipe is the recipe as commands and directories: the lockfile installed
// exactly with no install scripts and engines enforced, the two modules before the app, the
// app's output where web/web.go looks (/static/mantine-ui), compressed by upstream's script from
// the module root (TestPrometheusBuildKeepsKubernetesDiscovery checks the embedding tag).
func TestPrometheusUIRecipe(t *testing.T) {
	c := prometheusComponent(t)
	if c.UI == nil {
		t.Fatal("the prometheus component builds no web UI")
	}
	want := []uiStep{
		{Name: "npm ci", Dir: "web/ui", Online: true, Args: []string{"npm", "ci", "--engine-strict", "--ignore-scripts", "--no-audit", "--no-fund"}},
		{Name: "build @prometheus-io/lezer-promql", Dir: "web/ui", Args: []string{"npm", "run", "build", "-w", "@prometheus-io/lezer-promql"}},
		{Name: "build @prometheus-io/codemirror-promql", Dir: "web/ui", Args: []string{"npm", "run", "build", "-w", "@prometheus-io/codemirror-promql"}},
		{Name: "build @prometheus-io/mantine-ui", Dir: "web/ui", Args: []string{"npm", "run", "build", "-w", "@prometheus-io/mantine-ui"}},
		{Name: "move mantine-ui/dist", Dir: "web/ui", Move: [2]string{"mantine-ui/dist", "static/mantine-ui"}},
		{Name: "compress", Dir: ".", Args: []string{"bash", "scripts/compress_assets.sh"}},
	}
	if got := c.UI.steps(); !reflect.DeepEqual(got, want) {
		t.Errorf("steps:\n got %+v\nwant %+v", got, want)
	}
}

// TestPrometheusUIRecipeMatchesTheModule checks the recipe against the pinned module's own
// files, so a Prometheus bump that moves any of them fails here and not half-way through a
// bundle build: the workspaces and their names, the compress script, the embed that the tag
// turns on, the path web/web.go serves index.html from; and that the generated go.mod makes the
// go command take the module from the copy.
func TestPrometheusUIRecipeMatchesTheModule(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the Prometheus module (downloaded from the Go module proxy when not cached); not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := prometheusComponent(t)
	compDir := filepath.Join("..", "..", "tools", "k8sbuild", c.Dir)
	r, err := resolveModule(ctx, compDir, c.Module)
	if err != nil {
		t.Fatal(err)
	}
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(r.Dir, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatalf("the recipe needs %s of %s@%s: %v", rel, c.Module, r.Version, err)
		}
		return string(b)
	}
	ws := c.UI.Dir
	var root struct{ Workspaces []string }
	if err := json.Unmarshal([]byte(read(ws+"/package.json")), &root); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{} // workspace name → directory
	for _, w := range root.Workspaces {
		dirs, _ := filepath.Glob(filepath.Join(r.Dir, filepath.FromSlash(ws), w))
		for _, d := range dirs {
			var p struct{ Name string }
			rel, _ := filepath.Rel(filepath.Join(r.Dir, filepath.FromSlash(ws)), d)
			if err := json.Unmarshal([]byte(read(ws+"/"+filepath.ToSlash(rel)+"/package.json")), &p); err != nil {
				t.Fatal(err)
			}
			names[p.Name] = filepath.ToSlash(rel)
		}
	}
	for _, w := range append(append([]string(nil), c.UI.Modules...), c.UI.App) {
		if _, ok := names[w]; !ok {
			t.Errorf("workspace %s is not in %s/package.json's workspaces (%v)", w, ws, names)
		}
	}
	if app := names[c.UI.App]; app+"/dist" != c.UI.Dist {
		t.Errorf("the app %s lives in %s, the recipe takes its output from %s", c.UI.App, app, c.UI.Dist)
	}
	read(ws + "/package-lock.json")
	read(ws + "/.nvmrc")
	read(c.UI.Compress[1])
	if embed := read(ws + "/assets_embed.go"); !strings.Contains(embed, "//go:build "+c.UI.Tag) {
		t.Errorf("%s/assets_embed.go is not behind the %s tag", ws, c.UI.Tag)
	}
	if web := read("web/web.go"); !strings.Contains(web, `"/`+c.UI.Static+`"`) {
		t.Errorf("web/web.go does not serve the UI from /%s", c.UI.Static)
	}

	copyDir := t.TempDir()
	dir, err := replaceModule(compDir, c.Module, copyDir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Replace struct{ Dir string } }
	if err := goJSON(ctx, dir, &m, "list", "-m", "-json", c.Module); err != nil {
		t.Fatal(err)
	}
	if m.Replace.Dir != copyDir {
		t.Errorf("in the generated module, go list -m %s says it comes from %q, want %s", c.Module, m.Replace.Dir, copyDir)
	}
}

// fakeNPM is an npm for the build's mechanics: it records each call (directory, arguments,
// whether npm was offline), makes what the real one would (node_modules, the app's dist), and
// fails the app's build when FAKE_NPM_FAIL is set.
const fakeNPM = `#!/bin/sh
echo "$PWD|$*|offline=${npm_config_offline:-}" >> "$FAKE_NPM_LOG"
case "$*" in
ci\ *) mkdir -p node_modules/dep module/lib/node_modules/dep && echo "added 2 packages" ;;
"run build -w @t/app")
  if [ -n "$FAKE_NPM_FAIL" ]; then echo "vite: transforming..."; echo "error: the app does not compile" >&2; exit 3; fi
  mkdir -p app/dist/assets && echo '<html></html>' > app/dist/index.html && echo 'x' > app/dist/assets/a.js ;;
run\ *) echo "built" ;;
esac
`

// A module like Prometheus's: a workspace, a compress script that lists what it finds.
func fakeUIModule(t *testing.T) string {
	t.Helper()
	mod := t.TempDir()
	files := map[string]string{
		"go.mod":                     "module example.com/m\n",
		"web/ui/package.json":        `{"workspaces": ["app", "module/*"]}`,
		"web/ui/package-lock.json":   `{"lockfileVersion": 3, "packages": {}}`,
		"web/ui/app/package.json":    `{"name": "@t/app"}`,
		"web/ui/module/lib/src.ts":   "export {}\n",
		"scripts/compress_assets.sh": "cd web/ui && find static -type f | sort > embed.list\n",
	}
	for name, content := range files {
		p := filepath.Join(mod, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	// Read-only like the module cache: the build must work on a copy.
	filepath.WalkDir(mod, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o555)
		}
		return err
	})
	t.Cleanup(func() {
		filepath.WalkDir(mod, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	return mod
}

func TestWebUIBuildRunsTheRecipeOnceAndLeavesNothingHalfBuilt(t *testing.T) {
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte(fakeNPM), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	calls := filepath.Join(t.TempDir(), "npm-calls")
	t.Setenv("FAKE_NPM_LOG", calls)
	ui := webUI{Dir: "web/ui", Modules: []string{"@t/lib"}, App: "@t/app", Dist: "app/dist",
		Static: "static/app", Compress: []string{"sh", "scripts/compress_assets.sh"}, Tag: "t"}
	cache := t.TempDir()
	newBuild := func(key string) *uiBuild {
		return &uiBuild{UI: ui, Component: "t", Module: "example.com/m", ModuleDir: fakeUIModule(t),
			Node: nodeJS{Version: "v20.20.2", NPM: "11.0.0"}, Key: key, Dir: filepath.Join(cache, "webui", key)}
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()

	b := newBuild("t-ok")
	var logw bytes.Buffer
	src, err := b.build(ctx, &logw, log)
	if err != nil {
		t.Fatal(err)
	}
	if src != filepath.Join(b.Dir, "module") {
		t.Errorf("module copy at %s, want %s", src, filepath.Join(b.Dir, "module"))
	}
	got, _ := os.ReadFile(calls)
	ws := filepath.Join(cache, "webui", "t-ok.partial", "module", "web", "ui")
	want := ws + "|ci --engine-strict --ignore-scripts --no-audit --no-fund|offline=\n" +
		ws + "|run build -w @t/lib|offline=true\n" +
		ws + "|run build -w @t/app|offline=true\n"
	if string(got) != want {
		t.Errorf("npm calls:\n%s\nwant\n%s", got, want)
	}
	list, err := os.ReadFile(filepath.Join(src, "web", "ui", "embed.list"))
	if err != nil || string(list) != "static/app/assets/a.js\nstatic/app/index.html\n" {
		t.Errorf("compress saw %q (%v); want the app's output under static/app", list, err)
	}
	for _, gone := range []string{"web/ui/app/dist", "web/ui/node_modules", "web/ui/module/lib/node_modules"} {
		if _, err := os.Stat(filepath.Join(src, filepath.FromSlash(gone))); err == nil {
			t.Errorf("%s is still in the cached module copy", gone)
		}
	}
	if _, err := os.Stat(b.Dir + ".partial"); err == nil {
		t.Error("the .partial build directory is left behind")
	}
	for _, s := range []string{"step=\"npm ci\"", "step=\"build @t/app\"", "step=compress", "max_rss_mib="} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("progress log lacks %s:\n%s", s, logs.String())
		}
	}
	if !strings.Contains(logw.String(), "added 2 packages") || !strings.Contains(logw.String(), "+ (cd "+ws+" && npm ci") {
		t.Errorf("build log lacks the commands or their output:\n%s", logw.String())
	}

	// Cached: a second build runs nothing.
	if _, err := newBuild("t-ok").build(ctx, &logw, log); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(calls); string(again) != want {
		t.Errorf("a cached UI was built again:\n%s", again)
	}

	// A failing step: named, with its output's last lines; nothing of the build stays.
	t.Setenv("FAKE_NPM_FAIL", "1")
	bad := newBuild("t-fail")
	_, err = bad.build(ctx, &logw, log)
	if err == nil {
		t.Fatal("a failing app build passed")
	}
	for _, s := range []string{`step "build @t/app"`, "npm run build -w @t/app", "exit status 3", "vite: transforming...", "error: the app does not compile"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
	for _, d := range []string{bad.Dir, bad.Dir + ".partial"} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("a failed build left %s in the cache", d)
		}
	}
}

func TestWebUIKeyFollowsItsInputs(t *testing.T) {
	c := prometheusComponent(t)
	lock := []byte(`{"lockfileVersion": 3}`)
	node := nodeJS{Version: "v20.20.2", NPM: "11.19.1"}
	k := uiInputsHash(*c.UI, "m@v1", lock, node)
	if k2 := uiInputsHash(*c.UI, "m@v1", append([]byte(nil), lock...), node); k2 != k {
		t.Errorf("same inputs gave keys %s and %s", k, k2)
	}
	changed := map[string]string{
		"lockfile":       uiInputsHash(*c.UI, "m@v1", []byte(`{"lockfileVersion": 3, "packages": {}}`), node),
		"Node's version": uiInputsHash(*c.UI, "m@v1", lock, nodeJS{Version: "v22.21.1", NPM: "11.19.1"}),
		"npm's version":  uiInputsHash(*c.UI, "m@v1", lock, nodeJS{Version: "v20.20.2", NPM: "10.9.4"}),
		"module version": uiInputsHash(*c.UI, "m@v2", lock, node),
		"recipe":         uiInputsHash(webUI{Dir: "web/ui"}, "m@v1", lock, node),
	}
	for what, k2 := range changed {
		if k2 == k {
			t.Errorf("a changed %s kept the web UI key %s", what, k)
		}
	}

	// The bundle's key covers the UI's.
	ctx := context.Background()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := pinSet{byDir: map[string]string{"prometheus": "v3.10.0"}, Kubernetes: "v1.34.2"}
	s := versions.Default()
	b1, err := cacheKey(ctx, src, p, s, []*uiBuild{{Key: "prometheus-v3.10.0-" + k}})
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := cacheKey(ctx, src, p, s, []*uiBuild{{Key: "prometheus-v3.10.0-" + changed["Node's version"]}})
	if b1 == b2 {
		t.Error("the bundle's cache key ignores the web UI's")
	}
}

func TestReplaceModule(t *testing.T) {
	comp := t.TempDir()
	os.WriteFile(filepath.Join(comp, "go.mod"), []byte("module x\n\ngo 1.26.0\n\nrequire example.com/m v1.0.0\n"), 0o644)
	os.WriteFile(filepath.Join(comp, "go.sum"), []byte("example.com/m v1.0.0 h1:x=\n"), 0o644)
	out := filepath.Join(t.TempDir(), "gen")
	dir, err := replaceModule(comp, "example.com/m", "/cache/webui/k/module", out)
	if err != nil || dir != out {
		t.Fatalf("replaceModule = %s, %v", dir, err)
	}
	cmd := exec.Command("go", "mod", "edit", "-json")
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Require []struct{ Path, Version string }
		Replace []struct {
			Old struct{ Path string }
			New struct{ Path string }
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Require) != 1 || m.Require[0].Version != "v1.0.0" || len(m.Replace) != 1 ||
		m.Replace[0].Old.Path != "example.com/m" || m.Replace[0].New.Path != "/cache/webui/k/module" {
		t.Errorf("generated go.mod: %s", b)
	}
	if sum, _ := os.ReadFile(filepath.Join(dir, "go.sum")); string(sum) != "example.com/m v1.0.0 h1:x=\n" {
		t.Errorf("go.sum = %q", sum)
	}
}

// TestPrometheusUIBuildWithoutRegistry runs the real recipe with the real npm on the Prometheus
// module, with npm's registry at a loopback port where nothing listens and an empty npm cache:
// npm ci fails, and the error must say so (the step, the command, npm's own last lines), with
// nothing of the build left in the cache. It also shows that npm fetches the lockfile's
// packages from the configured registry, not from the registry.npmjs.org URLs the lockfile has.
func TestPrometheusUIBuildWithoutRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("copies the Prometheus module and runs npm; not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := prometheusComponent(t)
	r, err := resolveModule(ctx, filepath.Join("..", "..", "tools", "k8sbuild", c.Dir), c.Module)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	u, _, err := planWebUI(ctx, c, r.Version, r.Dir, cache)
	if err != nil {
		t.Skipf("no Node/npm to run the recipe with: %v", err)
	}
	if u.Node.Package != "" {
		t.Skipf("this machine's Node is too old for the UI (%s); TestPinnedNodeFromTheNPMRegistry covers that path", u.Node)
	}
	registry := "http://" + freeLoopbackAddr(t) + "/"
	t.Setenv("npm_config_registry", registry)
	t.Setenv("npm_config_cache", t.TempDir())
	t.Setenv("npm_config_fetch_retries", "0")
	var logw bytes.Buffer
	_, err = u.build(ctx, &logw, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("npm ci without a registry passed")
	}
	t.Logf("the error a user sees (with the log's path added by the bundle build):\n%v", err)
	for _, s := range []string{`web UI of prometheus: step "npm ci"`, "npm ci --engine-strict --ignore-scripts", "ECONNREFUSED",
		"request to " + registry} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(cache, "webui"))
	for _, e := range entries {
		t.Errorf("a failed build left %s in the cache", e.Name())
	}
}
