package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// webUIRecipe changes whenever buildWebUI builds differently from the same inputs, so that old
// UI builds in the cache are not reused.
const webUIRecipe = "meshlab-webui-recipe-1"

// webUI says how a component's web UI is built with npm from the component's own Go module and
// embedded in its binary. Prometheus keeps its React app's source and package-lock.json in the
// module (web/ui) but not the built files: upstream's release tarballs and images carry those.
type webUI struct {
	Dir      string   // the npm workspace root, relative to the module root
	Modules  []string // workspaces the app imports, built first, in this order
	App      string   // the app's workspace
	Dist     string   // the app's build output, relative to Dir
	Static   string   // where the Go embed expects that output, relative to Dir
	Compress []string // run in the module root: gzips the assets and writes the go:embed list
	Tag      string   // the build tag that embeds the assets
}

// uiStep is one step of a UI build, run in Dir (relative to the module copy): a command, or
// (Args empty) the rename of Move[0] to Move[1].
type uiStep struct {
	Name   string
	Dir    string
	Args   []string
	Move   [2]string
	Online bool // talks to the npm registry; every other step runs with npm offline
}

// steps is the recipe: install exactly the lockfile (engines enforced, no install scripts, so
// no package can fetch a browser or a binary from anywhere), build the modules then the app,
// put its output where the Go embed looks, and compress it.
func (u webUI) steps() []uiStep {
	s := []uiStep{{
		Name: "npm ci", Dir: u.Dir, Online: true,
		Args: []string{"npm", "ci", "--engine-strict", "--ignore-scripts", "--no-audit", "--no-fund"},
	}}
	for _, w := range append(append([]string(nil), u.Modules...), u.App) {
		s = append(s, uiStep{Name: "build " + w, Dir: u.Dir, Args: []string{"npm", "run", "build", "-w", w}})
	}
	return append(s,
		uiStep{Name: "move " + u.Dist, Dir: u.Dir, Move: [2]string{u.Dist, u.Static}},
		uiStep{Name: "compress", Dir: ".", Args: u.Compress},
	)
}

// uiBuild is one planned UI build: the recipe, the module source it starts from, the Node that
// runs it, and where its result is cached (<cache root>/webui/<key>).
type uiBuild struct {
	UI        webUI
	Component string
	Module    string // module path, the target of the generated go.mod's replace
	ModuleDir string // the module's source in the module cache (read-only)
	Node      nodeJS
	Key       string // <component>-<release>-<hash of every input>
	Dir       string
}

// planWebUI decides how c's UI is built: which Node (see chooseNode), and the cache key, which
// hashes the recipe, the module version, the lockfile and the Node and npm versions. notes say
// why a pinned Node is used instead of the machine's.
func planWebUI(ctx context.Context, c component, modVersion, moduleDir, cacheRoot string) (*uiBuild, []string, error) {
	ws := filepath.Join(moduleDir, filepath.FromSlash(c.UI.Dir))
	lock, err := os.ReadFile(filepath.Join(ws, "package-lock.json"))
	if err != nil {
		return nil, nil, fmt.Errorf("web UI of %s: %w", c.Dir, err)
	}
	nvmrc, err := os.ReadFile(filepath.Join(ws, ".nvmrc"))
	if err != nil {
		return nil, nil, fmt.Errorf("web UI of %s: %w", c.Dir, err)
	}
	machine, err := machineTool(ctx, "node")
	if err != nil {
		return nil, nil, fmt.Errorf("web UI of %s: %w", c.Dir, err)
	}
	npm, err := machineTool(ctx, "npm")
	if err != nil {
		return nil, nil, fmt.Errorf("web UI of %s: %w", c.Dir, err)
	}
	node, notes, err := chooseNode(machine, npm, lock, string(nvmrc), cacheRoot)
	if err != nil {
		return nil, nil, fmt.Errorf("web UI of %s: %w", c.Dir, err)
	}
	b := &uiBuild{UI: *c.UI, Component: c.Dir, Module: c.Module, ModuleDir: moduleDir, Node: node}
	b.Key = c.Dir + "-" + c.release(modVersion) + "-" + uiInputsHash(*c.UI, c.Module+"@"+modVersion, lock, node)
	b.Dir = filepath.Join(cacheRoot, "webui", b.Key)
	return b, notes, nil
}

// uiInputsHash hashes everything a UI build's output depends on besides its source, which the
// module version pins (go.sum checks the module zip).
func uiInputsHash(u webUI, module string, lock []byte, n nodeJS) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\nmodule=%s\nnode=%s\nnpm=%s\nsteps=%#v\ntag=%s\nlock=", webUIRecipe, module, n.Version, n.NPM, u.steps(), u.Tag)
	h.Write(lock)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// moduleCopy is where the built UI's module copy lives once done.
func (b *uiBuild) moduleCopy() string { return filepath.Join(b.Dir, "module") }

