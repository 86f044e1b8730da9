package addons

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// Render returns the manifests the named addon's chart produces with these values, without a
// cluster: the SDK's client-only dry-run, the same rendering an install does. Values that break
// a chart's schema are rejected here with the schema's message.
func Render(ctx context.Context, name, namespace string, values map[string]any) (string, error) {
	c, err := Chart(name)
	if err != nil {
		return "", err
	}
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	install := action.NewInstall(cfg)
	install.ReleaseName = name
	install.Namespace = namespace
	install.ClientOnly = true
	install.DryRun = true
	install.Replace = true
	install.IncludeCRDs = true
	rel, err := install.RunWithContext(ctx, c, values)
	if err != nil {
		return "", fmt.Errorf("addon %s: render: %w", name, err)
	}
	return rel.Manifest, nil
}
