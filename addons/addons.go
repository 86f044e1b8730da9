// Package addons installs the lab's observability addons — Zipkin (or Jaeger), Prometheus and
// Grafana — from Helm charts written for meshlab and embedded in the binary, through the Helm Go
// SDK used as a library (never the helm command): install or upgrade, wait with a timeout, roll
// back on failure, release history kept.
package addons

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// charts holds every chart's files; `all:` keeps files whose names start with "_" or ".".
//
//go:embed all:charts
var charts embed.FS

// Names of the addons, as the hosts file's components.addons lists them.
const (
	Zipkin     = "zipkin"
	Jaeger     = "jaeger"
	Prometheus = "prometheus"
	Grafana    = "grafana"
)

// Names returns every addon meshlab ships a chart for, sorted.
func Names() []string {
	entries, err := fs.ReadDir(charts, "charts")
	if err != nil {
		return nil // cannot happen: the directory is embedded
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Chart loads the embedded chart of the named addon.
func Chart(name string) (*chart.Chart, error) {
	root := path.Join("charts", name)
	if _, err := fs.Stat(charts, root); err != nil {
		return nil, fmt.Errorf("addon %q: no such chart (known: %s)", name, strings.Join(Names(), ", "))
	}
	var files []*loader.BufferedFile
	err := fs.WalkDir(charts, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := charts.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(p, root+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("addon %q: read chart: %w", name, err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("addon %q: load chart: %w", name, err)
	}
	return c, nil
}
