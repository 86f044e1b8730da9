package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshlab/meshlab/mesh/ca"
	"github.com/meshlab/meshlab/mesh/crds"
	"github.com/meshlab/meshlab/mesh/inject"
	"github.com/meshlab/meshlab/mesh/install"
)

func init() {
	registerIn("mesh", newMeshInstallCmd)
	registerIn("mesh", newMeshUninstallCmd)
	registerIn("mesh", newMeshValidationCmd)
}

func newMeshInstallCmd(g *globalOptions) *cobra.Command {
	var (
		kubeconfig, image, pull string
		dryRun                  bool
		timeout                 time.Duration
	)
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install the mesh in a cluster: CRDs, meshlab-system, RBAC, control plane, webhooks",
		Long: `Applies, with server-side apply (so running it again converges), the CRDs of VirtualService,
DestinationRule (networking.istio.io v1, v1beta1, v1alpha3), PeerAuthentication (security.istio.io v1,
v1beta1) and RouteRule (config.istio.io/v1alpha2),
the meshlab-system namespace, RBAC, the meshlab-pilot Deployment (control plane and CA over TLS on
15012, metrics on 15014, injection webhook, validation webhook) and Service, the webhook CA (kept in
Secret meshlab-ca, reused by later installs), the mesh's root CA (Secret meshlab-mesh-ca, likewise
kept; a cacerts Secret with your own CA, Istio's way, takes its place) and the mutating and
validating webhook registrations.
The image must be on every node: 'meshlab up' side-loads it. --dry-run prints the manifests.`,
		Example: `  meshlab mesh install --kubeconfig ~/.meshlab/labs/lab/admin.conf
  meshlab mesh install --dry-run > meshlab.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := install.Options{Image: image, ImagePullPolicy: corev1.PullPolicy(pull)}
			switch o.ImagePullPolicy {
			case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
			default:
				return badInput(fmt.Errorf("--image-pull-policy %q: want Always, IfNotPresent or Never", pull))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if dryRun {
				return printInstall(cmd, o)
			}
			c, _, err := connectCluster(cmd, kubeconfig, "")
			if err != nil {
				return err
			}
			if o.CACertPEM, o.CAKeyPEM, err = install.EnsureCA(ctx, c.Kube); err != nil {
				return err
			}
			var plugged bool
			if o.MeshCA, plugged, err = install.EnsureMeshCA(ctx, c.Kube); err != nil {
				return err
			}
			if plugged {
				fmt.Fprintf(cmd.OutOrStdout(), "using your mesh CA from Secret %s/%s\n", install.Namespace, install.PluggedCASecret)
			}
			objs, err := install.Render(o)
			if err != nil {
				return err
			}
			if err := install.CheckTakeover(ctx, c, objs); err != nil {
				return err
			}
			applied, err := install.Apply(ctx, c, objs)
			for _, a := range applied {
				fmt.Fprintf(cmd.OutOrStdout(), "applied %s\n", a.Object)
			}
			return err
		},
	}
	fl := cmd.Flags()
	addKubeconfigFlag(fl, &kubeconfig)
	fl.StringVar(&image, "image", inject.Image(version), "meshlab image of the control plane and the injected sidecars")
	fl.StringVar(&pull, "image-pull-policy", string(corev1.PullIfNotPresent), "Always, IfNotPresent or Never (side-loaded images: IfNotPresent or Never)")
	fl.BoolVar(&dryRun, "dry-run", false, "print the manifests (with a fresh CA) instead of applying them")
	fl.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return cmd
}

// printInstall renders with a new CA: a dry run must not need the cluster.
func printInstall(cmd *cobra.Command, o install.Options) error {
	root, err := ca.New(ca.Options{CommonName: "meshlab webhook CA"})
	if err != nil {
		return err
	}
	o.CACertPEM = root.CertPEM()
	if o.CAKeyPEM, err = root.KeyPEM(); err != nil {
		return err
	}
	if o.MeshCA, err = ca.NewBundle(ca.Options{}); err != nil {
		return err
	}
	objs, err := install.Render(o)
	if err != nil {
		return err
	}
	return install.WriteYAML(cmd.OutOrStdout(), objs)
}

func newMeshUninstallCmd(_ *globalOptions) *cobra.Command {
	var (
		kubeconfig string
		purge      bool
		timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove what 'meshlab mesh install' applied (CRDs and routing only with --purge)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := connectCluster(cmd, kubeconfig, "")
			if err != nil {
				return err
			}
			// The CA's content does not matter for deletion; any renders the same object names.
			objs, err := install.Render(install.Options{CACertPEM: []byte("-"), CAKeyPEM: []byte("-"),
				MeshCA: ca.Bundle{CACert: []byte("-"), CAKey: []byte("-"), RootCert: []byte("-")}})
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out := cmd.OutOrStdout()
			kept := func(what string) {
				fmt.Fprintf(out, "kept %s: it lacks meshlab's label %s=%s\n", what, install.PartOfLabel, install.PartOfValue)
			}
			deleted, err := install.Uninstall(ctx, c, objs, install.UninstallOptions{Purge: purge, Kept: kept})
			for _, d := range deleted {
				fmt.Fprintf(out, "deleted %s\n", d)
			}
			return err
		},
	}
	fl := cmd.Flags()
	addKubeconfigFlag(fl, &kubeconfig)
	fl.BoolVar(&purge, "purge", false, "also delete the CRDs, and with them every VirtualService, DestinationRule and RouteRule (only CRDs labelled as meshlab's)")
	fl.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
	return cmd
}

// newMeshValidationCmd is `meshlab mesh validation`: the validating webhook for the CRDs, run
// in the control-plane pod beside the injector, with a certificate from the same CA.
func newMeshValidationCmd(g *globalOptions) *cobra.Command {
	var listen, caDir, service, namespace string
	cmd := &cobra.Command{
		Use:   "validation",
		Short: "Serve the validating admission webhook for VirtualService, DestinationRule and RouteRule",
		Long: `Serves admission.k8s.io/v1 AdmissionReviews on https://LISTEN/validate and refuses resources the
meshlab proxy cannot apply, naming the resource and the field (the checks of 'meshlab mesh proxy
--config'). The certificate is issued at start by the CA in --ca-dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if caDir == "" {
				return badInput(errors.New("--ca-dir is required: the apiserver trusts that CA (caBundle)"))
			}
			root, err := ca.LoadOrCreate(caDir, ca.Options{CommonName: "meshlab webhook CA"})
			if err != nil {
				return err
			}
			leaf, err := root.Issue(ca.Request{DNSNames: serviceNames(service, namespace), Server: true})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return badInput(fmt.Errorf("--listen %s: %w", listen, err))
			}
			level := slog.LevelInfo
			if g.verbose > 0 {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return crds.Serve(ctx, ln, leaf.TLS, crds.NewValidator(log), log)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", fmt.Sprintf(":%d", crds.DefaultValidatorPort), "address to serve HTTPS on")
	fl.StringVar(&caDir, "ca-dir", "", "directory holding ca.crt and ca.key (required)")
	fl.StringVar(&service, "service", install.Name, "name of the Service in front of the webhook (certificate DNS names)")
	fl.StringVar(&namespace, "namespace", install.Namespace, "namespace of that Service")
	return cmd
}
