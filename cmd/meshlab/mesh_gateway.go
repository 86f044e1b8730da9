package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshlab/meshlab/bookinfo/deploy"
	"github.com/meshlab/meshlab/mesh/config"
	"github.com/meshlab/meshlab/mesh/gateway"
	"github.com/meshlab/meshlab/mesh/identity"
	"github.com/meshlab/meshlab/mesh/spiffe"
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
with --kube they come from the cluster (in-cluster credentials, or --kubeconfig).`,
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
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if sec.mtls {
				m, conn, err := sec.manager(opts.Logger)
				if err != nil {
					return badInput(err)
				}
				defer conn.Close()
				opts.Certs = m
				go func() { _ = m.Run(ctx) }()
			}
			if !inCluster {
				gw, err := gateway.New(opts)
				if err != nil {
					return badInput(err)
				}
				return gw.Run(ctx)
			}
			cfg, err := restConfig(kubeconfig)
			if err != nil {
				return badInput(err)
			}
			return gateway.RunInCluster(ctx, cfg, opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.ConfigFiles, "config", nil, "file with Gateways, VirtualServices, DestinationRules and a meshlab Registry (repeatable)")
	f.BoolVar(&inCluster, "kube", false, "take Gateways, routing and services from the cluster")
	f.StringVar(&kubeconfig, "kubeconfig", "", "with --kube: kubeconfig (default: in-cluster credentials)")
	f.StringVar(&labels, "labels", "", "the gateway's labels as k=v,k=v (default istio=ingressgateway,app=meshlab-ingressgateway)")
	f.StringArrayVar(&listen, "listen", nil, "PORT=ADDR: listen for the Gateway server PORT on ADDR instead of :PORT (repeatable)")
	f.StringVar(&tracing.ZipkinURL, "zipkin-url", "", "where the gateway reports its spans, e.g. http://zipkin.meshlab-system:9411/api/v2/spans (default: nowhere)")
	f.Float64Var(&tracing.SamplePercent, "sample-percent", 100, "share of requests the gateway traces; sidecars follow its decision")
	f.StringVar(&opts.HealthAddr, "health-addr", "", "readiness listener (default :15021)")
	f.StringVar(&opts.MetricsAddr, "metrics-addr", "", "Prometheus listener (default :15090)")
	sec.register(f)
	cmd.AddCommand(newMeshGatewayInstallCmd())
	return cmd
}

// gatewayIdentity is the gateway's workload identity: a certificate from the control plane's CA
// for its ServiceAccount, with which it originates mutual TLS to meshed backends.
type gatewayIdentity struct {
	mtls                               bool
	ca, root, token, td, sa, namespace string
	ttl                                time.Duration
}

func (g *gatewayIdentity) register(f *pflag.FlagSet) {
	f.BoolVar(&g.mtls, "mtls", false, "get a workload certificate from the CA at --ca and originate mutual TLS to meshed backends")
	f.StringVar(&g.ca, "ca", "", "with --mtls: the control plane's CA address (host:15012)")
	f.StringVar(&g.root, "ca-root-cert", "", "with --mtls: the mesh root to verify the CA with (TLS); without it the connection is plaintext")
	f.StringVar(&g.token, "token", "", "with --mtls: the projected ServiceAccount token (audience meshlab-ca)")
	f.StringVar(&g.td, "trust-domain", spiffe.DefaultTrustDomain, "with --mtls: the trust domain")
	f.StringVar(&g.sa, "service-account", "", "with --mtls: the gateway's ServiceAccount")
	f.StringVar(&g.namespace, "namespace", "", "with --mtls: the gateway's namespace (default $POD_NAMESPACE)")
	f.DurationVar(&g.ttl, "cert-ttl", 0, "with --mtls: the certificate lifetime to ask for (0: the CA's 24h)")
}

func (g *gatewayIdentity) manager(log *slog.Logger) (*identity.Manager, io.Closer, error) {
	if g.ca == "" || g.sa == "" {
		return nil, nil, errors.New("--mtls needs --ca and --service-account")
	}
	ns := g.namespace
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	var root []byte
	if g.root != "" {
		var err error
		if root, err = os.ReadFile(g.root); err != nil {
			return nil, nil, fmt.Errorf("--ca-root-cert: %w", err)
		}
	}
	conn, err := xds.Dial(g.ca, root)
	if err != nil {
		return nil, nil, err
	}
	m, err := identity.New(identity.Options{Conn: conn, ID: spiffe.ID{TrustDomain: g.td, Namespace: ns, ServiceAccount: g.sa},
		TokenPath: g.token, TTL: g.ttl, Root: root, Logger: log})
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("--mtls: %w", err)
	}
	return m, conn, nil
}

func newMeshGatewayInstallCmd() *cobra.Command {
	var kubeconfig string
	var o gateway.ManifestOptions
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "install --kubeconfig FILE [--image IMAGE]",
		Short: "Deploy the ingress gateway (Deployment meshlab-ingressgateway, NodePort 30080) with server-side apply",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Image == "" {
				o.Image = "meshlab.local/meshlab:" + version
				o.PullPolicy = "Never"
			}
			c, err := deploy.NewClient(kubeconfig, slog.Default())
			if err != nil {
				return badInput(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			objs := gateway.Manifest(o)
			if err := c.Apply(ctx, objs); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "waiting up to %s for %s to roll out...\n", timeout, gateway.DeploymentName)
			wctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return c.WaitRollouts(wctx, objs[len(objs)-2].GetNamespace(), []string{gateway.DeploymentName})
		},
	}
	f := cmd.Flags()
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the lab")
	f.StringVar(&o.Namespace, "namespace", "meshlab-system", "namespace of the gateway")
	f.StringVar(&o.Image, "image", "", "meshlab image (default meshlab.local/meshlab:<version>, side-loaded, pull policy Never)")
	f.IntVar(&o.NodePort, "node-port", gateway.DefaultNodePort, "NodePort for the gateway's port 8080")
	f.DurationVar(&timeout, "timeout", 3*time.Minute, "how long the rollout may take")
	_ = cmd.MarkFlagRequired("kubeconfig")
	return cmd
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("--kube without --kubeconfig needs in-cluster credentials: %w", err)
		}
		return cfg, nil
	}
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
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
