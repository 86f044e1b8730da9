package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/mesh/analyze"
	"github.com/meshlab/meshlab/mesh/pilot/kubereg"
	"github.com/meshlab/meshlab/mesh/pilot/model"
)

func init() {
	registerIn("mesh", newMeshAnalyzeCmd)
}

// errFindings makes `mesh analyze` exit non-zero when it found errors, for CI scripts.
var errFindings = errors.New("analysis found errors")

func newMeshAnalyzeCmd(g *globalOptions) *cobra.Command {
	var (
		files      []string
		kubeconfig string
		useKube    bool
		namespace  string
		timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "analyze [-f FILE]... [--use-kube=false]",
		Short: "Find routing mistakes: undefined subsets, hosts without a Service, rules that never match",
		Long: `Checks the mesh's routing as a whole. Reads the live cluster (Services, VirtualServices,
DestinationRules, RouteRules) and, with -f, files applied on top of it as 'kubectl apply' would
(--use-kube=false: the files alone; Kubernetes Services in them count). Reports, with the resource
and field:
  ML0101 Error    a route to a subset that no DestinationRule for its host defines
  ML0102 Error    a host that matches no Service
  ML0103 Warning  HTTP rules after a rule that matches every request
  ML0104 Warning  an HTTP rule with the same match as an earlier one
Exits 1 when there are errors.`,
		Example: `  meshlab mesh analyze
  meshlab mesh analyze -f virtual-service-reviews-v3.yaml
  meshlab mesh analyze --use-kube=false -f bookinfo.yaml -f destination-rule-all.yaml -f virtual-service-all-v1.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !useKube && len(files) == 0 {
				return badInput(errors.New("nothing to analyze: give -f FILE, or leave --use-kube on"))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			var st model.State
			if useKube {
				cfg, err := loadCluster(cmd, kubeconfig, "")
				if err != nil {
					return err
				}
				reg, err := kubereg.New(cfg.REST, kubereg.Options{})
				if err != nil {
					return err
				}
				if st, err = kubereg.Snapshot(ctx, reg); err != nil {
					return err
				}
			}
			if len(files) > 0 {
				fromFiles, err := analyze.FromFiles(files...)
				if err != nil {
					return badInput(err)
				}
				st = analyze.Overlay(st, fromFiles)
			}
			ms := analyze.Analyze(st)
			if namespace != "" {
				ms = inNamespace(ms, namespace)
			}
			if err := writeFindings(cmd, g, ms); err != nil {
				return err
			}
			if n := analyze.Errors(ms); n > 0 {
				return fmt.Errorf("%w: %d", errFindings, n)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&files, "filename", "f", nil, "YAML file of resources to analyze (repeatable)")
	addKubeconfigFlag(fl, &kubeconfig)
	fl.BoolVar(&useKube, "use-kube", true, "read the live cluster")
	fl.StringVarP(&namespace, "namespace", "n", "", "report only findings about resources in this namespace")
	fl.DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	return cmd
}

func inNamespace(ms []analyze.Message, ns string) []analyze.Message {
	var out []analyze.Message
	for _, m := range ms {
		if _, name, ok := strings.Cut(m.Resource, " "); ok && strings.HasPrefix(name, ns+"/") {
			out = append(out, m)
		}
	}
	return out
}

func writeFindings(cmd *cobra.Command, g *globalOptions, ms []analyze.Message) error {
	if g.output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if ms == nil {
			ms = []analyze.Message{}
		}
		return enc.Encode(ms)
	}
	return analyze.Write(cmd.OutOrStdout(), ms)
}
