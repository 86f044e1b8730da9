package addons

import (
	"fmt"
	"log/slog"

	"helm.sh/helm/v3/pkg/action"

	"github.com/meshlab/meshlab/internal/kube"
)

// NewConfiguration builds a Helm action configuration for the cluster kube.Load found and a
// namespace, with releases stored as Secrets (Helm's default driver) so `helm history` shows
// the same releases.
func NewConfiguration(cluster *kube.Config, namespace string, log *slog.Logger) (*action.Configuration, error) {
	if log == nil {
		log = slog.Default()
	}
	cfg := new(action.Configuration)
	logf := func(format string, v ...any) { log.Debug(fmt.Sprintf(format, v...), "component", "helm") }
	if err := cfg.Init(cluster.Getter(namespace), namespace, "secret", logf); err != nil {
		return nil, fmt.Errorf("helm configuration for %s: %w", cluster.Source, err)
	}
	return cfg, nil
}
