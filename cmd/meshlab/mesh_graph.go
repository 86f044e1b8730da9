package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/addons/graph"
	"github.com/meshlab/meshlab/cmd/meshlab/tui/live"
	"github.com/meshlab/meshlab/lab/stack"
	"github.com/meshlab/meshlab/provision/inventory"
)

func init() { registerIn("mesh", newMeshGraphCmd) }

type meshGraphFlags struct {
	source     labSource
	prometheus string
	opts       graph.Options
	interval   time.Duration
	once       bool
	output     string
	out        string
}

func newMeshGraphCmd(g *globalOptions) *cobra.Command {
	f := &meshGraphFlags{}
	cmd := &cobra.Command{
		Use:   "graph [--lab NAME | --hosts FILE | --prometheus URL]",
		Short: "Show the live service graph: workloads and their calls with rate, errors and p99",
		Long: `Draws the mesh's traffic from the lab's Prometheus: each workload a node, each caller→callee
pair an edge with requests per second, the share answered 5xx and the 99th percentile duration
over --window (from istio_requests_total and istio_request_duration_milliseconds). A call that
stopped longer than --window ago leaves the graph.

In a terminal it refreshes every --interval (q quits); with --once, or when the output is not
a terminal, it prints the graph once. --output dot writes Graphviz source; --output svg|png a
picture laid out by Graphviz, drawn by meshlab-graphviz (make build puts it next to meshlab;
Graphviz compiled to WebAssembly, nothing else to install), to --out or standard output;
--output json the data.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMeshGraph(cmd, g, f) },
	}
	fl := cmd.Flags()
	f.source.bind(cmd)
	fl.StringVar(&f.prometheus, "prometheus", "", "Prometheus's URL (instead of --lab or --hosts), e.g. http://10.0.0.11:30003")
	cmd.MarkFlagsMutuallyExclusive("prometheus", "hosts")
	cmd.MarkFlagsMutuallyExclusive("prometheus", "lab")
	fl.DurationVar(&f.opts.Window, "window", graph.DefaultWindow, "how far back rates and percentiles look")
	fl.StringVarP(&f.opts.Namespace, "namespace", "n", "", "only calls from or to this namespace")
	fl.DurationVar(&f.interval, "interval", 5*time.Second, "refresh period of the live view")
	fl.BoolVar(&f.once, "once", false, "print the graph once instead of refreshing")
	// Shadows the global --output (text|json) for this command, which also draws pictures.
	fl.StringVar(&f.output, "output", "text", "text, json, dot, svg or png")
	fl.StringVar(&f.out, "out", "", "write the output to this file (default standard output)")
	return cmd
}

// prometheusURL is --prometheus, or the lab's Prometheus NodePort.
func (f *meshGraphFlags) prometheusURL(cmd *cobra.Command, g *globalOptions) (string, error) {
	if f.prometheus != "" {
		return f.prometheus, nil
	}
	if !f.source.given() {
		return "", errNoLab
	}
	e, _, err := f.source.endpoints(cmd, g)
	return e.Prometheus, err
}

func runMeshGraph(cmd *cobra.Command, g *globalOptions, f *meshGraphFlags) error {
	switch f.output {
	case "text", "json", "dot", "svg", "png":
	default:
		return badInput(fmt.Errorf("--output %q: want text, json, dot, svg or png", f.output))
	}
	if f.opts.Window < time.Second {
		return badInput(fmt.Errorf("--window %s: want at least 1s", f.opts.Window))
	}
	base, err := f.prometheusURL(cmd, g)
	if err != nil {
		return badInput(err)
	}
	q, err := graph.NewQuerier(base)
	if err != nil {
		return badInput(err)
	}
	fetch := func(ctx context.Context) (graph.Graph, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		o := f.opts
		return graph.Fetch(ctx, q, o)
	}
	w := cmd.OutOrStdout()
	if f.output == "text" && !f.once && f.out == "" && isTerminal(w) && isTerminal(cmd.InOrStdin()) {
		m := live.New(live.Options{Title: "meshlab mesh graph · " + base, Interval: f.interval, Context: cmd.Context(),
			Fetch: func(ctx context.Context) (string, error) {
				gr, err := fetch(ctx)
				return graph.Text(gr), err
			}})
		_, err := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(cmd.Context())).Run()
		return err
	}
	gr, err := fetch(cmd.Context())
	if err != nil {
		return err
	}
	var data []byte
	switch f.output {
	case "text":
		data = []byte(graph.Text(gr))
	case "json":
		if data, err = json.MarshalIndent(gr, "", "  "); err != nil {
			return err
		}
		data = append(data, '\n')
	case "dot":
		data = []byte(graph.DOT(gr))
	default:
		if f.out == "" && f.output == "png" && isTerminal(w) {
			return badInput(fmt.Errorf("--output png: not to a terminal; add --out FILE or redirect"))
		}
		if data, err = drawPicture(cmd.Context(), graph.DOT(gr), f.output); err != nil {
			return err
		}
	}
	return writeOut(w, f.out, data)
}

// graphvizEnv names the picture helper explicitly (tests, unusual installs).
const graphvizEnv = "MESHLAB_GRAPHVIZ"

// drawPicture runs meshlab-graphviz (next to this binary, else on PATH) on the DOT source.
// Pictures are drawn in that separate program because go-graphviz's package init would cost
// every meshlab process memory and start-up time (addons/graph/picture says why).
func drawPicture(ctx context.Context, dot, format string) ([]byte, error) {
	helper, err := findGraphviz()
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	c := exec.CommandContext(ctx, helper, format)
	c.Stdin, c.Stdout, c.Stderr = strings.NewReader(dot), &stdout, &stderr
	if err := c.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", helper, format, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func findGraphviz() (string, error) {
	if p := os.Getenv(graphvizEnv); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "meshlab-graphviz")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("meshlab-graphviz"); err == nil {
		return p, nil
	}
	return "", errors.New("pictures are drawn by meshlab-graphviz, which is neither next to meshlab nor on PATH: " +
		"`make build` puts it in bin/ (or go build ./cmd/meshlab-graphviz); --output dot needs nothing")
}

// writeOut writes data to path, or to w when path is "".
func writeOut(w io.Writer, path string, data []byte) error {
	if path == "" {
		_, err := w.Write(data)
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// labGraphText is the wizard's graph block: the lab's graph as text, from its Prometheus.
func labGraphText(ctx context.Context, lab *inventory.Lab) (string, error) {
	q, err := graph.NewQuerier(stack.LabEndpoints(lab).Prometheus)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	gr, err := graph.Fetch(ctx, q, graph.Options{})
	if err != nil {
		return "", err
	}
	return graph.Text(gr), nil
}
