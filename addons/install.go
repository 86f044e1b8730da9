package addons

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// DefaultTimeout bounds one install or upgrade, including waiting for the pods to be ready.
const DefaultTimeout = 5 * time.Minute

// maxHistory keeps a few revisions to roll back to without letting Secrets pile up.
const maxHistory = 5

// Installer installs, upgrades and removes addons through one Helm action configuration (the
// lab's kubeconfig, the namespace, Secrets as release storage).
type Installer struct {
	cfg       *action.Configuration
	namespace string
	timeout   time.Duration
}

// NewInstaller wraps an initialised Helm configuration. Use NewConfiguration for a cluster.
func NewInstaller(cfg *action.Configuration, namespace string, timeout time.Duration) *Installer {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Installer{cfg: cfg, namespace: namespace, timeout: timeout}
}

// Apply installs the addon when it has no release yet and upgrades it otherwise, waiting until
// its resources are ready. A failed install or upgrade is rolled back (atomic), so the cluster is
// left as it was and a re-run starts clean.
func (in *Installer) Apply(ctx context.Context, name string, values map[string]any) (*release.Release, error) {
	c, err := Chart(name)
	if err != nil {
		return nil, err
	}
	hist := action.NewHistory(in.cfg)
	hist.Max = 1
	_, err = hist.Run(name)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		install := action.NewInstall(in.cfg)
		install.ReleaseName = name
		install.Namespace = in.namespace
		install.CreateNamespace = true
		install.Wait = true
		install.Atomic = true
		install.Timeout = in.timeout
		rel, err := install.RunWithContext(ctx, c, values)
		if err != nil {
			return nil, fmt.Errorf("addon %s: install (rolled back): %w", name, err)
		}
		return rel, nil
	case err != nil:
		return nil, fmt.Errorf("addon %s: read release history: %w", name, err)
	}
	upgrade := action.NewUpgrade(in.cfg)
	upgrade.Namespace = in.namespace
	upgrade.Wait = true
	upgrade.Atomic = true
	upgrade.Timeout = in.timeout
	upgrade.MaxHistory = maxHistory
	upgrade.CleanupOnFail = true
	rel, err := upgrade.RunWithContext(ctx, name, c, values)
	if err != nil {
		return nil, fmt.Errorf("addon %s: upgrade (rolled back to the previous revision): %w", name, err)
	}
	return rel, nil
}

// Remove uninstalls the addon's release; a release that does not exist is not an error.
func (in *Installer) Remove(name string) error {
	un := action.NewUninstall(in.cfg)
	un.Wait = true
	un.Timeout = in.timeout
	un.IgnoreNotFound = true
	if _, err := un.Run(name); err != nil {
		return fmt.Errorf("addon %s: uninstall: %w", name, err)
	}
	return nil
}

// History returns the addon's release revisions, newest last.
func (in *Installer) History(name string) ([]*release.Release, error) {
	h, err := action.NewHistory(in.cfg).Run(name)
	if err != nil {
		return nil, fmt.Errorf("addon %s: history: %w", name, err)
	}
	return h, nil
}
