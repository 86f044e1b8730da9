package verify

import (
	"os"
	"path/filepath"
	"testing"
)

// TestClusterLabSkipsAddonsNotInstalled: an addon the lab does not install gets no URL, so its
// checks are skipped rather than failed; nil Addons checks them all.
func TestClusterLabSkipsAddonsNotInstalled(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	const cfg = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://10.9.0.2:6443"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	lab, err := NewClusterLab(ClusterOptions{Kubeconfig: kc, Addons: []string{"jaeger", "prometheus"}})
	if err != nil {
		t.Fatal(err)
	}
	if lab.GrafanaURL != "" || lab.TracingURL != "http://10.9.0.2:30001" || lab.PrometheusURL != "http://10.9.0.2:30003" {
		t.Errorf("grafana %q tracing %q prometheus %q", lab.GrafanaURL, lab.TracingURL, lab.PrometheusURL)
	}
	all, err := NewClusterLab(ClusterOptions{Kubeconfig: kc})
	if err != nil {
		t.Fatal(err)
	}
	if all.GrafanaURL == "" || all.TracingURL == "" || all.PrometheusURL == "" {
		t.Errorf("nil Addons must check every addon: %+v", all)
	}
}
