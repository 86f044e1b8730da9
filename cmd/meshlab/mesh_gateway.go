package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshlab/meshlab/internal/kube"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/gateway"
	"github.com/meshlab/meshlab/mesh/identity"
	"github.com/meshlab/meshlab/mesh/proxy"
	"github.com/meshlab/meshlab/mesh/spiffe"
	"github.com/meshlab/meshlab/mesh/telemetry"
	"github.com/meshlab/meshlab/mesh/xds"
)

func init() { registerIn("mesh", newMeshGatewayCmd) }

func newMeshGatewayCmd(g *globalOptions) *cobra.Command {
	var opts gateway.Options
	var inCluster bool
	var kubeconfig, labels string
	tracing := config.Tracing{SamplePercent: 100}
	var listen []string
	var sec gatewayIdentity
	cmd := &cobra.Command{
		Use:   "gateway (--config FILE... | --kube [--kubeconfig FILE])",
		Short: "Run the proxy as an ingress gateway honouring Istio Gateways and their bound VirtualServices",
		Long: `Serves every HTTP port of the Istio Gateways whose selector matches the gateway's labels
(default istio=ingressgateway), routing by the VirtualServices bound to them (spec.gateways).
With --config the Gateways, routing and a meshlab Registry come from files, re-read on change;
with --kube they come from the cluster (--kubeconfig, found as every command finds it: in a
pod, the service account).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if inCluster == (len(opts.ConfigFiles) > 0) {
				return badInput(errors.New("give either --config files or --kube"))
			}
			var err error
			if opts.Labels, err = parseLabels(labels); err != nil {
				return badInput(err)
			}
			if opts.Listen, err = parseListen(listen); err != nil {
				return badInput(err)
			}
			level := slog.LevelInfo
			if g.verbose > 0 {
				level = slog.LevelDebug
			}
			if tracing.SamplePercent < 0 || tracing.SamplePercent > 100 {
				return badInput(fmt.Errorf("--sample-percent %v: want 0..100", tracing.SamplePercent))
			}
			opts.Tracing = &tracing
			if opts.Namespace == "" {
				opts.Namespace = os.Getenv("POD_NAMESPACE")
			}
			// Istio-named metrics on --metrics-addr, as a sidecar's: the gateway's calls are the
			// graph's entry edges, and Prometheus scrapes the port its pod declares.
			reg := prometheus.NewRegistry()
			m, err := telemetry.NewMetrics(reg)
			if err != nil {
				return fmt.Errorf("mesh gateway: metrics: %w", err)
			}
			opts.Telemetry = proxy.NewTelemetry(m, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if sec.mtls {
				ids, conn, err := sec.manager(opts.Namespace, opts.Logger)
				if err != nil {
					return badInput(err)
				}
				defer conn.Close()
				opts.Certs = ids
				go func() { _ = ids.Run(ctx) }()
			}
			if !inCluster {
				gw, err := gateway.New(opts)
				if err != nil {
					return badInput(err)
				}
				return gw.Run(ctx)
			}
			cfg, err := loadCluster(cmd, kubeconfig, "")
			if err != nil {
				return err
			}
			return gateway.RunInCluster(ctx, cfg.REST, opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.ConfigFiles, "config", nil, "file with Gateways, VirtualServices, DestinationRules and a meshlab Registry (repeatable)")
	f.BoolVar(&inCluster, "kube", false, "take Gateways, routing and services from the cluster")
	addKubeconfigFlag(f, &kubeconfig)
	f.StringVar(&labels, "labels", "", "the gateway's labels as k=v,k=v (default istio=ingressgateway,app=meshlab-ingressgateway)")
	f.StringArrayVar(&listen, "listen", nil, "PORT=ADDR: listen for the Gateway server PORT on ADDR instead of :PORT (repeatable)")
	f.StringVar(&tracing.ZipkinURL, "zipkin-url", "", "where the gateway reports its spans, e.g. http://zipkin.meshlab-system:9411/api/v2/spans (default: nowhere)")
	f.Float64Var(&tracing.SamplePercent, "sample-percent", 100, "share of requests the gateway traces; sidecars follow its decision")
	f.StringVar(&opts.HealthAddr, "health-addr", "", "readiness listener (default :15021)")
	f.StringVar(&opts.MetricsAddr, "metrics-addr", "", "Prometheus listener (default :15090)")
	f.StringVar(&opts.Namespace, "namespace", "", "the gateway's own namespace, its identity in metrics and with --mtls in its certificate (default $POD_NAMESPACE, else default)")
	sec.register(f)
	cmd.AddCommand(newMeshGatewayInstallCmd())
	return cmd
}

// gatewayIdentity is the gateway's workload identity: a certificate from the control plane's CA
// for its ServiceAccount, with which it originates mutual TLS to meshed backends.
type gatewayIdentity struct {
	mtls                    bool
	ca, root, token, td, sa string
	ttl                     time.Duration
}

func (g *gatewayIdentity) register(f *pflag.FlagSet) {
	f.BoolVar(&g.mtls, "mtls", false, "get a workload certificate from the CA at --ca and originate mutual TLS to meshed backends")
	f.StringVar(&g.ca, "ca", "", "with --mtls: the control plane's CA address (host:15012)")
	f.StringVar(&g.root, "ca-root-cert", "", "with --mtls: the mesh root to verify the CA with (TLS); without it the connection is plaintext")
	f.StringVar(&g.token, "token", "", "with --mtls: the projected ServiceAccount token (audience meshlab-ca)")
	f.StringVar(&g.td, "trust-domain", spiffe.DefaultTrustDomain, "with --mtls: the trust domain")
	f.StringVar(&g.sa, "service-account", "", "with --mtls: the gateway's ServiceAccount")
	f.DurationVar(&g.ttl, "cert-ttl", 0, "with --mtls: the certificate lifetime to ask for (0: the CA's 24h)")
}

// manager is the identity of ServiceAccount g.sa in namespace ns.
func (g *gatewayIdentity) manager(ns string, log *slog.Logger) (*identity.Manager, io.Closer, error) {
	if g.ca == "" || g.sa == "" {
		return nil, nil, errors.New("--mtls needs --ca and --service-account")
	}
	if ns == "" {
		return nil, nil, errors.New("--mtls needs --namespace (or $POD_NAMESPACE)")
	}
	var root []byte
	if g.root != "" {
		var err error
		if root, err = os.ReadFile(g.root); err != nil {
			return nil, nil, fmt.Errorf("--ca-root-cert: %w", err)
		}
	}
	var manager atomic.Pointer[identity.Manager]
	conn, err := xds.Dial(g.ca, root, identity.CertificateOf(&manager))
	if err != nil {
		return nil, nil, err
	}
	m, err := identity.New(identity.Options{Conn: conn, ID: spiffe.ID{TrustDomain: g.td, Namespace: ns, ServiceAccount: g.sa},
		TokenPath: g.token, TTL: g.ttl, Root: root, Logger: log})
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("--mtls: %w", err)
	}
	manager.Store(m)
	return m, conn, nil
}

func newMeshGatewayInstallCmd() *cobra.Command {
	var kubeconfig string
	var o gateway.ManifestOptions
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "install [--kubeconfig FILE] [--image IMAGE]",
		Short: "Deploy the ingress gateway (Deployment meshlab-ingressgateway, NodePort 30080) with server-side apply",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Image == "" {
				o.Image = "meshlab.local/meshlab:" + version
				o.PullPolicy = "Never"
			}
			c, _, err := connectCluster(cmd, kubeconfig, "")
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			objs := gateway.Manifest(o)
			if _, err := c.Apply(ctx, objs); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "waiting up to %s for %s to roll out...\n", timeout, gateway.DeploymentName)
			return kube.WaitRollouts(ctx, c.Kube, kube.Workloads(objs), kube.WaitOptions{Timeout: timeout, Log: slog.Default()})
		},
	}
	f := cmd.Flags()
	addKubeconfigFlag(f, &kubeconfig)
	f.StringVar(&o.Namespace, "namespace", "meshlab-system", "namespace of the gateway")
	f.StringVar(&o.Image, "image", "", "meshlab image (default meshlab.local/meshlab:<version>, side-loaded, pull policy Never)")
	f.IntVar(&o.NodePort, "node-port", gateway.DefaultNodePort, "NodePort for the gateway's port 8080")
	f.DurationVar(&timeout, "timeout", 3*time.Minute, "how long the rollout may take")
	return cmd
}

func parseLabels(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--labels: %q is not k=v", kv)
		}
		out[k] = v
	}
	return out, nil
}

func parseListen(specs []string) (map[uint16]string, error) {
	out := map[uint16]string{}
	for _, s := range specs {
		p, addr, ok := strings.Cut(s, "=")
		n, err := strconv.ParseUint(p, 10, 16)
		if !ok || err != nil || n == 0 || addr == "" {
			return nil, fmt.Errorf("--listen %q: want PORT=ADDR, e.g. 8080=127.0.0.1:18080", s)
		}
		out[uint16(n)] = addr
	}
	return out, nil
}
