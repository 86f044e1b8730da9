package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/addons"
	"github.com/meshlab/meshlab/addons/dashboard"
)

func init() { subcommands = append(subcommands, newDashboardCmd) }

type dashboardFlags struct {
	source              labSource
	prometheus, grafana string
	target              dashboard.Target
	vars                []string
}

func newDashboardCmd(g *globalOptions) *cobra.Command {
	f := &dashboardFlags{}
	cmd := &cobra.Command{
		Use:   "dashboard [NAME] [--lab NAME | --hosts FILE | --prometheus URL [--grafana URL]]",
		Short: "List meshlab's dashboards, each panel as a link (to Prometheus's graphs, or to Grafana)",
		Long: `Lists the panels of meshlab's Grafana dashboards (all of them, or NAME: meshlab-mesh,
meshlab-service, meshlab-workload, meshlab-control-plane) as links. Without Grafana (the offline
lab) each link opens the panel's queries as graphs in Prometheus's own UI; with Grafana the
links go to the panel in Grafana.

Grafana's interval variables ($__rate_interval, $__interval) become --window, $__range becomes
--range; a dashboard variable ($service, $workload) matches every value unless --var gives one.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runDashboard(cmd, g, f, args) },
	}
	fl := cmd.Flags()
	f.source.bind(cmd)
	fl.StringVar(&f.prometheus, "prometheus", "", "Prometheus's URL (instead of --lab or --hosts)")
	fl.StringVar(&f.grafana, "grafana", "", "Grafana's URL: link to Grafana instead of Prometheus")
	cmd.MarkFlagsMutuallyExclusive("prometheus", "hosts")
	cmd.MarkFlagsMutuallyExclusive("prometheus", "lab")
	fl.DurationVar(&f.target.Range, "range", time.Hour, "time range of the graphs")
	fl.DurationVar(&f.target.Window, "window", time.Minute, "what $__rate_interval and $__interval become")
	fl.StringArrayVar(&f.vars, "var", nil, "a dashboard variable's value, NAME=VALUE (repeatable), e.g. service=reviews.bookinfo.svc.cluster.local")
	return cmd
}

func runDashboard(cmd *cobra.Command, g *globalOptions, f *dashboardFlags, args []string) error {
	ds, err := dashboard.Embedded()
	if err != nil {
		return err
	}
	if len(args) == 1 {
		d, err := dashboard.Find(ds, args[0])
		if err != nil {
			return badInput(err)
		}
		ds = []dashboard.Dashboard{d}
	}
	t := f.target
	t.Vars = map[string]string{}
	for _, v := range f.vars {
		name, val, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return badInput(fmt.Errorf("--var %q: want NAME=VALUE", v))
		}
		t.Vars[strings.TrimPrefix(name, "$")] = val
	}
	t.Prometheus, t.Grafana = f.prometheus, f.grafana
	if t.Prometheus == "" {
		if !f.source.given() {
			return badInput(errNoLab)
		}
		e, lab, err := f.source.endpoints(cmd, g)
		if err != nil {
			return badInput(err)
		}
		t.Prometheus = e.Prometheus
		// Grafana's links only when the lab runs Grafana: offline it is never in the bundle.
		if t.Grafana == "" && slices.Contains(lab.Components.Addons, addons.Grafana) && answers(cmd.Context(), e.Grafana+"/api/health") {
			t.Grafana = e.Grafana
		}
	}
	if g.output == "json" {
		type entry struct {
			Name, Title string
			All         dashboard.Link
			Panels      []dashboard.Link
		}
		var out []entry
		for _, d := range ds {
			out = append(out, entry{d.Name(), d.Title, dashboard.DashboardLink(d, t), dashboard.PanelLinks(d, t)})
		}
		return writeJSON(cmd.OutOrStdout(), out)
	}
	_, err = io.WriteString(cmd.OutOrStdout(), dashboard.Text(ds, t))
	return err
}
