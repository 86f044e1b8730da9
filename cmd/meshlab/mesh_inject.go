package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/inject"
)

func init() {
	registerIn("mesh", newMeshInjectCmd)
	registerIn("mesh", newMeshWebhookCmd)
	registerIn("mesh", newMeshWaitCmd)
}

// injectFlags are the options both inject and webhook take.
type injectFlags struct {
	image  string
	xds    string
	native string // true | false (inject); auto | true | false (webhook)
}

func (f *injectFlags) add(cmd *cobra.Command, nativeDefault, nativeHelp string) {
	fl := cmd.Flags()
	fl.StringVar(&f.image, "image", inject.Image(version), "meshlab image for the proxy and init containers")
	fl.StringVar(&f.xds, "xds", inject.DefaultXDSAddress, "control plane xDS address the proxy dials (--xds of mesh proxy)")
	fl.StringVar(&f.native, "native-sidecar", nativeDefault, nativeHelp)
}

func (f *injectFlags) options() inject.Options {
	o := inject.DefaultOptions(version)
	o.Image, o.XDSAddress = f.image, f.xds
	return o
}

func parseBool(flag, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badInput(fmt.Errorf("--%s: %q is not true or false", flag, v))
}

// newMeshInjectCmd is `meshlab mesh inject -f FILE|-`: istioctl kube-inject's job.
func newMeshInjectCmd(g *globalOptions) *cobra.Command {
	var f injectFlags
	var file string
	cmd := &cobra.Command{
		Use:   "inject -f FILE|-",
		Short: "Print manifests with meshlab's sidecar added to every pod template",
		Long: `Reads multi-document YAML (or a kind: List) and prints it with the capture init container,
the proxy and the scrape annotations added to every Pod, Deployment, StatefulSet, DaemonSet,
ReplicaSet, Job and CronJob. Other documents are printed unchanged, in order. Pods opted out
(sidecar.istio.io/inject or meshlab.dev/inject "false"), host-network pods and pods already
injected are left alone; injecting twice changes nothing. The webhook injects the same way.`,
		Example: `  meshlab mesh inject -f bookinfo.yaml | kubectl apply -f -
  kubectl get deploy reviews-v1 -o yaml | meshlab mesh inject -f - --native-sidecar=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return badInput(errors.New("-f FILE (or - for standard input) is required"))
			}
			o := f.options()
			native, err := parseBool("native-sidecar", f.native)
			if err != nil {
				return err
			}
			o.NativeSidecar = native
			in, err := readInput(cmd.InOrStdin(), file)
			if err != nil {
				return badInput(err)
			}
			out, outcomes, err := inject.Manifest(file, in, o)
			if err != nil {
				return badInput(err)
			}
			for _, oc := range outcomes {
				if oc.Skip != "" || g.verbose > 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), oc)
				}
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	f.add(cmd, "true", "inject the proxy as a native sidecar (needs Kubernetes ≥ 1.29); false: first container with a postStart wait")
	cmd.Flags().StringVarP(&file, "filename", "f", "", "manifest file, or - for standard input")
	return cmd
}

func readInput(stdin io.Reader, file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(file)
}

// newMeshWebhookCmd is `meshlab mesh webhook`: the injector as a mutating admission webhook.
func newMeshWebhookCmd(g *globalOptions) *cobra.Command {
	var (
		f           injectFlags
		listen      string
		caDir       string
		service     string
		namespace   string
		kubeconfig  string
		printConfig bool
	)
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Serve sidecar injection as a mutating admission webhook (TLS, certificate from meshlab's CA)",
		Long: `Serves admission.k8s.io/v1 AdmissionReviews on https://LISTEN/inject and answers pod creations
in namespaces labelled meshlab-injection=enabled (or istio-injection=enabled) with a JSON patch
that adds the sidecar, exactly as 'meshlab mesh inject' does. The serving certificate is issued
at start by the CA kept in --ca-dir (created on first use). --print-config prints the
MutatingWebhookConfiguration, with that CA as caBundle, instead of serving. With
--native-sidecar=auto the apiserver's version is read once at start.`,
		Example: `  meshlab mesh webhook --print-config --ca-dir /var/lib/meshlab/ca | kubectl apply -f -
  meshlab mesh webhook --ca-dir /var/lib/meshlab/ca --listen :15017`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if caDir == "" {
				return badInput(errors.New("--ca-dir is required: the CA must outlive this process, or the apiserver's caBundle goes stale"))
			}
			root, err := ca.LoadOrCreate(caDir, ca.Options{CommonName: "meshlab webhook CA"})
			if err != nil {
				return err
			}
			if printConfig {
				return printWebhookConfig(cmd.OutOrStdout(), root, service, namespace)
			}
			level := slog.LevelInfo
			if g.verbose > 0 {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			o := f.options()
			if o.NativeSidecar, err = nativeSidecarChoice(cmd, f.native, kubeconfig); err != nil {
				return err
			}
			log.Info("injection mode", "nativeSidecar", o.NativeSidecar, "image", o.Image)
			leaf, err := root.Issue(ca.Request{DNSNames: serviceNames(service, namespace), Server: true})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return badInput(fmt.Errorf("--listen %s: %w", listen, err))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return inject.Serve(ctx, ln, leaf.TLS, inject.NewWebhook(o, log), log)
		},
	}
	f.add(cmd, "auto", "auto: native sidecars when the apiserver is ≥ 1.29; true; false")
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", fmt.Sprintf(":%d", inject.DefaultWebhookPort), "address to serve HTTPS on")
	fl.StringVar(&caDir, "ca-dir", "", "directory holding ca.crt and ca.key (required; created on first use)")
	fl.StringVar(&service, "service", "meshlab-pilot", "name of the Service in front of the webhook (certificate DNS names)")
	fl.StringVar(&namespace, "namespace", "meshlab-system", "namespace of that Service")
	addKubeconfigFlag(fl, &kubeconfig)
	fl.BoolVar(&printConfig, "print-config", false, "print the MutatingWebhookConfiguration and exit")
	return cmd
}

