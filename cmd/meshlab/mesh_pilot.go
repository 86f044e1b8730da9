package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/pilot"
	"github.com/meshlab/meshlab/mesh/pilot/authn"
	"github.com/meshlab/meshlab/mesh/pilot/filereg"
	"github.com/meshlab/meshlab/mesh/pilot/kubereg"
	"github.com/meshlab/meshlab/mesh/pilot/server"
	"github.com/meshlab/meshlab/mesh/pilot/trustpub"
	"github.com/meshlab/meshlab/mesh/spiffe"
	"github.com/meshlab/meshlab/mesh/xds/xdsnames"
)

func init() {
	registerIn("mesh", newMeshPilotCmd)
}

// Where `mesh install` mounts the CAs: the user's own (Istio's cacerts Secret) first, then the
// root generated at install.
var defaultCADirs = []string{"/etc/cacerts", "/var/lib/meshlab/mesh-ca"}

// newMeshPilotCmd is `meshlab mesh pilot`: the control plane.
func newMeshPilotCmd(g *globalOptions) *cobra.Command {
	var (
		opts         pilot.Options
		registry     string
		kubeconfig   string
		files        []string
		caDirs       []string
		plaintextXDS bool
	)
	cmd := &cobra.Command{
		Use:   "pilot --registry file --config FILE...",
		Short: "Run the control plane: xDS and the CA over TLS on 15012 (15010 plaintext without Kubernetes), metrics on 15014",
		Long: `Runs meshlab's control plane. It renders the mesh's routing per proxy into xDS v3 resources
(listeners, routes, clusters, endpoints) and serves them over ADS; sidecars started with
'meshlab mesh proxy --xds ADDR' take their config from it. Pushes are debounced (100 ms quiet,
1 s at most); 'meshlab mesh status' lists every proxy as SYNCED, STALE or NACKED.

It is also the mesh's CA (Istio's IstioCertificateService): sidecars send a CSR for their
SPIFFE ID, spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/SERVICE-ACCOUNT, and get a 24 h certificate.
The CA is the first --ca-dir holding an Istio-style bundle (ca-cert.pem, ca-key.pem,
cert-chain.pem, root-cert.pem).

With --registry kubernetes, xDS and the CA are served over TLS on --secure-grpc only, and every
sidecar is authenticated with its pod's projected ServiceAccount token (TokenReview, audience
meshlab-ca): a proxy gets its own pod's config and its own ServiceAccount's certificate, whatever
it claims. --plaintext-xds also serves unauthenticated xDS (never certificates) on --grpc.
The trust anchor is kept in the meshlab-ca-root-cert ConfigMap of every namespace.

With --registry file (no Kubernetes: local labs) the mesh is read from the --config files
(Registry, VirtualService, DestinationRule, PeerAuthentication, RouteRule documents;
docs/proxy-config.md), which are watched, and xDS and the CA are served in plaintext on --grpc:
there is nothing to check a claim against, so a sidecar is who it says. Without a --ca-dir
bundle a root is made in memory for the run.`,
		Example: `  meshlab mesh pilot --registry file --config registry.yaml --config destination-rule-all.yaml --config routes.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if g.verbose > 0 {
				level = slog.LevelDebug
			}
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			if err := spiffe.ValidateTrustDomain(opts.TrustDomain); err != nil {
				return badInput(fmt.Errorf("--trust-domain: %w", err))
			}
			root, err := loadCA(caDirs, opts.Logger)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			switch registry {
			case "file":
				if len(files) == 0 {
					return badInput(errors.New("--registry file needs at least one --config file"))
				}
				if errors.Is(err, ca.ErrNoBundle) {
					opts.Logger.Warn("mesh pilot: no CA bundle in --ca-dir; using a root made in memory for this run", "dirs", caDirs)
					root, err = ca.New(ca.Options{CommonName: "meshlab mesh root CA (in memory)"})
				}
				if err != nil {
					return err
				}
				opts.CA = root
				opts.SecureAddr = "" // plaintext only: nothing to authenticate against
				opts.Registry = &filereg.Registry{Files: files, Logger: opts.Logger}
			case "kubernetes":
				cfg, cerr := loadCluster(cmd, kubeconfig, "") // in a pod: the service account's config
				if cerr != nil {
					return cerr
				}
				if err != nil {
					return fmt.Errorf("mesh pilot: the mesh CA (meshlab mesh install mounts one): %w", err)
				}
				reg, err := kubereg.New(cfg.REST, kubereg.Options{Log: opts.Logger, TrustDomain: opts.TrustDomain, Credentials: true})
				if err != nil {
					return err
				}
				core, err := kubernetes.NewForConfig(cfg.REST)
				if err != nil {
					return fmt.Errorf("mesh pilot: %w", err)
				}
				opts.Registry, opts.CA = reg, root
				opts.Auth = authn.NewTokenReviewer(core, xdsnames.TokenAudience)
				if !plaintextXDS {
					opts.GRPCAddr = ""
				}
				pub := &trustpub.Publisher{Client: core, RootPEM: root.RootPEM(), Log: opts.Logger}
				go func() {
					if err := pub.Run(ctx); err != nil {
						opts.Logger.Error("mesh pilot: publishing the trust anchor", "err", err)
					}
				}()
			default:
				return badInput(fmt.Errorf("--registry %q: want file or kubernetes", registry))
			}
			return pilot.Run(ctx, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&registry, "registry", "file", "where the mesh comes from: file or kubernetes")
	addKubeconfigFlag(fl, &kubeconfig)
	fl.StringArrayVar(&files, "config", nil, "config file for --registry file (repeatable)")
	fl.StringVar(&opts.GRPCAddr, "grpc", server.DefaultGRPCAddr, "plaintext xDS listen address (with --registry kubernetes only with --plaintext-xds)")
	fl.StringVar(&opts.SecureAddr, "secure-grpc", ":15012", "xDS and CA over TLS, authenticated (--registry kubernetes)")
	fl.BoolVar(&plaintextXDS, "plaintext-xds", false, "with --registry kubernetes, also serve unauthenticated xDS (no certificates) on --grpc")
	fl.StringVar(&opts.DebugAddr, "debug", server.DefaultDebugAddr, "metrics and /debug/status listen address")
	fl.StringArrayVar(&caDirs, "ca-dir", defaultCADirs, "directory holding the mesh CA (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem); the first that holds one is used")
	fl.StringVar(&opts.TrustDomain, "trust-domain", spiffe.DefaultTrustDomain, "trust domain of the SPIFFE IDs the CA signs")
	fl.StringArrayVar(&opts.ServingNames, "serving-name", []string{"meshlab-pilot.meshlab-system.svc", "meshlab-pilot.meshlab-system.svc.cluster.local",
		"meshlab-pilot.meshlab-system", "meshlab-pilot"}, "DNS name (or IP) of the secure port's certificate (repeatable)")
	return cmd
}

// loadCA takes the first directory that holds a CA bundle; ca.ErrNoBundle when none does.
func loadCA(dirs []string, log *slog.Logger) (*ca.CA, error) {
	for _, d := range dirs {
		c, err := ca.LoadBundleDir(d, ca.Options{})
		if errors.Is(err, ca.ErrNoBundle) {
			continue
		}
		if err != nil {
			return nil, err
		}
		log.Info("mesh pilot: CA", "dir", d, "signing", c.Certificate().Subject.String(), "root", c.Root().Subject.String(),
			"root_expires", c.Root().NotAfter)
		return c, nil
	}
	return nil, fmt.Errorf("%w (looked in %v)", ca.ErrNoBundle, dirs)
}
