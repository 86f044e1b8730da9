package sidecarcmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/proxy"
	"github.com/meshlab/meshlab/mesh/telemetry"
	"github.com/meshlab/meshlab/mesh/xds"
)

// ProxyCommand is the sidecar: `meshlab mesh proxy` and `meshlab-proxy proxy`.
func ProxyCommand(w Wiring) *cobra.Command {
	var (
		opts        proxy.Options
		allowRoot   bool
		dump        bool
		originalDst string
		xdsAddr     string
		podLabels   string
		concurrency int
		gcPercent   int
		sec         securityFlags
	)
	cmd := &cobra.Command{
		Use:   "proxy --config FILE [--config FILE...]",
		Short: "Run the sidecar proxy (outbound 15001, inbound 15006, health 15021, metrics 15090)",
		Long: `Runs meshlab's sidecar. Its routing comes from the --config files, loaded in order: a meshlab
Proxy document (who this sidecar is), a Registry document (services, VIPs, endpoints) and Istio
VirtualService/DestinationRule (or legacy RouteRule) documents as they are. The files are
watched; a change is applied atomically, or rejected with a log line keeping the old config.
docs/proxy-config.md describes the format. Runs as UID/GID 1337, which the capture rules exempt.`,
		Example: `  meshlab mesh proxy --config proxy.yaml --config registry.yaml --config virtual-service-all-v1.yaml
  meshlab mesh proxy --config registry.yaml --config routes.yaml --dump`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(opts.ConfigFiles) == 0 && xdsAddr == "" {
				return w.badInput(errors.New("at least one --config file (or --xds ADDR) is required"))
			}
			if dump {
				return dumpProxyConfig(cmd, opts.ConfigFiles, w)
			}
			if err := proxy.CheckIdentity(allowRoot); err != nil {
				return w.badInput(err)
			}
			if concurrency > 0 {
				runtime.GOMAXPROCS(concurrency)
			}
			if pct, ok := gcTarget(cmd.Flags().Changed("gc-percent"), gcPercent, os.Getenv("GOGC")); ok {
				debug.SetGCPercent(pct)
			}
			if originalDst != "" {
				ap, err := netip.ParseAddrPort(originalDst)
				if err != nil {
					return w.badInput(fmt.Errorf("--original-dst: %w", err))
				}
				opts.OriginalDst = func(*net.TCPConn) (netip.AddrPort, error) { return ap, nil }
			}
			opts.Logger = w.logger()
			reg := prometheus.NewRegistry()
			m, err := telemetry.NewMetrics(reg)
			if err != nil {
				return fmt.Errorf("mesh proxy: metrics: %w", err)
			}
			opts.Telemetry = proxy.NewTelemetry(m, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			var ident xds.Identity
			var certs *workloadCerts
			if xdsAddr != "" {
				if ident, err = xds.LoadIdentity(opts.ConfigFiles, os.Getenv, podLabels); err != nil {
					return w.badInput(err)
				}
				opts.External = true
				if certs, err = sec.setUp(xdsAddr, ident.Proxy.Namespace, os.Getenv, opts.Logger); err != nil {
					return w.badInput(err)
				}
				if certs.identity != nil {
					opts.Certs = certs.identity
				}
			} else if sec.mtls {
				return w.badInput(errors.New("--mtls needs --xds: the certificate comes from the control plane's CA"))
			}
			p, err := proxy.New(opts)
			if err != nil {
				return w.badInput(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			go func() {
				// Once the listeners are up, start-up is over: see releaseStartupPages.
				if _, err := p.Addr(ctx, "outbound"); err != nil {
					return
				}
				n, err := releaseStartupPages()
				opts.Logger.Debug("mesh proxy: released start-up pages of the executable", "bytes", n, "err", err)
			}()
			if xdsAddr != "" {
				return runWithXDS(ctx, p, xds.Options{Addr: xdsAddr, Proxy: ident.Proxy, Tracing: ident.Tracing, Apply: p.ApplySnapshot, Logger: opts.Logger}, certs)
			}
			return p.Run(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.ConfigFiles, "config", nil, "routing config file (repeatable; later files override earlier ones)")
	fl.BoolVar(&dump, "dump", false, "print the compiled routing table and exit")
	fl.StringVar(&xdsAddr, "xds", "", "take the routing config from the control plane at ADDR (host:15010) instead of the files; the files (if any) then give only the Proxy identity, else POD_NAME, POD_NAMESPACE, INSTANCE_IP do")
	fl.StringVar(&podLabels, "labels", "", "with --xds: the pod's labels as k=v,k=v (default $POD_LABELS)")
	sec.register(fl)
	fl.IntVar(&concurrency, "concurrency", 0, "threads that run the proxy (GOMAXPROCS; Istio's proxy concurrency); 0 keeps Go's default, the CPUs available")
	// Why 200 and not Go's 100: on the two-hop benchmark the collections were most of the p99 tail
	// (each one stops the world twice and takes a CPU from the other processes for its mark), and
	// a sidecar's live heap is a few MiB, so tripling the interval between collections costs
	// about 3.5 MiB per sidecar (RSS 18 → 22 MiB) and took the added p99 from 0.65 to 0.54 ms.
	fl.IntVar(&gcPercent, "gc-percent", 200, "garbage collector target (Go's GOGC: heap growth in percent between collections; -1 turns the collector off); the GOGC variable wins when this flag is not given")
	fl.BoolVar(&allowRoot, "allow-root", false, "allow running as root (tests without capture rules only)")
	fl.StringVar(&opts.OutboundAddr, "outbound", proxy.DefaultOutboundAddr, "outbound listener address")
	fl.StringVar(&opts.InboundAddr, "inbound", proxy.DefaultInboundAddr, "inbound listener address")
	fl.StringVar(&opts.HealthAddr, "health", proxy.DefaultHealthAddr, "readiness listener address (/healthz/ready)")
	fl.StringVar(&opts.MetricsAddr, "metrics", proxy.DefaultMetricsAddr, "Prometheus listener address (/stats/prometheus)")
	fl.DurationVar(&opts.DrainTimeout, "drain-timeout", 5*time.Second, "how long in-flight requests may finish after SIGTERM")
	fl.DurationVar(&opts.SniffTimeout, "sniff-timeout", time.Second, "how long to wait for a client's first bytes before treating a connection as TCP")
	fl.DurationVar(&opts.ReloadInterval, "reload-interval", time.Second, "how often the config files are checked for changes")
	fl.IntVar(&opts.MaxConnections, "max-connections", 16384, "open downstream connections per listener beyond which new ones are refused")
	fl.StringVar(&originalDst, "original-dst", "", "treat every accepted connection as sent to ADDR:PORT instead of asking SO_ORIGINAL_DST (benchmarks and tests without iptables)")
	_ = fl.MarkHidden("original-dst")
	return cmd
}

func dumpProxyConfig(cmd *cobra.Command, files []string, w Wiring) error {
	snap, err := config.Load(files...)
	if err != nil {
		return w.badInput(err)
	}
	t, err := config.Compile(snap)
	if err != nil {
		return w.badInput(err)
	}
	return t.Dump(cmd.OutOrStdout())
}

// runWithXDS runs the proxy, its xDS client and its certificate manager together, over one
// connection to the control plane; they stop with the proxy.
func runWithXDS(ctx context.Context, p *proxy.Proxy, o xds.Options, certs *workloadCerts) error {
	defer certs.conn.Close()
	o.Conn, o.TokenPath = certs.conn, certs.tokenPath
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 2)
	go func() { done <- xds.Run(ctx, o) }()
	waiting := 1
	if certs.identity != nil {
		waiting++
		go func() { done <- certs.identity.Run(ctx) }()
	}
	err := p.Run(ctx)
	cancel()
	for ; waiting > 0; waiting-- {
		err = errors.Join(err, <-done)
	}
	return err
}

// gcTarget decides the collector's target: the flag's value when it was given or when GOGC is not
// set (the flag's default then), and nothing (Go's own reading of GOGC stands) otherwise.
func gcTarget(flagGiven bool, flag int, gogc string) (int, bool) {
	if flagGiven || gogc == "" {
		return flag, true
	}
	return 0, false
}
