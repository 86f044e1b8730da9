package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/mesh/pilot"
	"github.com/meshlab/meshlab/mesh/pilot/filereg"
	"github.com/meshlab/meshlab/mesh/pilot/kubereg"
	"github.com/meshlab/meshlab/mesh/pilot/server"
)

func init() {
	registerIn("mesh", newMeshPilotCmd)
}

// newMeshPilotCmd is `meshlab mesh pilot`: the control plane.
func newMeshPilotCmd(g *globalOptions) *cobra.Command {
	var (
		opts       pilot.Options
		registry   string
		kubeconfig string
		files      []string
	)
	cmd := &cobra.Command{
		Use:   "pilot --registry file --config FILE...",
		Short: "Run the control plane: xDS over ADS on 15010, metrics and /debug/status on 15014",
		Long: `Runs meshlab's control plane. It renders the mesh's routing per proxy into xDS v3 resources
(listeners, routes, clusters, endpoints) and serves them over ADS; sidecars started with
'meshlab mesh proxy --xds ADDR' take their config from it. Pushes are debounced (100 ms quiet,
1 s at most); 'meshlab mesh status' lists every proxy as SYNCED, STALE or NACKED.
With --registry file the mesh is read from the --config files (Registry, VirtualService,
DestinationRule, RouteRule documents; docs/proxy-config.md), which are watched.`,
		Example: `  meshlab mesh pilot --registry file --config registry.yaml --config destination-rule-all.yaml --config routes.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if g.verbose > 0 {
				level = slog.LevelDebug
			}
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			switch registry {
			case "file":
				if len(files) == 0 {
					return badInput(errors.New("--registry file needs at least one --config file"))
				}
				opts.Registry = &filereg.Registry{Files: files, Logger: opts.Logger}
			case "kubernetes":
				cfg, err := loadCluster(cmd, kubeconfig, "") // in a pod: the service account's config
				if err != nil {
					return err
				}
				reg, err := kubereg.New(cfg.REST, kubereg.Options{Log: opts.Logger})
				if err != nil {
					return err
				}
				opts.Registry = reg
			default:
				return badInput(fmt.Errorf("--registry %q: want file or kubernetes", registry))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return pilot.Run(ctx, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&registry, "registry", "file", "where the mesh comes from: file or kubernetes")
	addKubeconfigFlag(fl, &kubeconfig)
	fl.StringArrayVar(&files, "config", nil, "config file for --registry file (repeatable)")
	fl.StringVar(&opts.GRPCAddr, "grpc", server.DefaultGRPCAddr, "ADS listen address")
	fl.StringVar(&opts.DebugAddr, "debug", server.DefaultDebugAddr, "metrics and /debug/status listen address")
	return cmd
}