func serviceNames(service, namespace string) []string {
	base := service + "." + namespace
	return []string{base + ".svc", base + ".svc.cluster.local", base, service}
}

func printWebhookConfig(w io.Writer, root *ca.CA, service, namespace string) error {
	cfg, err := inject.MutatingWebhookConfiguration(inject.WebhookConfig{
		ServiceName: service, ServiceNamespace: namespace, CABundle: root.CertPEM(),
	})
	if err != nil {
		return badInput(err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encoding webhook configuration: %w", err)
	}
	_, err = w.Write(y)
	return err
}

// nativeSidecarChoice resolves --native-sidecar; "auto" asks the apiserver once.
func nativeSidecarChoice(cmd *cobra.Command, v, kubeconfig string) (bool, error) {
	if v != "auto" {
		return parseBool("native-sidecar", v)
	}
	c, err := loadCluster(cmd, kubeconfig, "")
	if err != nil {
		return false, fmt.Errorf("--native-sidecar=auto needs the apiserver: %w", err)
	}
	cfg := rest.CopyConfig(c.REST)
	cfg.Timeout = 10 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, fmt.Errorf("apiserver client: %w", err)
	}
	return inject.NativeSidecarsFor(dc)
}

// newMeshWaitCmd is `meshlab mesh wait`: the postStart hook of a proxy injected as a regular
// container, holding the application until the proxy is ready.
func newMeshWaitCmd(_ *globalOptions) *cobra.Command {
	var (
		url      string
		timeout  time.Duration
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "wait",
		Short: "Wait until the sidecar proxy reports ready (the injected postStart hook)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return inject.WaitReady(ctx, nil, url, interval)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&url, "url", fmt.Sprintf("http://127.0.0.1:%d%s", inject.HealthPort, inject.ReadyPath), "readiness URL to poll")
	fl.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	fl.DurationVar(&interval, "interval", 200*time.Millisecond, "time between attempts")
	return cmd
}
