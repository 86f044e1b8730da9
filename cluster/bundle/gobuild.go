package bundle

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// resolved is a component's pinned module as its go.mod resolves it.
type resolved struct {
	Version string // e.g. v1.34.2
	Dir     string // the module's source in the module cache (for files such as kube-flannel.yml)
}

// goEnv is the environment of every go command the driver runs: static binaries, and the
// component's own go.mod, never a go.work found further up the tree. Build tags are passed on
// the command line (component.tags), which would override a -tags in GOFLAGS anyway.
func goEnv(cgo bool) []string {
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	if cgo {
		return append(env, "CGO_ENABLED=1")
	}
	return append(env, "CGO_ENABLED=0")
}

// resolveModule asks the go command which version of module dir's go.mod selects, and where
// its source is. `go list -m` reports a Dir only for a module already in the module cache, so on
// a fresh machine (empty GOMODCACHE) it is empty; `go mod download` then fetches the selected
// version and reports where it put it. Callers read files from Dir (kube-flannel.yml), so an
// empty Dir is an error here, never a path relative to the working directory.
func resolveModule(ctx context.Context, dir, module string) (resolved, error) {
	var m struct{ Version, Dir, Error string }
	if err := goJSON(ctx, dir, &m, "list", "-m", "-json", module); err != nil {
		return resolved{}, err
	}
	if m.Version == "" {
		return resolved{}, fmt.Errorf("go list -m %s in %s: no version (is it required in go.mod?)", module, dir)
	}
	if m.Dir == "" {
		if err := goJSON(ctx, dir, &m, "mod", "download", "-json", module+"@"+m.Version); err != nil {
			return resolved{}, err
		}
		if m.Error != "" || m.Dir == "" {
			return resolved{}, fmt.Errorf("go mod download %s@%s in %s: %s (is the Go module proxy reachable?)", module, m.Version, dir, cmp.Or(m.Error, "no directory reported"))
		}
	}
	return resolved{Version: m.Version, Dir: m.Dir}, nil
}

// goJSON runs `go ARGS` in dir and decodes its JSON output into v.
func goJSON(ctx context.Context, dir string, v any, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, goEnv(false)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	what := "go " + strings.Join(args, " ")
	if err != nil {
		return fmt.Errorf("%s in %s: %w: %s", what, dir, err, tail(stderr.String(), 10))
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("%s in %s: %w", what, dir, err)
	}
	return nil
}

// goBuild builds binary b of component c, release version, from module directory dir into
// out, appending the go command's output to logw. The Go build cache makes a repeated build
// cost only the link.
func goBuild(ctx context.Context, dir string, c component, b binary, version, out string, logw io.Writer) error {
	args := []string{"build", "-trimpath", "-ldflags", c.ldflags(version)}
	if tags := c.tags(); len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "-o", out, b.Pkg)
	fmt.Fprintf(logw, "+ (cd %s && CGO_ENABLED=%d go %s)\n", dir, map[bool]int{false: 0, true: 1}[c.Cgo], strings.Join(quoteArgs(args), " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = dir, goEnv(c.Cgo)
	var stderr bytes.Buffer
	cmd.Stdout = logw
	cmd.Stderr = io.MultiWriter(logw, &stderr)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (in %s): %w: %s", b.Pkg, dir, err, tail(stderr.String(), 15))
	}
	return nil
}

// buildComponent builds every binary of c into its cache directory. A component whose stamp
// file exists was built completely before and is skipped. A component with a web UI (ui, nil
// for the others) is built from a generated module that replaces its upstream module by the
// copy holding the built UI, so its go.mod still pins every other version.
func buildComponent(ctx context.Context, srcDir, cache string, c component, version string, ui *uiBuild, logw io.Writer, log *slog.Logger) error {
	if c.built(cache) {
		return nil
	}
	out := c.binDir(cache)
	stamp := c.stamp(cache)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dir := filepath.Join(srcDir, c.Dir)
	if ui != nil {
		src, err := ui.build(ctx, logw, log)
		if err != nil {
			return fmt.Errorf("component %s: %w", c.Dir, err)
		}
		if dir, err = replaceModule(dir, c.Module, src, filepath.Join(cache, "work", c.Dir+"-with-ui")); err != nil {
			return fmt.Errorf("component %s: %w", c.Dir, err)
		}
	}
	for _, b := range c.Bins {
		if err := goBuild(ctx, dir, c, b, version, filepath.Join(out, b.Name), logw); err != nil {
			return fmt.Errorf("component %s: %w", c.Dir, err)
		}
	}
	return os.WriteFile(stamp, []byte(version+"\n"), 0o644)
}

// stamp marks a component whose binaries were all built.
func (c component) stamp(cache string) string { return filepath.Join(c.binDir(cache), ".done") }

// built says whether every binary of c is in the cache already.
func (c component) built(cache string) bool {
	_, err := os.Stat(c.stamp(cache))
	return err == nil
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"'") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

// tail returns the last n lines of s, for error messages that must stay readable.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
