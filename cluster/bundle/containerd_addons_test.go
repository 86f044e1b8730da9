package bundle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBundlePrometheusImageServesInContainerd runs the bundle's Prometheus image in a real
// containerd the way the chart's pod does: the image's own entrypoint and default arguments,
// the chart's scrape config mounted read-only at /etc/config, the TSDB in the image's /data. The
// container has a network namespace of its own (loopback only), so readiness is asked from
// inside it with the image's promtool.
func TestBundlePrometheusImageServesInContainerd(t *testing.T) {
	dir, m := builtBundle(t)
	ref := m.Versions["image-prometheus"]
	rel, ok := m.Images[ref]
	if !ok {
		t.Fatalf("bundle has no image %s (has %v)", ref, m.Images)
	}
	ctr := realContainerd(t)
	cfgDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cfgDir, "prometheus.yml"), chartPrometheusConfig(t), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := ctr(ctx, "images", "import", "--all-platforms", filepath.Join(dir, rel)); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
	id := fmt.Sprintf("meshlab-prom-%d", time.Now().UnixNano())
	mount := "type=bind,src=" + cfgDir + ",dst=/etc/config,options=rbind:ro"
	logPath := filepath.Join(cfgDir, "prometheus.log")
	if out, err := ctr(ctx, "run", "-d", "--log-uri", "file://"+logPath, "--mount", mount, ref, id); err != nil {
		t.Fatalf("ctr run -d %s: %v\n%s", ref, err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = ctr(ctx, "task", "kill", "-s", "SIGKILL", id)
		for { // the task must be gone before its container can be removed
			if out, err := ctr(ctx, "task", "delete", id); err == nil || strings.Contains(out, "not found") || ctx.Err() != nil {
				break
			}
			time.Sleep(200 * time.Millisecond) // polling interval of a deadline-bound wait
		}
		_, _ = ctr(ctx, "container", "delete", id)
	})
	for i := 0; ; i++ {
		out, err := ctr(ctx, "task", "exec", "--exec-id", fmt.Sprintf("ready-%d", i), id,
			"/bin/promtool", "check", "ready", "--url=http://127.0.0.1:9090")
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			logs, _ := os.ReadFile(logPath)
			t.Fatalf("Prometheus in %s never became ready: %v\n%s\nits log:\n%s", ref, err, out, tail(string(logs), 30))
		}
		time.Sleep(500 * time.Millisecond) // polling interval of a deadline-bound wait
	}
	out, err := ctr(ctx, "task", "exec", "--exec-id", "healthy", id,
		"/bin/promtool", "check", "healthy", "--url=http://127.0.0.1:9090")
	if err != nil {
		t.Errorf("promtool check healthy: %v\n%s", err, out)
	}
}
