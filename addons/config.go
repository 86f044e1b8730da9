package addons

import (
	"fmt"
	"log/slog"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// NewConfiguration builds a Helm action configuration for a kubeconfig file and namespace, with
// releases stored as Secrets (Helm's default driver) so `helm history` shows the same releases.
func NewConfiguration(kubeconfig, namespace string, log *slog.Logger) (*action.Configuration, error) {
	if log == nil {
		log = slog.Default()
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &namespace
	cfg := new(action.Configuration)
	logf := func(format string, v ...any) { log.Debug(fmt.Sprintf(format, v...), "component", "helm") }
	if err := cfg.Init(flags, namespace, "secret", logf); err != nil {
		return nil, fmt.Errorf("helm configuration for %s: %w", kubeconfig, err)
	}
	return cfg, nil
}
