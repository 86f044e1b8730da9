package addons

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestPrometheusConfigPassesPromtool checks the rendered scrape config with Prometheus's own
// validator (promtool from Debian's prometheus package).
func TestPrometheusConfigPassesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("needs promtool (apt package prometheus; .ci/run installs it)")
	}
	vals, err := defaultSettings().Values(Prometheus)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := Render(context.Background(), Prometheus, Namespace, vals)
	if err != nil {
		t.Fatal(err)
	}
	var config string
	for _, doc := range strings.Split(manifest, "\n---\n") {
		var cm struct {
			Kind string            `json:"kind"`
			Data map[string]string `json:"data"`
		}
		if err := yaml.Unmarshal([]byte(doc), &cm); err == nil && cm.Kind == "ConfigMap" && cm.Data["prometheus.yml"] != "" {
			config = cm.Data["prometheus.yml"]
		}
	}
	if config == "" {
		t.Fatal("no prometheus.yml in the rendered ConfigMap")
	}
	// Debian builds Prometheus without Kubernetes service discovery, so its promtool rejects
	// kubernetes_sd_configs. Swap in a static target: the relabelling and everything else is
	// still checked. (The lab's own Prometheus image is built with Kubernetes discovery.)
	sd := regexp.MustCompile(`kubernetes_sd_configs:\n(\s+)- role: pod`)
	if !sd.MatchString(config) {
		t.Fatalf("the pod discovery block moved; update this test:\n%s", config)
	}
	config = sd.ReplaceAllString(config, "static_configs:\n${1}- targets: [127.0.0.1:15090]")
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "config", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}