// build returns the module copy with the built, compressed UI assets and the generated embed
// list, building it first unless the cache has it. The build happens in <Dir>.partial and is
// renamed into place only when every step passed; a failed build removes its .partial, so the
// cache never holds a half-built UI. Command output goes to logw; each step's time and peak
// memory to log.
func (b *uiBuild) build(ctx context.Context, logw io.Writer, log *slog.Logger) (string, error) {
	done := filepath.Join(b.Dir, ".done")
	if _, err := os.Stat(done); err == nil {
		log.Info("web UI found in cache", "component", b.Component, "cache", b.Dir)
		return b.moduleCopy(), nil
	}
	log.Info("building web UI", "component", b.Component, "node", b.Node.String(), "npm", b.Node.NPM, "cache", b.Dir)
	if err := ensureNode(ctx, b.Node, logw); err != nil {
		return "", fmt.Errorf("web UI: %w", err)
	}
	partial := b.Dir + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return "", fmt.Errorf("web UI: %w", err)
	}
	defer os.RemoveAll(partial)
	src := filepath.Join(partial, "module")
	// The module cache is read-only and npm writes node_modules and dist into the workspace.
	if err := os.CopyFS(src, os.DirFS(b.ModuleDir)); err != nil {
		return "", fmt.Errorf("web UI: copy %s: %w", b.ModuleDir, err)
	}
	for _, s := range b.UI.steps() {
		start := time.Now()
		dir := filepath.Join(src, filepath.FromSlash(s.Dir))
		var maxRSS int64
		if len(s.Args) == 0 {
			from, to := filepath.Join(dir, filepath.FromSlash(s.Move[0])), filepath.Join(dir, filepath.FromSlash(s.Move[1]))
			fmt.Fprintf(logw, "+ mv %s %s\n", from, to)
			if err := moveDir(from, to); err != nil {
				return "", fmt.Errorf("web UI of %s: step %q: %w", b.Component, s.Name, err)
			}
		} else {
			u, err := runLogged(ctx, dir, npmEnv(b.Node, !s.Online), s.Args, logw)
			if err != nil {
				return "", fmt.Errorf("web UI of %s: step %q: %w", b.Component, s.Name, err)
			}
			maxRSS = u
		}
		log.Info("web UI step done", "component", b.Component, "step", s.Name,
			"took", time.Since(start).Round(100*time.Millisecond), "max_rss_mib", maxRSS>>20)
	}
	// node_modules is hundreds of MiB that nothing reads after the build.
	if err := removeNodeModules(filepath.Join(src, filepath.FromSlash(b.UI.Dir))); err != nil {
		return "", fmt.Errorf("web UI: %w", err)
	}
	if err := os.WriteFile(filepath.Join(partial, ".done"), []byte(b.Key+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("web UI: %w", err)
	}
	if err := os.RemoveAll(b.Dir); err != nil {
		return "", fmt.Errorf("web UI: %w", err)
	}
	if err := os.Rename(partial, b.Dir); err != nil {
		return "", fmt.Errorf("web UI: %w", err)
	}
	return b.moduleCopy(), nil
}

// replaceModule writes a module that is compDir's go.mod and go.sum plus a replace of module by
// src into dir, and returns dir: building there compiles the same versions of everything, with
// the module's source taken from src (which holds the built UI).
func replaceModule(compDir, module, src, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	mod, err := os.ReadFile(filepath.Join(compDir, "go.mod"))
	if err != nil {
		return "", err
	}
	sum, err := os.ReadFile(filepath.Join(compDir, "go.sum"))
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", err
	}
	mod = append(bytes.TrimRight(mod, "\n"), fmt.Sprintf("\n\n// Generated by meshlab: the module's source with its web UI built.\nreplace %s => %s\n", module, abs)...)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), mod, 0o644); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644)
}

// runLogged runs args in dir with env, its output appended to logw (after a "+ (cd dir && ...)"
// line) and, on failure, its last lines in the error. It returns the peak resident memory of
// the largest process it waited for, in bytes. The command runs in its own process group, and
// the whole group is killed when ctx ends: npm leaves node children (vite, tsc) behind otherwise.
func runLogged(ctx context.Context, dir string, env, args []string, logw io.Writer) (int64, error) {
	fmt.Fprintf(logw, "+ (cd %s && %s)\n", dir, strings.Join(quoteArgs(args), " "))
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(logw, &out)
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	var maxRSS int64
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			maxRSS = ru.Maxrss << 10 // KiB on Linux
		}
	}
	if err != nil {
		return maxRSS, fmt.Errorf("%s (in %s): %w; last lines:\n%s", strings.Join(args, " "), dir, err, tail(out.String(), 20))
	}
	return maxRSS, nil
}

// moveDir renames from to to, replacing what was at to.
func moveDir(from, to string) error {
	if _, err := os.Stat(from); err != nil {
		return fmt.Errorf("the build left no %s: %w", from, err)
	}
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.Rename(from, to)
}

// removeNodeModules deletes every node_modules directory under dir.
func removeNodeModules(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() != "node_modules" {
			return err
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		return filepath.SkipDir
	})
}
