package sidecarcmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/mesh/capture"
)

// InitCommand is the capture init container: `meshlab mesh init` and `meshlab-proxy init`. Flags
// mirror istio-iptables (-p -z -u -g -m -i -x -b -d -o) so that istio-init's arguments carry over.
func InitCommand(w Wiring) *cobra.Command {
	f := capture.DefaultFlags()
	var (
		variant string
		dryRun  bool
		raw     bool
		clean   bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Install the iptables rules that send this network namespace's TCP traffic through the sidecar",
		Long: `Installs, in the current network namespace, the nat-table chains istio-init installs
(named MESHLAB_* here): inbound TCP is redirected to the proxy's inbound port, outbound TCP to
its outbound port, and traffic of the proxy's UID/GID is never captured. Re-running replaces the
rules atomically; --clean removes exactly meshlab's chains and jumps. Needs CAP_NET_ADMIN.`,
		Example: `  meshlab mesh init --dry-run
  meshlab mesh init -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -b '*' -d 15090,15021,15020
  meshlab mesh init --clean`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.Parse()
			if err != nil {
				return w.badInput(err)
			}
			v, err := capture.ParseVariant(variant)
			if err != nil {
				return w.badInput(err)
			}
			if raw && !dryRun {
				return w.badInput(fmt.Errorf("--restore-format only applies with --dry-run"))
			}
			action := capture.ActionInstall
			if clean {
				action = capture.ActionCleanup
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if dryRun {
				return printCapturePlan(ctx, cmd, cfg, v, action, raw)
			}
			log := w.logger()
			used, err := capture.Apply(ctx, cfg, v, action, log)
			if err != nil {
				return fmt.Errorf("mesh init (iptables %s): %w", orAuto(used), err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.OutboundPort, "outbound-port", "p", f.OutboundPort, "port captured outbound TCP is redirected to")
	fl.StringVarP(&f.InboundPort, "inbound-port", "z", f.InboundPort, "port captured inbound TCP is redirected to")
	fl.StringVarP(&f.ProxyUID, "proxy-uid", "u", f.ProxyUID, "comma-separated UIDs whose traffic is never captured (the proxy)")
	fl.StringVarP(&f.ProxyGID, "proxy-gid", "g", f.ProxyGID, "comma-separated GIDs whose traffic is never captured (default: the UIDs)")
	fl.StringVarP(&f.Mode, "mode", "m", f.Mode, "interception mode; only REDIRECT")
	fl.StringVarP(&f.IncludeIPRanges, "include-ip-ranges", "i", f.IncludeIPRanges, `outbound destinations captured: "*" or comma-separated CIDRs`)
	fl.StringVarP(&f.ExcludeIPRanges, "exclude-ip-ranges", "x", f.ExcludeIPRanges, "outbound destinations never captured: comma-separated CIDRs")
	fl.StringVarP(&f.IncludeInboundPorts, "include-inbound-ports", "b", f.IncludeInboundPorts, `inbound ports captured: "*", a list, or "" for none`)
	fl.StringVarP(&f.ExcludeInboundPorts, "exclude-inbound-ports", "d", f.ExcludeInboundPorts, `inbound ports not captured when -b is "*"`)
	fl.StringVarP(&f.ExcludeOutboundPorts, "exclude-outbound-ports", "o", f.ExcludeOutboundPorts, "outbound destination ports never captured")
	fl.BoolVar(&f.IPv6, "ipv6", false, "also install the rules for IPv6 (ip6tables)")
	fl.StringVar(&variant, "iptables", "auto", "iptables back end: auto, nft, legacy or system (the plain iptables command)")
	fl.BoolVar(&dryRun, "dry-run", false, "print the commands instead of running them")
	fl.BoolVar(&raw, "restore-format", false, "with --dry-run: print iptables-restore input instead of single commands")
	fl.BoolVar(&clean, "clean", false, "remove meshlab's capture chains and jumps instead of installing them")
	fl.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	return cmd
}

func printCapturePlan(ctx context.Context, cmd *cobra.Command, cfg capture.Config, v capture.Variant,
	action capture.Action, raw bool) error {
	cmds, err := capture.Plan(ctx, cfg, v, action)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if raw {
		for _, c := range cmds {
			fmt.Fprintf(out, "# %s\n%s", c, c.Stdin)
		}
		return nil
	}
	for _, argv := range capture.PlanArgv(cmds) {
		fmt.Fprintln(out, capture.ShellJoin(argv))
	}
	return nil
}

func orAuto(v capture.Variant) string {
	if v == "" {
		return "auto"
	}
	return string(v)
}
