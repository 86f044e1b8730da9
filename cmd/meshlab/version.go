package main

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/provision/versions"
)

// version and commit are set at link time:
//
//	go build -ldflags "-X main.version=v0.1.0 -X main.commit=$(git rev-parse --short HEAD)"
//
// They are the only package-level variables here and are never written at run time.
var (
	version = "dev"
	commit  = ""
)

func init() {
	subcommands = append(subcommands, newVersionCmd)
}

func newVersionCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print meshlab's version and the pinned versions it installs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printVersion(cmd.OutOrStdout(), g.output == "json")
		},
	}
}

func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
	}
	return "unknown"
}

func printVersion(w io.Writer, asJSON bool) error {
	pins := flattenPins(reflect.ValueOf(versions.Default()), "")
	if asJSON {
		m := map[string]string{}
		for _, p := range pins {
			m[p[0]] = p[1]
		}
		return json.NewEncoder(w).Encode(map[string]any{
			"version": version, "commit": buildCommit(), "go": runtime.Version(), "pinned": m,
		})
	}
	fmt.Fprintf(w, "meshlab %s (commit %s, %s)\n\npinned versions:\n", version, buildCommit(), runtime.Version())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, p := range pins {
		fmt.Fprintf(tw, "  %s\t%s\n", p[0], p[1])
	}
	return tw.Flush()
}

// flattenPins lists every string field of the versions table as {yaml.path, value}, in field
// order, so the table grows by itself when a pin is added.
func flattenPins(v reflect.Value, prefix string) [][2]string {
	var out [][2]string
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		switch fv := v.Field(i); fv.Kind() {
		case reflect.Struct:
			out = append(out, flattenPins(fv, prefix+name+".")...)
		case reflect.String:
			out = append(out, [2]string{prefix + name, fv.String()})
		}
	}
	return out
}
