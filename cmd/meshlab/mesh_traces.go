package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/addons/traces"
)

func init() { registerIn("mesh", newMeshTracesCmd) }

type meshTracesFlags struct {
	source  labSource
	tracing string
	query   traces.Query
	timeout time.Duration
}

func newMeshTracesCmd(g *globalOptions) *cobra.Command {
	f := &meshTracesFlags{}
	cmd := &cobra.Command{
		Use:   "traces [TRACE_ID] [--lab NAME | --hosts FILE | --tracing URL]",
		Short: "List recent traces and show one as a waterfall of its spans",
		Long: `Reads the lab's tracing backend (Zipkin's v2 API, or Jaeger's query API: the offline lab runs
Jaeger on Zipkin's Service and NodePort) and lists recent traces: root service and operation,
spans, duration and failed spans. Then it shows the newest trace, or TRACE_ID, as a waterfall:
each span under its parent with service, operation, start offset, duration, status and its
place on the trace's timeline. --output json prints the traces' data.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runMeshTraces(cmd, g, f, args) },
	}
	fl := cmd.Flags()
	f.source.bind(cmd)
	fl.StringVar(&f.tracing, "tracing", "", "the tracing backend's URL (instead of --lab or --hosts), e.g. http://10.0.0.11:30001")
	cmd.MarkFlagsMutuallyExclusive("tracing", "hosts")
	cmd.MarkFlagsMutuallyExclusive("tracing", "lab")
	fl.StringVar(&f.query.Service, "service", "", "only traces through this service, e.g. productpage.bookinfo")
	fl.IntVar(&f.query.Limit, "limit", 20, "at most this many traces")
	fl.DurationVar(&f.query.Lookback, "lookback", time.Hour, "how far back to look")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the backend")
	return cmd
}

func runMeshTraces(cmd *cobra.Command, g *globalOptions, f *meshTracesFlags, args []string) error {
	base := f.tracing
	if base == "" {
		if !f.source.given() {
			return badInput(errNoLab)
		}
		e, _, err := f.source.endpoints(cmd, g)
		if err != nil {
			return badInput(err)
		}
		base = e.Tracing
	}
	if f.query.Limit < 1 {
		return badInput(fmt.Errorf("--limit %d: want at least 1", f.query.Limit))
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	c := traces.Client{Base: base}
	w := cmd.OutOrStdout()
	if len(args) == 1 {
		t, _, err := c.Trace(ctx, args[0])
		if err != nil {
			return err
		}
		if g.output == "json" {
			return writeJSON(w, t)
		}
		_, err = io.WriteString(w, traces.Waterfall(t))
		return err
	}
	ts, backend, err := c.Recent(ctx, f.query)
	if err != nil {
		return err
	}
	if g.output == "json" {
		return writeJSON(w, ts)
	}
	out := traces.List(ts, backend)
	if len(ts) > 0 {
		out += "\nnewest trace (meshlab mesh traces ID shows another):\n" + traces.Waterfall(ts[0])
	}
	_, err = io.WriteString(w, out)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
